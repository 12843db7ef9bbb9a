"""evaluate for causal_lm: perplexity on the packed test and validation blocks, the unigram baseline on the same test
tokens, and greedy and sampled continuations of the first words of test texts (samples.json, and one greedy
continuation per test row as the predictions)."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.core.config import Params


def load_causal_lm(folder: str | Path):
    """(model in eval mode, tokenizer) of a model folder: a plain or merged model, or a LoRA adapter applied to the
    base it names (tasks/decoders/adapters.py)."""
    from tasks.decoders.adapters import load_decoder
    from tasks.kinds.causal_lm.tokenize import prepare_tokenizer
    from tasks.training.loading import load_trained_tokenizer

    model = load_decoder(folder)
    return model, prepare_tokenizer(load_trained_tokenizer(folder))


def generate_continuations(model, tokenizer, prompts: list[str], params: Params, sample: bool = False,
                           show_progress: bool = False) -> list[str]:
    """The continuation of each prompt (EOS first, as a text starts after one in the packed blocks), greedy or
    sampled with evaluate.temperature and top_k; seeded by project.seed, so sampling is repeatable. Batches are
    left-padded with position ids that skip the pads (tasks/decoders/generate.py), as the ONNX export's are."""
    from tasks.decoders.generate import generate_texts

    return generate_texts(model, tokenizer, prompts, params.evaluate, sample, params.project.seed, show_progress)


def evaluate_causal_lm(params: Params, model_dir: str | Path, show_progress: bool = True) -> tuple[dict, list[str]]:
    """The pure core: metrics/eval.json and metrics/samples.json, the predictions; returns metrics and files."""
    import pandas as pd

    from tasks.kinds.causal_lm.tokenize import prompt_of, read_blocks
    from tasks.decoders.scoring import perplexity_of
    from tasks.kinds.causal_lm.metrics import bits_per_char, char_counts, score_blocks, unigram_perplexity, word_counts
    from tasks.registry.predictions import write_predictions

    model, tokenizer = load_causal_lm(model_dir)
    tokenized, size = params.paths.tokenized, params.evaluate.batch_size
    test_blocks = read_blocks(tokenized, "test")
    test_nll, test_tokens = score_blocks(model, test_blocks, size)
    test_loss, test_ppl = perplexity_of(test_nll, test_tokens)
    val_nll, val_tokens = score_blocks(model, read_blocks(tokenized, "validation"), size)
    val_loss, val_ppl = perplexity_of(val_nll, val_tokens)
    train_ids = [row["input_ids"] for row in read_blocks(tokenized, "train")]
    # On the tokens the model predicts: all of the test stream but its first.
    unigram = unigram_perplexity(train_ids, [[token for row in test_blocks for token in row["input_ids"]]], len(tokenizer))
    test = pd.read_parquet(Path(params.paths.validated) / "test.parquet")
    texts = test["text"].astype(str).tolist()
    word_ppl = perplexity_of(test_nll, int(word_counts(texts).sum()))[1]  # promote compares models by it
    validation = pd.read_parquet(Path(params.paths.validated) / "validation.parquet")["text"].astype(str).tolist()
    # Per character, tokenizer-independent: compares with character-level models (nats per character = bits x ln 2).
    bpc, val_bpc = bits_per_char(test_nll, char_counts(texts).sum()), bits_per_char(val_nll, char_counts(validation).sum())
    prompts = [prompt_of(text) for text in texts]
    greedy = generate_continuations(model, tokenizer, prompts, params, show_progress=show_progress)
    shown = params.evaluate.samples
    sampled = generate_continuations(model, tokenizer, prompts[:shown], params, sample=True)
    metrics = {"eval_loss": round(test_loss, 6), "eval_perplexity": round(test_ppl, 4),
               "eval_val_loss": round(val_loss, 6), "eval_val_perplexity": round(val_ppl, 4),
               "eval_word_perplexity": round(word_ppl, 4), "eval_unigram_perplexity": round(unigram, 4),
               "eval_bits_per_char": round(bpc, 4), "eval_val_bits_per_char": round(val_bpc, 4),
               "eval_rows": float(len(texts)), "eval_tokens": float(test_tokens)}
    out = Path(params.paths.metrics)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))
    samples = [{"prompt": p, "greedy": g, "sampled": s, "reference": t[len(p):].strip()}
               for p, g, s, t in zip(prompts[:shown], greedy, sampled, texts)]
    (out / "samples.json").write_text(json.dumps(samples, indent=1, ensure_ascii=False))
    # One string per test row, as promote's reuse expects: the greedy continuation of the row's first words.
    write_predictions(params, model_dir, greedy)
    return metrics, [str(out / name) for name in ("eval.json", "samples.json")]
