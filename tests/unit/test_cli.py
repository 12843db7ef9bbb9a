"""The command line's conventions: --version, bare `lmforge` is help (exit 0), and help never imports torch."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

from tests.conftest import REPO, invoke


def test_version_prints_the_installed_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"lmforge {version('lmforge')}"


def test_bare_lmforge_prints_help_and_exits_0():
    result = invoke()
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "run" in result.output


def test_help_does_not_import_torch():
    # A fresh interpreter: this test process may have imported torch already. An OTLP endpoint set: traces start in
    # the commands that run something, never in help (no OpenTelemetry SDK either).
    probe = ("import sys\nfrom typer.testing import CliRunner\nfrom cli.app import app\n"
             "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
             "print('torch' in sys.modules, 'opentelemetry.sdk' in sys.modules)")
    env = os.environ | {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True,
                         env=env).stdout
    assert out.strip() == "False False"


def test_the_older_spelling_of_an_option_still_works_and_names_the_new_one(project):
    """`serve --model-version N` was the only way to pin a version; it now reads as `--model N` and says so."""
    old, new = invoke("serve", "--model-version", "7"), invoke("serve", "--model", "7")
    assert old.exit_code == new.exit_code == 1, old.output
    assert "note: --model-version is now --model" in old.stderr and "--model-version" not in new.stderr
    assert "has no version 7 to serve" in old.stderr and "has no version 7 to serve" in new.stderr, new.stderr
