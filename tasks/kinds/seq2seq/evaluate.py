"""evaluate for seq2seq: generate on the test split (beam size, max new tokens, length penalty from params),
score with sacreBLEU on detokenized text, METEOR and ROUGE, loss and perplexity under teacher forcing, and a table of samples."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tasks.core.config import Params


def generate(model, tokenizer, decoder, sources: list[str], params: Params, show_progress: bool = False) -> list[str]:
    """Hypotheses of the eager PyTorch model for the sources, in their order (beam size etc. from params.evaluate)."""
    import torch

    from tasks.kinds.seq2seq.languages import forced_start

    settings, start = params.evaluate, forced_start(tokenizer, params)

    def run_batch(batch) -> list:
        with torch.inference_mode():
            return model.generate(**batch, num_beams=settings.num_beams, max_new_tokens=settings.max_new_tokens,
                                  length_penalty=settings.length_penalty, early_stopping=settings.num_beams > 1, **start)
    return translate_batches(tokenizer, decoder, sources, params, run_batch, "pt", show_progress)


def translate_batches(tokenizer, decoder, sources: list[str], params: Params, run_batch, tensors: str,
                      show_progress: bool = False) -> list[str]:
    """Sources to texts with `run_batch` (a tokenized batch of `tensors` type to generated ids), in the sources' order;
    batches of similar length so that padding costs little. Eager PyTorch and ONNX Runtime share it."""
    from tqdm.auto import tqdm

    from tasks.kinds.seq2seq.tokenize import prefix_sources

    texts = prefix_sources(sources, params)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    hyps: dict[int, str] = {}
    for start in tqdm(range(0, len(order), params.evaluate.batch_size), desc="generate", disable=not show_progress):
        chunk = order[start:start + params.evaluate.batch_size]
        batch = tokenizer([texts[i] for i in chunk], truncation=True, max_length=params.tokenize.max_length,
                          padding=True, return_tensors=tensors)
        batch.pop("token_type_ids", None)  # a warm start's BERT tokenizer gives them (all 0); the ONNX encoder takes none
        hyps |= dict(zip(chunk, decoder.batch_decode(run_batch(batch), skip_special_tokens=True)))
    return [hyps[i].strip() for i in range(len(sources))]


def teacher_forced_loss(model, tokenizer, tokenized_dir: str | Path, batch_size: int) -> float:
    """Mean token cross-entropy of the references (no label smoothing): the loss behind perplexity."""
    import torch
    from transformers import DataCollatorForSeq2Seq

    from tasks.kinds.seq2seq.train import read_pairs

    rows = read_pairs(tokenized_dir, "test")
    collate = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100, padding=True)
    total, tokens = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = collate(rows[start:start + batch_size])
            count = int((batch["labels"] != -100).sum())
            total += float(model(**batch).loss) * count
            tokens += count
    return total / max(tokens, 1)


def evaluate_pairs(params: Params, model_dir: str | Path, show_progress: bool = True) -> tuple[dict, list[str]]:
    """The pure core: metrics/eval.json, metrics/samples.json and the sacreBLEU signatures; returns metrics, files."""
    import pandas as pd
    from transformers import AutoModelForSeq2SeqLM

    from tasks.training.loading import load_trained

    from tasks.kinds.seq2seq.meteor import corpus_meteor
    from tasks.kinds.seq2seq.metrics import ROUGE, corpus_scores
    from tasks.kinds.seq2seq.tokenize import load_pair_tokenizers

    test = pd.read_parquet(Path(params.paths.validated) / "test.parquet")
    model = load_trained(AutoModelForSeq2SeqLM, model_dir)
    tokenizer, decoder = load_pair_tokenizers(model_dir, params)
    sources, refs = test["source"].astype(str).tolist(), test["target"].astype(str).tolist()
    hyps = generate(model, tokenizer, decoder, sources, params, show_progress)
    scores = corpus_scores(hyps, refs)
    loss = teacher_forced_loss(model, tokenizer, params.paths.tokenized, params.evaluate.batch_size)
    metrics = {"eval_bleu": scores["bleu"], "eval_chrf": scores["chrf"], "eval_meteor": corpus_meteor(hyps, refs),
               **{f"eval_{name}": scores[name] for name in ROUGE}, "eval_loss": round(loss, 6),
               "eval_perplexity": round(math.exp(min(loss, 50)), 4), "eval_rows": float(len(refs))}
    out = Path(params.paths.metrics)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))
    (out / "sacrebleu.json").write_text(json.dumps({k: v for k, v in scores.items() if k.endswith("signature")}, indent=1))
    samples = [{"source": s, "reference": r, "hypothesis": h}
               for s, r, h in list(zip(sources, refs, hyps))[:params.evaluate.samples]]
    (out / "samples.json").write_text(json.dumps(samples, indent=1, ensure_ascii=False))
    from tasks.registry.predictions import write_predictions

    write_predictions(params, model_dir, hyps)
    return metrics, [str(out / name) for name in ("eval.json", "sacrebleu.json", "samples.json")]
