"""The serving check with real processes: a challenger the rule passes is exported, served by a real `lmforge serve`
on a free 127.0.0.1 port with the backend it will serve on, and sent canned requests before @champion moves; one
that misses the latency budget never becomes champion, and the registry says why."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke, make_project, registry, working_in
from tests.flows.test_overlap import TINY

pytestmark = pytest.mark.flow
NAME = "test-serving"
CHECKED = {"promote": {"serving_check": {"enabled": True, "rows": 8}}, "export": {"enabled": True},
           "registry": {"model_name": NAME}}


def test_a_challenger_is_served_for_real_before_it_becomes_champion(tmp_path):
    from tests.conftest import merge

    root = make_project(tmp_path / "project", merge(TINY, CHECKED))
    with working_in(root):
        # A budget no server meets: the rule passes the first model, the serving check rejects it.
        slow = invoke("run", "--set", "promote.serving_check.p95_ms=0.001")
        assert slow.exit_code == 0 and "rejected: serving check failed: p95 latency" in slow.output, slow.output
        client = registry(root)
        first = client.get_model_version(NAME, "1")
        assert first.tags["promotion_verdict"] == "rejected"
        assert first.tags["promotion_reason"].startswith("serving check failed: p95 latency")
        assert "champion" not in client.get_registered_model(NAME).aliases
        decision = json.loads((root / "data/promotion.json").read_text())
        check = decision["serving_check"]
        # It ran the export made before the check, and its answers were the model's own test outputs.
        assert check["backend"] == "onnx" and check["requests"] == 8 and check["agreement"] == 1.0, check
        assert not check["passed"] and check["p95_ms"] > 0.001 and check["startup_s"] > 0, check
        # The same inputs with the default budget: served, answered alike, promoted.
        fine = invoke("run", "--force")
        assert fine.exit_code == 0 and "promoted" in fine.output, fine.output
        second = json.loads((root / "data/promotion.json").read_text())
        assert second["verdict"] == "promoted" and second["serving_check"]["passed"], second
        assert str(client.get_model_version_by_alias(NAME, "champion").version) == "2"
        card = invoke("card", "2")
        assert card.exit_code == 0 and "- **serving check passed**: yes" in card.stdout, card.output
