"""Model cards on a real MLflow store with a placeholder version: built from the records its steps log, each figure
checked against them, an edited number caught, bad card params refused by name."""

import json

import pytest
from typer.testing import CliRunner

from tasks.card import CARD_JSON, CARD_MD, publish_card, read_card, version_sources
from tasks.model_card.check import check_card
from tasks.core.config import load_params
from tasks.core.errors import LmforgeError
from tasks.registry import tracking
from tests.conftest import REPO

NAME = "unit-card"
EVAL = {"eval_accuracy": 0.95, "eval_f1_macro": 0.9412, "eval_precision_macro": 0.94, "eval_recall_macro": 0.945,
        "eval_f1_good": 0.96, "eval_precision_good": 0.97, "eval_recall_good": 0.95, "eval_f1_bad": 0.9224,
        "eval_precision_bad": 0.91, "eval_recall_bad": 0.94, "eval_rows": 200.0}
INTERVALS = {"level": 0.95, "resamples": 1000, "seed": 13, "rows": 200, "method": "percentile bootstrap over test rows",
             "intervals": {"eval_f1_macro": [0.9081, 0.9702], "eval_accuracy": [0.92, 0.975]}, "missing": ""}
REPORT = {"success": True, "failures": [], "warnings": ["class_rows: 3 rows of bad"], "dropped": {"duplicates": 4},
          "rows": {"train": 800, "validation": 100, "test": 200}, "checks": [], "evaluated": 11}
PROMOTION = {"verdict": "promoted", "reasons": ["first model: it clears every floor (f1_macro 0.9412 >= 0.7000)"],
             "rule": {"primary_metric": "f1_macro"}, "champion_before": None, "champion_after": "1",
             "data_version": "abc.dir", "test_rows": 200, "metrics": {"challenger": {"f1_macro": 0.9412}},
             "baseline": {"checked": True, "name": "majority label 'good'", "primary_metric": "f1_macro",
                          "metrics": {"accuracy": 0.6, "f1_macro": 0.375}, "beaten": True,
                          "reason": "beats the baseline (majority label 'good'): f1_macro 0.9412 > 0.3750"},
             "deltas": {}, "significance": {}}


@pytest.fixture
def version(tmp_path, monkeypatch):
    """Version 1 of unit-card: its run's params (with a card section), metrics, and the files evaluate, validate and
    promote log; no weights (a card never loads the model)."""
    monkeypatch.chdir(tmp_path)
    params = load_params(REPO / "params.yaml", [f"registry.model_name={NAME}", "card.contact=ml-team@example.org"])
    client = tracking.client(params)
    run_id = tracking.start_run(params)
    for path, record in (("evaluation/eval.json", EVAL), ("evaluation/intervals.json", INTERVALS),
                         ("validation/report.json", REPORT), ("promotion/promotion.json", PROMOTION)):
        client.log_dict(run_id, record, path)
    tracking.log_metrics(params, run_id, {"train_train_runtime": 41.5, "train_epoch": 3.0})
    client.create_registered_model(NAME)
    client.create_model_version(NAME, f"{client.get_run(run_id).info.artifact_uri}/model", run_id, tags={
        "task": "classification", "data_version": "abc.dir", "data_source": "builtin:reviews",
        "weights_sha256": "f" * 64, "env_python": "3.11.7", "env_torch_threads": "2"})
    return params, client, run_id


def figure(card: dict, section: str, label: str) -> dict:
    found = next(s for s in card["sections"] if s["title"] == section)
    cells = [*found.get("facts", []), *(c for row in found.get("rows", []) for c in row if isinstance(c, dict))]
    return next(cell for cell in cells if cell["label"] == label)


def test_the_card_shows_the_records_and_checks_itself(version):
    params, _, _ = version
    path = publish_card(params, "1")
    card, markdown = read_card(version_sources(params, "1"))
    assert path.read_text() == markdown and json.loads((path.parent / CARD_JSON).read_text()) == card
    assert check_card(card, markdown, version_sources(params, "1")) == []
    assert figure(card, "Test metrics", "f1_macro") | {} == {
        "label": "f1_macro", "value": 0.9412, "from": "artifact", "name": "evaluation/eval.json", "key": ["eval_f1_macro"]}
    assert "| f1_macro | 0.9412 | 0.9081 | 0.9702 |" in markdown
    assert "| bad | 0.9100 | 0.9400 | 0.9224 |" in markdown  # per class, from evaluate's names
    assert "- **rows dropped, by check**: duplicates: 4" in markdown
    assert "- **contact**: ml-team@example.org" in markdown
    assert "- **baseline**: majority label 'good'\n- **baseline's metrics**: accuracy: 0.6000, f1_macro: 0.3750\n" \
           "- **beats the baseline**: yes" in markdown
    assert figure(card, "Promotion gate", "baseline") | {} == {
        "label": "baseline", "value": "majority label 'good'", "from": "artifact", "name": "promotion/promotion.json",
        "key": ["baseline", "name"]}
    assert "not exported" in markdown and "not checked yet (lmforge reproduce models:/unit-card/1)" in markdown


def test_an_edited_number_in_the_card_or_its_record_fails_the_check(version):
    params, client, run_id = version
    publish_card(params, "1")
    card, markdown = read_card(version_sources(params, "1"))
    edited = markdown.replace("| f1_macro | 0.9412 |", "| f1_macro | 0.9612 |")
    problems = check_card(card, edited, version_sources(params, "1"))
    assert len(problems) == 1 and "| f1_macro | 0.9612 |" in problems[0] and "line" in problems[0], problems
    figure(card, "Data and validation", "test rows")["value"] = 250
    problems = check_card(card, None, version_sources(params, "1"))
    assert problems == ["Data and validation / test rows: the card says 250, the run's file "
                        "validation/report.json['rows']['test'] holds 200"], problems
    # The record changes under the card (a step logged again): the stored card no longer holds.
    client.log_dict(run_id, EVAL | {"eval_accuracy": 0.5}, "evaluation/eval.json")
    card, markdown = read_card(version_sources(params, "1"))
    assert any("accuracy: the card says 0.9500" in p and "holds 0.5000" in p
               for p in check_card(card, markdown, version_sources(params, "1")))


def test_lmforge_card_prints_checks_and_rebuilds(version):
    from cli.app import app

    params, client, run_id = version
    runner = CliRunner()
    where = ["--params", str(REPO / "params.yaml"), "--set", f"registry.model_name={NAME}"]
    shown = runner.invoke(app, ["card", "1", *where])  # none logged yet: built on the spot
    assert shown.exit_code == 0 and "# Model card: unit-card version 1" in shown.stdout, shown.output
    twin = json.loads(runner.invoke(app, ["card", "1", "--json", *where]).stdout)
    assert twin["check"] == {"holds": True, "problems": []} and twin["version"] == "1"
    card, markdown = read_card(version_sources(params, "1"))
    client.log_text(run_id, markdown.replace("| accuracy | 0.9500 |", "| accuracy | 0.9900 |"), f"card/{CARD_MD}")
    broken = runner.invoke(app, ["card", "1", *where])
    assert broken.exit_code == 3 and "disagrees with its records" in broken.stderr, broken.output
    assert runner.invoke(app, ["card", "1", "--rebuild", *where]).exit_code == 0
    missing = runner.invoke(app, ["card", "7", *where])
    assert missing.exit_code == 1 and "unit-card has no version 7" in missing.output


def test_card_params_with_an_unknown_key_are_refused_by_name(tmp_path):
    with pytest.raises(LmforgeError, match=r"card\.audience is not a known key"):
        load_params(REPO / "params.yaml", ["card.audience=everyone"])


def test_a_damaged_card_fails_the_check_instead_of_being_rebuilt(version):
    """Only a version with no card gets one built on the spot; a logged card whose files cannot be read is a finding
    (exit 3, holds false), and --rebuild is how it is replaced."""
    from cli.app import app

    params, client, run_id = version
    publish_card(params, "1")
    client.log_text(run_id, '{"model": "unit-card", "sections": [', f"card/{CARD_JSON}")  # cut short
    runner = CliRunner()
    where = ["--params", str(REPO / "params.yaml"), "--set", f"registry.model_name={NAME}"]
    damaged = runner.invoke(app, ["card", "1", *where])
    assert damaged.exit_code == 3 and "its logged card cannot be read (JSONDecodeError" in damaged.stderr, \
        damaged.output
    assert "# Model card: unit-card version 1" in damaged.stdout  # what its records make of it, shown not logged
    twin = json.loads(runner.invoke(app, ["card", "1", "--json", *where]).stdout)
    assert twin["check"]["holds"] is False and "cannot be read" in twin["check"]["problems"][0], twin["check"]
    assert runner.invoke(app, ["card", "1", "--rebuild", *where]).exit_code == 0
    assert runner.invoke(app, ["card", "1", *where]).exit_code == 0


def test_the_card_checks_the_promotion_tags_against_the_decision_record(version):
    from tasks.registry.decisions import append_decision, check_decisions, read_decisions

    params, client, run_id = version
    client.set_model_version_tag(NAME, "1", "promotion_verdict", "promoted")
    client.set_model_version_tag(NAME, "1", "promotion_by", "local:ana")
    mlflow_version = lambda: client.get_model_version(NAME, "1")  # noqa: E731
    assert "holds no such decision" in check_decisions(client, mlflow_version())[0]
    approval = {"decision": "approved", "by": "mlflow:bo"}
    append_decision(client, params, "1", {"kind": "automatic", "verdict": "promoted", "by": "local:ana",
                                          "approval": approval})
    assert check_decisions(client, mlflow_version()) == ["the decision says 'mlflow:bo' approved it; the decision "
                                                         "record holds no such approval"]
    append_decision(client, params, "1", {"kind": "approval", "by": "mlflow:bo", "decision": "approved"})
    assert check_decisions(client, mlflow_version()) == []
    client.set_model_version_tag(NAME, "1", "promotion_by", "local:mallory")  # a tag edited by hand
    problems = check_decisions(client, mlflow_version())
    assert len(problems) == 1 and "'local:mallory'" in problems[0] and "'local:ana'" in problems[0], problems
    assert [d["kind"] for d in read_decisions(client, NAME, "1")] == ["automatic", "approval"]
    assert any(p.startswith("decision record: ") for p in check_card({"sections": []}, None,
                                                                       version_sources(params, "1")))
