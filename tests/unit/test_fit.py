"""Before training: a checkpoint of a family the task kind cannot load, or one too big for the machine, is one
sentence naming what to change; both are read from its files without loading a weight."""

from __future__ import annotations

import pytest

from tasks.core.errors import LmforgeError
from tasks.training.fit import check_family, check_memory, count_parameters
from tests.families import cached_checkpoint

KINDS = {"classification": "AutoModelForSequenceClassification", "qa": "AutoModelForQuestionAnswering",
         "seq2seq": "AutoModelForSeq2SeqLM", "causal_lm": "AutoModelForCausalLM"}


@pytest.mark.parametrize("family, task, fits", [
    ("bert", "classification", True), ("xlm-roberta", "qa", True), ("t5", "seq2seq", True),
    ("llama", "causal_lm", True), ("gpt_neox", "causal_lm", True),
    # transformers gives BERT and BART causal LM heads, but neither was trained to continue text.
    ("bert", "causal_lm", False), ("bart", "causal_lm", False), ("gpt2", "seq2seq", False),
    ("marian", "classification", False)])
def test_a_family_the_kind_cannot_use_is_refused(checkpoints, family, task, fits):
    folder = cached_checkpoint(family, checkpoints)
    if fits:
        check_family(folder, KINDS[task], task, "model.pretrained")
        return
    with pytest.raises(LmforgeError, match=f"model.pretrained: a {family.replace('-', '.')} checkpoint cannot be a "
                                           f"task: {task} model"):
        check_family(folder, KINDS[task], task, "model.pretrained")


def test_a_model_too_big_for_the_memory_names_lora_precision_and_a_smaller_model(checkpoints):
    folder = cached_checkpoint("llama", checkpoints)
    parameters = count_parameters(folder)
    assert 10_000 < parameters < 200_000
    assert check_memory(folder, "model.pretrained", False, "fp32", (parameters * 16, "test")) == parameters * 16
    with pytest.raises(LmforgeError) as error:
        check_memory(folder, "model.pretrained", False, "fp32", (parameters * 10, "the test's memory"))
    text = str(error.value)
    assert text.startswith("model.pretrained: 0 M parameters need about") and "set train.lora" in text
    assert "train.precision: bf16" in text and "name a smaller model" in text
    # LoRA keeps the frozen weights only: 4 bytes a parameter, 2 in bf16.
    check_memory(folder, "model.pretrained", True, "fp32", (parameters * 4, "test"))
    with pytest.raises(LmforgeError, match="set train.precision: bf16"):
        check_memory(folder, "model.pretrained", True, "fp32", (parameters * 3, "test"))
    check_memory(folder, "model.pretrained", True, "bf16", (parameters * 2, "test"))
