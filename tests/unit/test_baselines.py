"""Each kind's trivial baseline on tiny frames, and the gate that refuses a model which does not beat it."""

import math

import pandas as pd
import pytest

from tasks.core.config import PromoteParams, load_params
from tasks.kinds import get_kind
from tasks.registry.baseline import describe_baseline, first_sentence, judge_baseline
from tasks.registry.promotion_rule import decide
from tests.conftest import REPO


def params_of(file: str, *overrides: str):
    return load_params(REPO / file, list(overrides))


def test_first_sentence_ends_at_a_mark_before_a_space_or_at_a_line_break():
    assert first_sentence("Tom went to Oslo. Anna bought 12 lamps.") == "Tom went to Oslo."
    assert first_sentence("Pi is 3.14 today! Yes.") == "Pi is 3.14 today!"  # no space after the point in 3.14
    assert first_sentence("  the subject line\nthe body. more") == "the subject line"
    assert first_sentence("one sentence without an end") == "one sentence without an end"


def test_classification_gives_every_row_the_training_splits_majority_label():
    params = params_of("params.yaml")  # labels [negative, neutral, positive]
    train = pd.DataFrame({"text": list("abcdef"), "label": ["positive"] * 3 + ["negative"] * 2 + ["neutral"]})
    test = pd.DataFrame({"text": list("abcd"), "label": ["positive", "negative", "neutral", "positive"]})
    name, metrics = get_kind("classification").baseline_metrics(params, train, test)
    assert name == "majority label 'positive'"
    # F1 of positive is 2*2/(2*2+2) = 2/3, the two other classes 0: a macro F1 of 2/9.
    assert metrics == {"accuracy": 0.5, "precision_macro": 0.166667, "recall_macro": 0.333333, "f1_macro": 0.222222}
    tied = pd.DataFrame({"text": list("ab"), "label": ["positive", "neutral"]})
    kind = get_kind("classification")
    assert kind.baseline_metrics(params, tied, test)[0] == "majority label 'neutral'"  # first in the label list
    per_class = params_of("params.yaml", "promote.primary_metric=f1_positive")
    assert kind.baseline_metrics(per_class, train, test)[1]["f1_positive"] == pytest.approx(2 / 3, abs=1e-6)


def test_seq2seq_picks_copying_for_translation_and_the_first_sentence_for_summaries():
    kind = get_kind("seq2seq")
    numbers = pd.DataFrame({"source": ["room 47 needs 8 plates", "bring 3 cups"],
                            "target": ["room forty seven needs eight plates", "bring three cups"]})
    name, metrics = kind.baseline_metrics(params_of("params.seq2seq.yaml"), numbers, numbers)
    # One sentence each: the first sentence is the source, and a tie keeps copying.
    assert name.startswith("copying the source, not below the source's first sentence on bleu: ")
    assert set(metrics) == {"bleu", "chrf", "rouge1", "rouge2", "rougeL"} and 0 < metrics["chrf"] < 100
    reports = pd.DataFrame({"source": ["Lyon bakery sold 42 cakes on friday. Prices did not change. It rained.",
                                       "Oslo shop sold 3 bikes on monday. Nobody came late. The sky was grey."],
                            "target": ["lyon bakery sold 42 cakes on friday", "oslo shop sold 3 bikes on monday"]})
    name, metrics = kind.baseline_metrics(params_of("params.summarize.yaml"), reports, reports)
    assert name.startswith("the source's first sentence, above copying the source on rougeL: 100.00 > ")
    assert metrics["rougeL"] == 100.0  # rouge-score lowercases and drops the full stop


def test_qa_answers_with_the_contexts_first_sentence():
    test = pd.DataFrame({"context": ["Anna bought 12 lamps. Tom went to Oslo.",
                                     "Tom went to Oslo. Anna bought 12 lamps."],
                         "question": ["What did Anna buy?", "How many lamps did Anna buy?"],
                         "answer": ["Anna bought 12 lamps.", "12"]})
    name, metrics = get_kind("qa").baseline_metrics(params_of("params.qa.yaml"), test, test)
    assert name == "the context's first sentence"
    assert metrics == {"exact_match": 50.0, "f1": 50.0}  # the first right word for word, the second sharing no word


def test_the_unigram_scores_pool_to_evaluates_unigram_perplexity():
    from tasks.kinds.causal_lm.baseline import unigram_scores
    from tasks.kinds.causal_lm.metrics import text_perplexity, unigram_perplexity

    train, test = [[0, 0, 1], [2, 1]], [[5, 0], [2, 1, 1]]
    nll, tokens = unigram_scores(train, test, vocab_size=6)
    assert tokens.tolist() == [1, 3]  # the stream's first token is never predicted
    pooled = text_perplexity(nll, tokens, words=[2.0, 2.0])
    assert pooled["perplexity"] == pytest.approx(unigram_perplexity(train, [[5, 0, 2, 1, 1]], vocab_size=6), rel=1e-6)
    assert pooled["word_perplexity"] == pytest.approx(math.exp(nll.sum() / 4), rel=1e-6)


def test_causal_lm_scores_the_unigram_model_through_the_challengers_tokenizer(root):
    from tasks.decoders.tokenizer import train_byte_tokenizer

    texts = [f"mia had {n} pears and gave one to tom." for n in ("two", "three", "four", "five")] * 5
    params = params_of("params.causal_lm.yaml", "paths.model=model", "tokenize.vocab_size=300")
    train_byte_tokenizer(texts, params.tokenize).save_pretrained("model")  # what train saves beside the weights
    name, metrics = get_kind("causal_lm").baseline_metrics(params, pd.DataFrame({"text": texts}),
                                                           pd.DataFrame({"text": texts[:3]}))
    assert name == "a unigram model of the training tokens"
    assert set(metrics) == {"perplexity", "loss", "word_perplexity", "bits_per_char"}
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]), rel=1e-5)
    assert metrics["word_perplexity"] > metrics["perplexity"] > 1  # fewer words than tokens share the same nll


RULE = PromoteParams(floors={"f1_macro": 0.1})
MAJORITY = ("majority label 'positive'", {"f1_macro": 0.25, "accuracy": 0.6})


def test_a_first_model_below_the_baseline_is_refused_with_the_reason():
    record = judge_baseline(RULE, {"f1_macro": 0.21, "accuracy": 0.6}, MAJORITY)
    assert record == {"checked": True, "name": "majority label 'positive'", "primary_metric": "f1_macro",
                      "metrics": MAJORITY[1], "beaten": False,
                      "reason": "does not beat the baseline (majority label 'positive'): f1_macro 0.2100 <= 0.2500"}
    verdict = decide(RULE, {"f1_macro": 0.21, "accuracy": 0.6}, None, None, record)
    assert not verdict.promoted and verdict.reasons == [record["reason"]]
    equal = judge_baseline(RULE, {"f1_macro": 0.25}, MAJORITY)  # strictly: an equal score does not beat it
    assert not decide(RULE, {"f1_macro": 0.25, "accuracy": 0.6}, None, None, equal).promoted


def test_a_baseline_scored_answer_by_answer_is_beaten_only_significantly():
    """chat's untuned base model: a higher score whose paired test does not pass does not beat it."""
    rule = PromoteParams(primary_metric="exact_match")
    paired = lambda passed: lambda answers, seed: {"test": "bootstrap", "alpha": 0.05, "resamples": 1000,
                                                   "ci_low": 0.1 if passed else -0.2, "ci_high": 0.4,
                                                   "passed": passed}
    for passed in (True, False):
        base = ("the untuned base model (org/base)", {"exact_match": 60.0}, paired(passed))
        record = judge_baseline(rule, {"exact_match": 64.0}, base, ["an answer"], seed=0)
        assert record["beaten"] is passed and record["significance"]["passed"] is passed, record
        assert record["reason"].startswith("beats" if passed else "does not beat"), record
        assert "exact_match 64.0000 > 60.0000, 95% bootstrap CI of the difference" in record["reason"], record
    no_test = judge_baseline(rule.model_copy(update={"significance": rule.significance.model_copy(
        update={"test": "none"})}), {"exact_match": 64.0}, base, ["an answer"])
    assert no_test["beaten"] and "significance" not in no_test, no_test


def test_a_first_model_above_the_baseline_says_so_beside_the_floors():
    record = judge_baseline(RULE, {"f1_macro": 0.9}, MAJORITY)
    verdict = decide(RULE, {"f1_macro": 0.9, "accuracy": 0.9}, None, None, record)
    assert verdict.promoted and verdict.reasons == [
        "first model: it clears every floor (f1_macro 0.9000 >= 0.1000)",
        "beats the baseline (majority label 'positive'): f1_macro 0.9000 > 0.2500"]
    assert describe_baseline(record) == "majority label 'positive': f1_macro 0.2500, beaten by the model"


def test_a_challenger_that_beats_the_champion_but_not_the_baseline_is_refused():
    champion = {"f1_macro": 0.20, "accuracy": 0.5}
    challenger = {"f1_macro": 0.24, "accuracy": 0.55}
    verdict = decide(RULE, challenger, champion, {"test": "none", "passed": True},
                     judge_baseline(RULE, challenger, MAJORITY))
    assert not verdict.promoted
    assert verdict.reasons == ["does not beat the baseline (majority label 'positive'): f1_macro 0.2400 <= 0.2500"]
    better = {"f1_macro": 0.3, "accuracy": 0.55}
    passed = decide(RULE, better, champion, None, judge_baseline(RULE, better, MAJORITY))
    assert passed.promoted
    assert "beats the baseline (majority label 'positive'): f1_macro 0.3000 > 0.2500" in passed.reasons


def test_beat_baseline_false_turns_the_check_off_and_says_so():
    rule = PromoteParams(floors={"f1_macro": 0.1}, beat_baseline=False)
    record = judge_baseline(rule, {"f1_macro": 0.21}, MAJORITY)
    assert record == {"checked": False, "reason": "promote.beat_baseline is false"}
    verdict = decide(rule, {"f1_macro": 0.21, "accuracy": 0.6}, None, None, record)
    assert verdict.promoted and verdict.reasons == ["first model: it clears every floor (f1_macro 0.2100 >= 0.1000)"]
    assert describe_baseline(record) == "not checked (promote.beat_baseline is false)"


def test_a_perplexity_must_be_below_the_unigram_models():
    rule = PromoteParams(primary_metric="perplexity", guarded={})
    unigram = ("a unigram model of the training tokens", {"perplexity": 95.0, "loss": math.log(95.0)})
    record = judge_baseline(rule, {"perplexity": 663.0}, unigram)
    assert not record["beaten"] and record["reason"] == (
        "does not beat the baseline (a unigram model of the training tokens): perplexity 663.0000 >= 95.0000")
    assert not decide(rule, {"perplexity": 663.0}, None, None, record).promoted
    good = judge_baseline(rule, {"perplexity": 3.3}, unigram)
    assert good["beaten"] and good["reason"].endswith("perplexity 3.3000 < 95.0000")
    assert decide(rule, {"perplexity": 3.3}, None, None, good).promoted
