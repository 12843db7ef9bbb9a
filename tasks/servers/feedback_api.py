"""`POST /feedback` on `lmforge serve`: labels for logged answers, recorded as sent by the caller's token (one with
the feedback scope, serve.auth), then checked and appended exactly as `lmforge feedback` does (tasks/feedback.py)."""

# No `from __future__ import annotations`: FastAPI reads the endpoint's `request: Request` annotation at run time.
from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.servers.serving_requests import BadRequest, parse_json, read_body

EXAMPLE = '{"labels": [{"request_id": "...", "label": "..."}]}'


def add_feedback_route(app, params: Params, answer, feed_back) -> None:
    """`feed_back`: tasks.feedback.feed_back, the step's core (handed in: infrastructure imports no step)."""
    from fastapi import Request
    from starlette.concurrency import run_in_threadpool

    @app.post("/feedback")
    async def feedback(request: Request):
        try:
            body = await read_body(request, params.serve.max_body_bytes)
            labels = await run_in_threadpool(read_labels_body, body)
            done = await run_in_threadpool(take_feedback, feed_back, params, labels, sender_of(request))
        except BadRequest as error:
            return answer(error.status, {"error": str(error)})
        except LmforgeError as error:  # an unknown request id, a label outside the set, over feedback.max_share
            return answer(400, {"error": str(error)})
        return answer(200, {"rows": done.rows, "held_for_review": done.held, "sent_by": done.sent_by})


def read_labels_body(body: bytes) -> list[dict]:
    payload = parse_json(body, EXAMPLE)
    labels = payload.get("labels") if isinstance(payload, dict) else None
    if not isinstance(labels, list) or not labels or not all(isinstance(row, dict) for row in labels):
        raise BadRequest(400, f"the JSON must be {EXAMPLE}.")
    return labels


def sender_of(request) -> str:
    """Who sent a request: its token's identity; on loopback without tokens, this machine's account (whoever reaches
    loopback is a user of this machine, as with `lmforge feedback`)."""
    from tasks.core.identity import local_identity

    caller = request.scope.get("state", {}).get("caller")
    return caller.identity if caller is not None else f"{local_identity()} (loopback)"


def take_feedback(feed_back, params: Params, labels: list[dict], sent_by: str):
    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="lmforge-feedback-") as folder:
        path = Path(folder) / "labels.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in labels))
        return feed_back(params, path, sent_by)
