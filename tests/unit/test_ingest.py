import pandas as pd
import pytest

from tasks.core.config import load_params
from tasks.core.errors import LmforgeError
from tasks.ingest import assign_splits, ingest_dataset
from tasks.kinds.classification.builtin import LABELS, generate_reviews
from tests.conftest import REPO


def test_builtin_reviews_are_deterministic_and_distinct():
    first, second = generate_reviews(300, seed=3), generate_reviews(300, seed=3)
    pd.testing.assert_frame_equal(first, second)
    assert first["text"].is_unique
    assert set(first["label"]) == set(LABELS)
    assert not generate_reviews(300, seed=4).equals(first)


def test_bag_of_words_falls_short_on_builtin_reviews():
    """The point of the default data: word counts alone stay well under the 0.85 the model must reach."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split

    frame = generate_reviews(3000, seed=13)
    train, test = train_test_split(frame, test_size=0.2, random_state=0, stratify=frame["label"])
    vectorizer = CountVectorizer()
    model = LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform(train["text"]), train["label"])
    assert f1_score(test["label"], model.predict(vectorizer.transform(test["text"])), average="macro") < 0.78


def test_same_source_gives_same_bytes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = load_params(REPO / "params.yaml", ["data.sample.rows=500"])
    ingest_dataset(params)
    first = {p.name: p.read_bytes() for p in (tmp_path / "data/dataset").iterdir()}
    ingest_dataset(params)
    assert first == {p.name: p.read_bytes() for p in (tmp_path / "data/dataset").iterdir()}
    assert set(first) == {"train.parquet", "validation.parquet", "test.parquet"}


def test_seeded_split_is_stratified():
    params = load_params(REPO / "params.yaml")
    frame = generate_reviews(1000, seed=1)
    splits = assign_splits([(None, frame)], params.data, seed=5)
    assert sum(len(s) for s in splits.values()) == 1000
    shares = splits["test"]["label"].value_counts(normalize=True)
    overall = frame["label"].value_counts(normalize=True)
    assert (shares - overall).abs().max() < 0.02
    assert len(splits["test"]) == 150


def test_split_column_and_missing_validation():
    params = load_params(REPO / "params.yaml", ["data.split_column=part"])
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(40)], "label": ["a", "b"] * 20,
                          "split": ["train"] * 30 + ["test"] * 10})
    splits = assign_splits([(None, frame)], params.data, seed=0)
    assert len(splits["test"]) == 10 and len(splits["validation"]) > 0
    bad = frame.assign(split=["train"] * 39 + ["holdout"])
    with pytest.raises(LmforgeError, match="'holdout'"):
        assign_splits([(None, bad)], params.data, seed=0)


def question_rows(contexts: int, per_context: int) -> pd.DataFrame:
    return pd.DataFrame([{"context": f"Person {c} went to city {c}. It rained.", "question": f"Where did person {c} go? ({q})",
                          "answer": f"city {c}"} for c in range(contexts) for q in range(per_context)])


def test_a_qa_carve_keeps_every_context_in_one_split():
    """Questions on one paragraph never straddle splits, and a share is of the training rows it is carved from."""
    params = load_params(REPO / "params.qa.yaml", ["data.splits={validation: 0.1, test: 0.2}"])
    frame = question_rows(100, 3).sample(frac=1, random_state=0)  # a paragraph's questions apart in the file
    splits = assign_splits([(None, frame)], params.data, seed=5, task="qa")
    contexts = {name: set(split["context"]) for name, split in splits.items()}
    assert not contexts["train"] & contexts["test"] and not contexts["train"] & contexts["validation"]
    assert not contexts["validation"] & contexts["test"]
    assert sum(len(split) for split in splits.values()) == 300
    assert len(splits["test"]) == 60 and len(splits["validation"]) == 30  # whole paragraphs of 3 questions


def test_group_column_keeps_groups_together_for_any_kind():
    params = load_params(REPO / "params.yaml", ["data.group_column=user", "data.labels=null"])
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(200)], "label": ["a", "b"] * 100,
                          "group": [f"user {i // 5}" for i in range(200)]})
    splits = assign_splits([(None, frame)], params.data, seed=1)
    users = {name: set(split["group"]) for name, split in splits.items()}
    assert not users["train"] & users["test"] and not users["train"] & users["validation"]
    assert len(splits["test"]) == 30 and len(splits["validation"]) == 20
