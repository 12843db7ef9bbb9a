"""The one exception lmforge raises for bad input: its message is the sentence the user sees."""

from __future__ import annotations

import os
import re

# user:password@ in any URL (an MLflow tracking URI with basic auth, a DVC remote): never printed, logged or tagged.
_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@'\"]+@", re.IGNORECASE)
# A secret in a query string (?token=..., &sig=...), a bearer token, a Hugging Face token (hf_...) anywhere.
_QUERY_SECRETS = re.compile(r"([?&](?:[a-z_]*token|key|api[_-]?key|sig|signature|secret|password|passwd|pwd|"
                            r"x-amz-signature|x-amz-credential|x-goog-signature)=)[^&\s'\"#]+", re.IGNORECASE)
_BEARER = re.compile(r"(\bbearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{20,}")
_UNANSWERED = re.compile(r"API request to (\w+://[^/\s]+)\S* failed with exception")


class LmforgeError(Exception):
    """Bad input or state, said in one sentence: what, where, and how to fix it."""


def redact(text: str) -> str:
    """The text with every secret it holds replaced by ***: a URL's user:password@, a secret query parameter, a
    bearer token, a Hugging Face token, and the value of HF_TOKEN (or HUGGING_FACE_HUB_TOKEN) where it appears."""
    text = _CREDENTIALS.sub(r"\1***@", text)
    text = _QUERY_SECRETS.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    text = _HF_TOKEN.sub("hf_***", text)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if len(secret := os.environ.get(name, "")) >= 8:  # a short value would blank ordinary words
            text = text.replace(secret, "***")
    return text


def redact_error(error: BaseException, limit: int = 200) -> str:
    """An error's first line (at most `limit` characters), secrets hidden: what a message may quote of an error from
    MLflow or requests, whose text often holds the tracking URI with its credentials."""
    first = next((line for line in str(error).splitlines() if line.strip()), "")
    return redact(first)[:limit] or type(error).__name__  # redacted before cut: a cut URI hides nothing


def redact_values(value):
    """A JSON-like value with every string in it redacted (dict keys kept): for records written to disk."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_values(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_values(item) for item in value]
    return value


def describe_failure(error: BaseException) -> str:
    """What the MLflow run's `error` tag says; Prefect turns SIGTERM into a TerminationSignal without a message."""
    import signal

    if isinstance(getattr(error, "signal", None), int):
        return f"stopped by {signal.Signals(error.signal).name}"
    return redact(str(error) or type(error).__name__)


def explain_unanswered(error: BaseException, during: str = "", kept: str = "") -> LmforgeError | None:
    """An MLflow tracking server that did not answer, as one sentence; None when the error is something else.

    MLflow retries each request (MLFLOW_HTTP_REQUEST_MAX_RETRIES, bounded by configure_runtime) before it raises.
    """
    found = _UNANSWERED.search(str(error))
    if not found:
        return None
    text = str(error)
    why = ("connection refused" if "refused" in text else "timed out" if "timed out" in text.lower()
           else "it answered with server errors" if "error responses" in text else "the request failed")
    tries = 1 + int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7"))
    where = f" during {during}" if during else ""
    after = (f"; the trained model is kept in {kept}: run `lmforge run` again once the server answers and it is "
             "registered without training again") if kept else "; start it, or point registry.tracking_uri " \
                                                               "(or MLFLOW_TRACKING_URI) at one that runs"
    return LmforgeError(f"the MLflow tracking server at {redact(found.group(1))} did not answer{where} ({why}, "
                        f"{tries} tries){after}.")


# A full disk, a quota, a read-only folder, a file size limit: the user can fix each, so each is said, not traced.
_WRITE_ERRNOS = {"ENOSPC", "EDQUOT", "EROFS", "EFBIG"}
# What the writers that do not raise OSError say: torch's zip writer, safetensors (a Rust IoError), others.
_WRITE_TEXTS = ("file write failed", "No space left on device", "Read-only file system", "Disk quota exceeded",
                "StorageFull")


def explain_unwritable(error: BaseException, during: str = "") -> LmforgeError | None:
    """A write that the disk refused (anywhere in the exception's chain), as one sentence; None for anything else.

    torch's checkpoint writer and safetensors raise their own errors, which name the OSError underneath."""
    import errno

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and errno.errorcode.get(seen.errno or 0) in _WRITE_ERRNOS:
            where = f" {seen.filename}" if seen.filename else ""
            return LmforgeError(f"{during or 'lmforge'} could not write{where} ({seen.strerror}): free space there, "
                                "make it writable, or point paths.* at another folder, then run again; a half-written "
                                "checkpoint or model is never picked up.")
        if any(text in str(seen) for text in _WRITE_TEXTS):
            return LmforgeError(f"{during or 'lmforge'} could not write its output ({str(seen).splitlines()[0][-200:]}):"
                                " free space there, make it writable, or point paths.* at another folder, then run "
                                "again; a half-written checkpoint or model is never picked up.")
        seen = seen.__cause__ or seen.__context__
    return None


def explain(error: BaseException, during: str = "", kept: str = "") -> LmforgeError | None:
    """Any failure a user can act on, as one sentence: bad input (already an LmforgeError), a tracking server that
    did not answer, a write the disk refused; None for anything else (a bug: its traceback is the useful part)."""
    if isinstance(error, LmforgeError):
        return error
    return explain_unanswered(error, during, kept) or explain_unwritable(error, during)
