"""Language codes, for the families whose tokenizer marks each text's language (mBART-50's MBart50Tokenizer, and any
tokenizer with its `lang_code_to_id`, `src_lang` and `tgt_lang`): model.source_lang and model.target_lang set the
tokenizer's codes ("en_XX text </s>" for a source, the target's code first for a target) and the target's code is
the first generated token (forced_bos_token_id), as transformers' own mBART-50 translation examples do."""

from __future__ import annotations

from tasks.core.config import Params
from tasks.core.errors import LmforgeError

KEYS = ("source_lang", "target_lang")


def language_codes(tokenizer) -> list[str]:
    """The codes the tokenizer knows; empty for a tokenizer that marks no languages."""
    return list(getattr(tokenizer, "lang_code_to_id", None) or {})


def set_languages(tokenizer, params: Params):
    """The tokenizer with the codes of params.model set, each checked against the tokenizer's own."""
    codes, named = language_codes(tokenizer), {key: getattr(params.model, key) for key in KEYS}
    if not codes:
        given = [key for key, code in named.items() if code]
        if given:
            raise LmforgeError(f"model.{given[0]}: this checkpoint's tokenizer ({type(tokenizer).__name__}) marks no "
                               "language codes; remove the key.")
        return tokenizer
    known = f"{type(tokenizer).__name__}: {', '.join(codes[:6])}, ..."
    for key, code in named.items():
        if not code:
            raise LmforgeError(f"model.{key} is needed: this checkpoint's tokenizer marks each text's language with a "
                               f"code ({known}).")
        if code not in codes:
            raise LmforgeError(f"model.{key}: {code!r} is not a language code of this checkpoint's tokenizer ({known}).")
    tokenizer.src_lang, tokenizer.tgt_lang = named["source_lang"], named["target_lang"]
    return tokenizer


def forced_start(tokenizer, params: Params) -> dict[str, int]:
    """generate's forced_bos_token_id: the target's code where the family needs one, else nothing (the model's own
    generation config applies, e.g. BART-large's forced <s>)."""
    code = params.model.target_lang
    return {"forced_bos_token_id": int(tokenizer.convert_tokens_to_ids(code))} if code and language_codes(tokenizer) else {}
