"""The family matrix's runs: for each architecture family a task kind takes, a tiny checkpoint (tests/families.py) laid
out in the Hub's cache as `lmforge-tests/tiny-<family>`, named by that id in a params file of its own, and run
through `lmforge run`: resolved and pinned, trained a few steps, evaluated, registered, exported with its parity
checks and served by a real `lmforge serve` (the gate's serving check) before it is promoted. The test files
(tests/flows/test_families_*.py) read what each run left: the parity records, the serving check, the monitor's
embeddings of its model, and a rebuild of one family per kind."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.conftest import invoke, make_project, registry, working_in
from tests.families import cached_checkpoint, commit_sha, install_in_hub_cache

# Random weights learn little in a few steps: the matrix checks that every family goes through every step, not a
# metric (each kind's flow test holds its threshold).
GATE = {"floors": {}, "beat_baseline": False, "significance": {"test": "none"},
        "serving_check": {"enabled": True, "rows": 4}}
SHARED = {"train": {"max_steps": 12, "epochs": 1, "warmup_steps": 2, "learning_rate": 0.001},
          "evaluate": {"samples": 2}, "promote": GATE, "export": {"enabled": True}}


def repo_id(family: str) -> str:
    return f"lmforge-tests/tiny-{family}"


def params_name(kind: str, family: str) -> str:
    return f"{kind}-{family.replace('_', '-')}"


def commit_project(root: Path) -> None:
    def git(*args):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)

    git("add", "-A")
    git("-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "the project")


def run_families(scratch: Path, monkeypatch, kind: str, base: dict, families: dict[str, dict]) -> dict:
    """One project for the kind; each family's params file (base + its own keys) run once. Returns
    {family: (result of `lmforge run`, params file name)} and the project root under "root"."""
    from tests.hub_fixtures import point_hub

    hf_home = scratch / "hf"
    point_hub(monkeypatch, hf_home)
    root = make_project(scratch / "project")
    checkpoints = scratch / "checkpoints"
    # An entry may run another family's checkpoint with keys of its own (llama-lora: {"checkpoint": "llama", ...}).
    checkpoint = {family: extra.get("checkpoint", family) for family, extra in families.items()}
    for family in set(checkpoint.values()):
        folder = cached_checkpoint(family, checkpoints)
        install_in_hub_cache(folder, hf_home, repo_id(family), sha=commit_sha(folder, family))
    found: dict = {"root": root}
    with working_in(root):
        for family, extra in families.items():
            name = params_name(kind, family)
            own = {key: value for key, value in extra.items() if key != "checkpoint"}
            params = merge_all(SHARED, base, {"task": kind, "model": {"pretrained": repo_id(checkpoint[family])},
                                              "registry": {"model_name": f"lmforge-{name}"}}, own)
            (root / f"{name}.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        commit_project(root)  # what `lmforge reproduce` checks out: the params files are tracked
        for family in families:
            name = params_name(kind, family)
            found[family] = (invoke("run", "--params", f"{name}.yaml"), name)
    return found


def merge_all(*layers: dict) -> dict:
    out: dict = {}
    for layer in layers:
        for key, value in layer.items():
            out[key] = merge_all(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_parity(root: Path, name: str) -> dict:
    return json.loads((root / "data" / name / "export" / "parity.json").read_text())


def read_decision(root: Path, name: str) -> dict:
    return json.loads((root / "data" / name / "promotion.json").read_text())


def check_family(runs: dict, family: str, backends: dict[str, str], may_fail: set[str] = frozenset()) -> None:
    """The run went through; the version names its Hub commit; each backend's export ended as expected (those in
    `may_fail` passed or failed their parity check, said in the record); the serving check answered on the backend
    it will serve on; the monitor embeds texts with the model."""
    result, name = runs[family]
    root = runs["root"]
    assert result.exit_code == 0, result.output[-4000:]
    version = registry(root).get_model_version(f"lmforge-{name}", "1")
    assert version.tags["hub.model.pretrained"].startswith(f"{repo_id(family.removesuffix('-lora'))}@"), version.tags
    parity = read_parity(root, name)
    statuses = {backend: parity[backend]["status"] for backend in backends}
    expected = {backend: statuses[backend] if backend in may_fail and statuses[backend] in ("passed", "failed")
                else status for backend, status in backends.items()}
    assert statuses == expected, {backend: parity[backend] for backend in backends}
    check = read_decision(root, name)["serving_check"]
    assert check["passed"], check
    served = "onnx" if backends.get("onnx") == "passed" else "eager"
    assert check["backend"] == served, check
    record_verdicts(name, parity)
    from tasks.monitoring.signals import embed_texts

    vectors = embed_texts(root / "data" / name / "model", ["a short text", "another, longer text than that"])
    assert vectors.shape[0] == 2 and vectors.shape[1] > 0 and abs(vectors).sum() > 0


def record_verdicts(name: str, parity: dict) -> None:
    """Each backend's verdict and figure, a line per run in $LMFORGE_TEST_ARTIFACTS/family-matrix.jsonl: the matrix's
    table, as CI measured it."""
    import os

    from tests.conftest import REPO

    folder = Path(os.environ.get("LMFORGE_TEST_ARTIFACTS", REPO / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    verdicts = {backend: {key: value for key, value in result.items() if key in (
                    "status", "agreement", "identical", "bleu_diff", "reason", "error")}
                for backend, result in parity.items() if isinstance(result, dict) and backend != "sha256"}
    with (folder / "family-matrix.jsonl").open("a") as out:
        out.write(json.dumps({"run": name, **verdicts}) + "\n")


def check_rebuild(runs: dict, family: str) -> None:
    """`lmforge reproduce` of the family's version: identical, from the commit its lineage names."""
    root = runs["root"]
    _, name = runs[family]
    with working_in(root):
        result = invoke("reproduce", f"models:/lmforge-{name}/1", "--params", f"{name}.yaml", "--json")
    found = json.loads(result.stdout) if result.stdout.strip().startswith("{") else result.output
    assert result.exit_code == 0 and found["verdict"] == "identical", found
