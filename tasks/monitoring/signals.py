"""What the monitor reads from texts with the champion's own files: sentence embeddings (its encoder's last hidden
state, mean-pooled) and signals a person can read (length, unknown and unseen tokens, non-ASCII characters)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def embed_texts(folder: str | Path, texts: list[str], batch_size: int = 64, max_length: int = 128) -> np.ndarray:
    """One vector per text from the model in `folder` (any kind: an encoder-decoder's encoder, else the model's
    base), in length-sorted batches; rows come back in the texts' order."""
    import torch
    from transformers.utils import logging as hf_logging

    from tasks.training.loading import load_trained_tokenizer

    tokenizer = load_trained_tokenizer(folder)
    if tokenizer.pad_token is None:  # a decoder's (GPT-2, Llama, ...): the mask keeps pads out of the mean
        tokenizer.pad_token = tokenizer.eos_token
    # Pads last, whatever the tokenizer says: the texts' own positions then count from 0, as they do alone.
    tokenizer.padding_side = "right"
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # loading the base model of a task checkpoint reports its unused head
    try:
        model = load_embedder(folder)
    finally:
        hf_logging.set_verbosity(verbosity)
    encoder = model.get_encoder() if getattr(model.config, "is_encoder_decoder", False) else model
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    found = []
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in chunk], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt")
            hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            found.append((chunk, ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().numpy()))
    width = found[0][1].shape[1] if found else 0
    vectors = np.zeros((len(texts), width), dtype=np.float32)
    for chunk, values in found:
        vectors[chunk] = values
    return vectors


def load_embedder(folder: str | Path):
    """The model whose hidden states embed texts: a LoRA adapter's decoder body (base and adapter), else the folder's
    base model (a warm-started EncoderDecoderModel has no AutoModel class; its seq2seq class holds the same
    encoder)."""
    from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM

    from tasks.decoders.adapters import is_adapter_folder, load_decoder
    from tasks.training.loading import load_trained, trusts_code

    if is_adapter_folder(folder):
        return load_decoder(folder).get_base_model().base_model
    config = AutoConfig.from_pretrained(str(folder), trust_remote_code=trusts_code(folder))
    warm = config.model_type == "encoder-decoder"
    return load_trained(AutoModelForSeq2SeqLM if warm else AutoModel, folder)


def read_signals(folder: str | Path, reference: list[str], window: list[str]) -> dict[str, float]:
    """Readable figures of both samples under the champion's tokenizer: mean characters, share of unknown tokens,
    share of the window's tokens never seen in the reference sample, share of non-ASCII characters."""
    from tasks.training.loading import load_trained_tokenizer

    tokenizer = load_trained_tokenizer(folder)
    unknown = tokenizer.unk_token_id

    def token_ids(texts: list[str]) -> list[int]:
        return [token for ids in tokenizer(texts, add_special_tokens=False)["input_ids"] for token in ids]

    def share(count: int, total: int) -> float:
        return round(count / total, 6) if total else 0.0

    reference_ids, window_ids = token_ids(reference), token_ids(window)
    seen = set(reference_ids)
    figures = {}
    for name, texts, ids in (("reference", reference, reference_ids), ("window", window, window_ids)):
        characters = "".join(texts)
        figures |= {f"{name}_mean_chars": round(float(np.mean([len(text) for text in texts])), 3) if texts else 0.0,
                    f"{name}_unknown_token_share": share(sum(token == unknown for token in ids), len(ids)),
                    f"{name}_non_ascii_share": share(sum(not char.isascii() for char in characters), len(characters))}
    figures["window_unseen_token_share"] = share(sum(token not in seen for token in window_ids), len(window_ids))
    return figures


def load_generator(folder: str | Path):
    """The model in `folder` with its language-model head, and whether it is an encoder-decoder; (None, False) for a
    model that does not generate text (a classifier, a span extractor)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    from tasks.decoders.adapters import is_adapter_folder, load_decoder
    from tasks.training.loading import load_trained, trusts_code

    if is_adapter_folder(folder):
        return load_decoder(folder), False
    config = AutoConfig.from_pretrained(str(folder), trust_remote_code=trusts_code(folder))
    if config.is_encoder_decoder:
        return load_trained(AutoModelForSeq2SeqLM, folder), True
    if any(name.endswith(("ForCausalLM", "LMHeadModel")) for name in config.architectures or []):
        return load_trained(AutoModelForCausalLM, folder), False
    return None, False


def output_losses(folder: str | Path, *samples: tuple[list[str], list[str]], batch_size: int = 16,
                  max_length: int = 128) -> list[np.ndarray] | None:
    """For each sample of (inputs, outputs), the model's own mean per-token loss on each output (an encoder-decoder:
    given its input; a causal LM: the output text itself), the model loaded once; None for a model that does not
    generate. A model grows unsure of what it says when its inputs move away from its training data."""
    import torch
    from tasks.training.loading import load_trained_tokenizer

    model, encoder_decoder = load_generator(folder)
    if model is None:
        return None
    tokenizer = load_trained_tokenizer(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    def score(inputs: list[str], outputs: list[str]) -> np.ndarray:
        found = []
        for start in range(0, len(outputs), batch_size):
            sources, targets = inputs[start:start + batch_size], outputs[start:start + batch_size]
            if encoder_decoder:
                batch = tokenizer(sources, text_target=targets, padding=True, truncation=True, max_length=max_length,
                                  return_tensors="pt")
                labels = batch["labels"].masked_fill(batch["labels"] == tokenizer.pad_token_id, -100)
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                               labels=labels).logits
            else:
                batch = tokenizer(targets, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
                labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)[:, 1:]
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
            loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2).float(), labels, ignore_index=-100,
                                                     reduction="none")
            found.append((loss.sum(1) / (labels != -100).sum(1).clamp(min=1)).numpy())
        return np.concatenate(found) if found else np.zeros(0)

    with torch.inference_mode():
        return [score(inputs, outputs) for inputs, outputs in samples]
