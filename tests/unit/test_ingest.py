import pandas as pd
import pytest

from tasks.config import load_params
from tasks.errors import LmforgeError
from tasks.ingest import assign_splits, ingest_dataset
from tasks.sample_data import LABELS, generate_reviews
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
