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
