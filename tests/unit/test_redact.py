"""One redaction for every printed or stored text: a URL's password, secret query parameters, bearer and Hugging
Face tokens, and HF_TOKEN's own value."""

from __future__ import annotations

import pytest

from tasks.core.errors import redact


@pytest.mark.parametrize("text, kept, hidden", [
    ("mlflow at https://ana:s3cret@mlflow.example.org/ failed", "https://***@mlflow.example.org/", "s3cret"),
    ("GET https://data.example.org/x.csv?token=abc123def&part=2 failed", "?token=***&part=2", "abc123def"),
    ("s3 https://b.s3.amazonaws.com/k?X-Amz-Signature=deadbeef99&X-Amz-Credential=AKIAX", "X-Amz-Signature=***",
     "deadbeef99"),
    ("https://x.org/f?api_key=k-123&sig=zzz", "?api_key=***&sig=***", "k-123"),
    ("Authorization: Bearer eyJhbGciOi.payload.sig", "Bearer ***", "eyJhbGciOi"),
    ("401 for hf_AbCdEfGhIjKlMnOpQrStUvWx on the Hub", "hf_***", "hf_AbCdEfGhIjKlMnOpQrStUvWx"),
])
def test_secrets_in_urls_headers_and_tokens_are_hidden(text, kept, hidden):
    shown = redact(text)
    assert kept in shown and hidden not in shown, shown


def test_the_value_of_hf_token_is_hidden_wherever_it_appears(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "my-private-hub-token")
    assert redact("the Hub refused my-private-hub-token (401)") == "the Hub refused *** (401)"
    monkeypatch.setenv("HF_TOKEN", "abc")  # too short to tell from a word: left alone
    assert redact("abc def") == "abc def"


def test_ordinary_text_is_left_as_it_is():
    text = "data.source=https://example.org/reviews.csv?part=2 has 3 rows; keyboard token counts"
    assert redact(text) == text


SECRET_URI = "https://ana:s3cret@mlflow.example.org"


def test_an_error_quoted_in_a_message_is_its_first_line_redacted_before_it_is_cut():
    from tasks.core.errors import redact_error

    error = RuntimeError(f"API request to {SECRET_URI}/api/2.0/x failed\nTraceback ...")
    assert redact_error(error) == "API request to https://***@mlflow.example.org/api/2.0/x failed"
    # Cut inside the credentials: the cut text must not keep what redaction would have hidden.
    assert "s3cret" not in redact_error(RuntimeError(f"at {SECRET_URI}"), limit=len("at https://ana:s3c"))
    assert redact_error(RuntimeError("")) == "RuntimeError"


def test_a_run_record_never_stores_a_credential(tmp_path):
    import json

    from tasks.core.run_record import read_run_record, write_run_record

    write_run_record(tmp_path, {"run_id": "abc", "tracking": SECRET_URI, "nested": {"urls": [f"{SECRET_URI}/x"]},
                                "steps": 3})
    assert "s3cret" not in (tmp_path / "run.json").read_text()
    assert read_run_record(tmp_path) == {"run_id": "abc", "tracking": "https://***@mlflow.example.org",
                                         "nested": {"urls": ["https://***@mlflow.example.org/x"]}, "steps": 3}
    json.loads((tmp_path / "run.json").read_text())


def test_lmforge_models_names_the_tracking_uri_without_its_credentials(project, monkeypatch):
    import cli.registry
    from tasks.registry import tracking
    from tests.conftest import invoke

    monkeypatch.setenv("MLFLOW_TRACKING_URI", SECRET_URI)
    monkeypatch.setattr(tracking, "client", lambda params: object())
    monkeypatch.setattr(cli.registry, "describe_versions", lambda client, params: [])
    empty = invoke("models")
    assert empty.exit_code == 0 and "https://***@mlflow.example.org" in empty.output, empty.output
    record = {"version": "1", "aliases": ["champion"], "created": "2025-01-01T00:00:00", "metrics": {},
              "data_version": None, "promotion": "promoted", "reason": "", "rolled_back": None, "rebuilt": "-"}
    monkeypatch.setattr(cli.registry, "describe_versions", lambda client, params: [record])
    listed = invoke("models")
    assert listed.exit_code == 0 and "s3cret" not in empty.output + listed.output and "***@" in listed.output


def test_a_model_that_cannot_be_loaded_is_said_without_the_credentials(monkeypatch):
    import mlflow
    from mlflow.exceptions import MlflowException

    from tasks.core.config import Params
    from tasks.core.errors import LmforgeError
    from tasks.registry import registered, tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", SECRET_URI)
    monkeypatch.setattr(tracking, "client", lambda params: None)

    def refuse(uri):
        raise MlflowException(f"API request to {SECRET_URI}/api/2.0/mlflow/registered-models/alias failed")

    monkeypatch.setattr(mlflow.pyfunc, "load_model", refuse)
    with pytest.raises(LmforgeError) as raised:
        registered.load_registered(Params.model_validate({}), "models:/m@champion")
    assert "s3cret" not in str(raised.value) and "https://***@mlflow.example.org" in str(raised.value)
