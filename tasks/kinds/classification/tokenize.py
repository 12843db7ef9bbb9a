"""tokenize for classification: a pretrained fast tokenizer or a BERT-style WordPiece learnt from the training texts;
token ids per split beside each row's label."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.core.config import Params

def tokenize_texts(splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None,
                   out: Path) -> tuple[list[str], str]:
    """Unpadded token ids and labels per split, the tokenizer beside them; returns (labels, tokenizer name)."""
    from tasks.training.tokenizer_io import load_tokenizer, train_wordpiece

    texts = splits["train"]["text"].tolist()
    tokenizer = load_tokenizer(pretrained, params.model.trust_remote_code) if pretrained else train_wordpiece(texts, params)
    tokenizer.save_pretrained(str(out / "tokenizer"))
    for name, frame in splits.items():
        # No padding here: batches are padded to their own longest row at training time.
        encoded = tokenizer(frame["text"].tolist(), truncation=True, max_length=params.tokenize.max_length)
        pd.DataFrame({"input_ids": encoded["input_ids"], "label": frame["label"]}).to_parquet(out / f"{name}.parquet")
    labels = params.data.labels or sorted(splits["train"]["label"].dropna().unique().tolist())
    return labels, "wordpiece"
