"""The Prometheus files in ops/prometheus/ as a user loads them: the alert rules and the example config pass promtool's
checks, the rules pass their unit tests, and every alert has a test where it fires and one where it stays quiet.

Without promtool the promtool tests are skipped, unless LMFORGE_REQUIRE_PROMTOOL=1 (set by .ci/run, which installs
Debian's prometheus), where that is a failure.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.conftest import REPO, find_os_tool

OPS = REPO / "ops" / "prometheus"
RULES, RULE_TESTS, CONFIG = OPS / "lmforge-alerts.yml", OPS / "lmforge-alerts.test.yml", OPS / "prometheus.yml"


def find_promtool() -> str:
    return find_os_tool("promtool", "LMFORGE_REQUIRE_PROMTOOL", "prometheus")


@pytest.mark.parametrize("command", [("check", "rules", RULES), ("test", "rules", RULE_TESTS),
                                     ("check", "config", CONFIG)], ids=["check-rules", "test-rules", "check-config"])
def test_promtool_passes(command):
    done = subprocess.run([find_promtool(), *map(str, command)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_fires_and_stays_quiet_in_a_test():
    # A new alert without both cases fails here, so no alert ships whose expression nothing has ever run.
    alerts = [rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
              if "alert" in rule]
    cases = [case for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
             for case in test.get("alert_rule_test", [])]
    fires = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert alerts, f"no alerts in {RULES.name}"
    assert not set(alerts) - fires, f"alerts without a case where they fire: {sorted(set(alerts) - fires)}"
    assert not set(alerts) - quiet, f"alerts without a case where they stay quiet: {sorted(set(alerts) - quiet)}"
