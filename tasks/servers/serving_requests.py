"""What `lmforge serve` accepts: MLflow's scoring formats, within size limits; anything else is one sentence and a 4xx."""

import json

from tasks.core.config import Params


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


async def read_body(request, limit: int) -> bytes:
    """The request's body, refused with 413 as soon as it is known to pass `limit` bytes: from its Content-Length
    before a byte is read, else while it streams in (a client may send no length, or a false one)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"the body has {int(declared)} bytes, more than serve.max_body_bytes ({limit}); send "
                              "a smaller batch.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(413, f"the body passed serve.max_body_bytes ({limit}) while it was read; send a "
                                  "smaller batch.")
    return bytes(body)


def parse_json(body: bytes, example: str):
    """The body's JSON, or one sentence: not UTF-8, not JSON, nested too deep to read."""
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest(400, "the request body is not UTF-8 text; send JSON encoded as UTF-8.") from None
    except RecursionError:
        raise BadRequest(400, "the request body's JSON is nested too deep to read; send e.g. " + example) from None
    except ValueError as error:
        raise BadRequest(400, f"the request body is not valid JSON ({error}); send e.g. {example}") from None


def read_texts(body: bytes, params: Params) -> list[str]:
    """Texts from a scoring request: dataframe_split, dataframe_records, inputs or instances (MLflow's formats); a
    body of another shape is one sentence, never an error inside the model."""
    payload = parse_json(body, '{"inputs": ["a text"]}.')
    try:
        texts = pick_texts(payload, params)
    except (AttributeError, TypeError, IndexError, KeyError, ValueError):
        raise BadRequest(400, "the JSON does not have the shape of MLflow's scoring formats (dataframe_split: "
                              '{"columns": [...], "data": [[...]]}, dataframe_records: [{...}], inputs: [...]); '
                              'send e.g. {"inputs": ["a text"]}.') from None
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise BadRequest(400, "every text must be a JSON string; found another type or a missing value.")
    for index, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (\ud800) JSON lets through: no tokenizer can read it
            raise BadRequest(400, f"text {index} holds a lone surrogate (\\u escape of half a character); send "
                                  "whole characters.") from None
    return texts


def pick_texts(payload, params: Params):
    """The texts of a parsed request in whichever of MLflow's formats it uses (a wrong shape raises Python's own
    errors, which read_texts answers as one sentence)."""
    columns = {"text", "source", params.data.text_column, params.data.source_column}
    if not isinstance(payload, dict):
        raise BadRequest(400, 'the JSON must be an object such as {"inputs": ["a text"]}.')
    if "dataframe_split" in payload:
        split = payload["dataframe_split"] or {}
        names = [name for name in split.get("columns", []) if name in columns]
        if not names:
            raise BadRequest(400, f"dataframe_split has no text column (columns {split.get('columns')}); name it text.")
        at = split["columns"].index(names[0])
        texts = [row[at] for row in split.get("data", [])]
    elif "dataframe_records" in payload:
        records = payload["dataframe_records"] or []
        names = [name for name in columns if records and isinstance(records[0], dict) and name in records[0]]
        if records and not names:
            raise BadRequest(400, "dataframe_records rows have no text field; name it text.")
        texts = [record.get(names[0]) if isinstance(record, dict) else None for record in records]
    elif "inputs" in payload or "instances" in payload:
        found = payload.get("inputs", payload.get("instances"))
        texts = found.get("text", []) if isinstance(found, dict) else found
    else:
        raise BadRequest(400, "the JSON needs one of dataframe_split, dataframe_records, inputs or instances.")
    return texts


def check_batch(texts: list[str], params: Params, parts: int = 1) -> None:
    """`parts`: how many texts the kind joins into one input (its INPUT_KEYS; qa: 2)."""
    limits = params.serve
    if not texts:
        raise BadRequest(400, "the batch is empty; send at least one text.")
    if len(texts) > limits.max_batch:
        raise BadRequest(413, f"{len(texts)} texts are more than serve.max_batch ({limits.max_batch}); split the batch.")
    check_inputs(texts, params, parts)
    longest = max(range(len(texts)), key=lambda i: len(texts[i]))
    if len(texts[longest]) > limits.max_text_chars:
        raise BadRequest(413, f"text {longest} has {len(texts[longest])} characters, more than serve.max_text_chars "
                              f"({limits.max_text_chars}); shorten it.")


def check_inputs(texts: list[str], params: Params, parts: int) -> None:
    """What the kind's model would refuse, refused here as the client's error (400) before the texts join a batch: a
    malformed input must neither fail the batch it shares with others nor count against a canary."""
    from tasks.registry.pyfunc import INPUT_SEPARATOR

    if parts < 2:
        return
    lacking = next((at for at, text in enumerate(texts) if INPUT_SEPARATOR not in text), None)
    if lacking is not None:
        raise BadRequest(400, f"text {lacking} has no '{INPUT_SEPARATOR.strip()}': a {params.task} input is "
                              f"'QUESTION{INPUT_SEPARATOR}CONTEXT'; join each question and its context with it.")


def canary_key(request, canary) -> str | None:
    """The key that pins a caller to one side of a canary. The client's own header only when the project trusts it
    (serve.canary.trust_client_key): otherwise a client could choose the canary and fail it on purpose. Else the
    caller's token, else its address."""
    if canary.trust_client_key:
        return request.headers.get(canary.key)
    caller = request.scope.get("state", {}).get("caller")
    if caller is not None:
        return caller.identity
    return request.client.host if request.client else None
