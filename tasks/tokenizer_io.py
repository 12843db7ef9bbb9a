"""Loading a local pretrained tokenizer, shared by both tokenizers (text and pairs), with a one-sentence error."""

from __future__ import annotations

from tasks.errors import LmforgeError


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise LmforgeError(f"{path}: holds no loadable tokenizer ({str(error).splitlines()[0][:120]}); "
                           "set tokenize.pretrained to a folder with tokenizer.json, or null to train one.") from None
