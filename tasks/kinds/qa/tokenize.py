"""tokenize for question answering: (question, context) pairs cut into overlapping windows of the context, each with
the token positions of the answer (as Hugging Face's run_qa example) and what evaluation needs to map logits back to
text: the example it came from and the character offsets of its context tokens."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.kinds.qa.checks import locate_answer

NO_OFFSET = [-1, -1]  # the offsets of a token outside the context (question, specials): never part of an answer
MODEL_KEYS = ("input_ids", "token_type_ids", "start_positions", "end_positions")


def answer_positions(offsets: list, char_start: int, char_end: int) -> tuple[int, int]:
    """Token positions of the answer's first and last token in one window; (0, 0), the [CLS] token, when the answer
    is not wholly inside the window (SQuAD v1 training: such windows learn to point nowhere)."""
    inside = [i for i, offset in enumerate(offsets) if offset[0] >= 0]
    if char_start < 0 or not inside or offsets[inside[0]][0] > char_start or offsets[inside[-1]][1] < char_end:
        return 0, 0
    start = next(i for i in inside if offsets[i][1] > char_start)
    end = next(i for i in reversed(inside) if offsets[i][0] < char_end)
    return start, end


def trim_offset(context: str, offset) -> list[int]:
    """A context token's [start, end) without the spaces around it: byte-level BPE (RoBERTa without trim_offsets,
    ModernBERT) and SentencePiece tokens ("▁Oslo") count the space before a word as theirs, and an answer cut from
    them would start with it. A token of spaces alone keeps an empty span where it starts."""
    start, end = int(offset[0]), int(offset[1])
    while start < end and context[start].isspace():
        start += 1
    while end > start and context[end - 1].isspace():
        end -= 1
    return [start, end] if start < end else [int(offset[0])] * 2


def encode_windows(tokenizer, questions: list[str], contexts: list[str], max_length: int, stride: int,
                   answers: list[str] | None = None, starts: list | None = None) -> pd.DataFrame:
    """One row per window: input_ids, token_type_ids (where the tokenizer gives them), example (the row it came
    from), offsets ([start, end) characters of each context token, NO_OFFSET elsewhere) and, given answers, the
    answer's start_positions and end_positions (its first occurrence when `starts` gives none)."""
    # Segment ids only where the tokenizer names them among its model's inputs (BERT, ELECTRA, DeBERTa-v2): training
    # and every backend then feed the model the same inputs (tasks.kinds.qa.spans.span_inputs).
    segments = "token_type_ids" in tokenizer.model_input_names
    if not questions:  # an empty split (the tokenizer refuses an empty batch)
        return pd.DataFrame(columns=["input_ids", *(["token_type_ids"] if segments else []), "example", "offsets",
                                     *(["start_positions", "end_positions"] if answers is not None else [])])
    try:
        encoded = tokenizer(questions, contexts, truncation="only_second", max_length=max_length, stride=stride,
                            return_overflowing_tokens=True, return_offsets_mapping=True,
                            return_token_type_ids=segments)
    except Exception as error:  # the fast tokenizer's own message names neither key
        raise LmforgeError(f"cannot cut contexts into windows of {max_length} tokens with a stride of {stride} "
                           f"({str(error).splitlines()[0][:120]}); raise tokenize.max_length or lower "
                           "tokenize.stride, which must leave room for the question.") from None
    rows = []
    for i, ids in enumerate(encoded["input_ids"]):
        sequence = encoded.sequence_ids(i)
        example = encoded["overflow_to_sample_mapping"][i]
        offsets = [trim_offset(contexts[example], offset) if sequence[k] == 1 else NO_OFFSET
                   for k, offset in enumerate(encoded["offset_mapping"][i])]
        row = {"input_ids": ids, "example": example, "offsets": offsets}
        if segments:
            row["token_type_ids"] = encoded["token_type_ids"][i]
        if answers is not None:
            answer = answers[example]
            char_start = locate_answer(contexts[example], answer, starts[example] if starts is not None else None)
            row["start_positions"], row["end_positions"] = answer_positions(offsets, char_start,
                                                                            char_start + len(answer))
        rows.append(row)
    return pd.DataFrame(rows)


def tokenize_qa(splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None, out: Path) -> str:
    """The tokenizer (pretrained, or WordPiece learnt on train contexts and questions) saved to out/tokenizer, and
    the windows of every split as out/SPLIT.parquet; returns the tokenizer's name for the cache record."""
    from tasks.training.tokenizer_io import load_tokenizer, train_wordpiece

    train = splits["train"]
    tokenizer = load_tokenizer(pretrained, params.model.trust_remote_code) if pretrained else train_wordpiece(
        train["context"].astype(str).tolist() + train["question"].astype(str).tolist(), params, segment_ids=True)
    tokenizer.save_pretrained(str(out / "tokenizer"))
    settings = params.tokenize
    for name, frame in splits.items():
        starts = frame["answer_start"].tolist() if "answer_start" in frame.columns else None
        windows = encode_windows(tokenizer, frame["question"].astype(str).tolist(), frame["context"].astype(str).tolist(),
                                 settings.max_length, settings.stride, frame["answer"].astype(str).tolist(), starts)
        windows.to_parquet(out / f"{name}.parquet")
    return pretrained or "wordpiece"


def read_windows(tokenized_dir: str | Path, name: str) -> list[dict]:
    """A split's windows as the model's inputs and labels (what Trainer batches); no bookkeeping columns, which the
    model would be handed as unknown arguments."""
    frame = pd.read_parquet(Path(tokenized_dir) / f"{name}.parquet")
    keys = [key for key in MODEL_KEYS if key in frame.columns]
    return [{key: value.tolist() if hasattr(value, "tolist") else value for key, value in zip(keys, values)}
            for values in zip(*(frame[key] for key in keys))]
