from tasks.core.config import load_params
from tasks.ingest import ingest_dataset
from tasks.validate import validate_dataset
from tasks.tokenize import tokenize_dataset
from tests.conftest import REPO


def test_wordpiece_tokenizer_is_trained_cached_and_rekeyed(tmp_path, monkeypatch):
    import pandas as pd
    from transformers import AutoTokenizer

    monkeypatch.chdir(tmp_path)
    params = load_params(REPO / "params.yaml", ["data.sample.rows=400", "tokenize.vocab_size=300"])
    ingest_dataset(params)
    validate_dataset(params)  # writes the rows tokenize reads
    first = tokenize_dataset(params, "v1")
    assert not first.reused
    tokenizer = AutoTokenizer.from_pretrained(first.tokenizer_path)
    rows = pd.read_parquet(tmp_path / "data/tokenized/train.parquet")
    lengths = rows["input_ids"].map(len)
    assert lengths.min() != lengths.max(), "rows are not padded to one length"
    assert tokenizer.decode(rows["input_ids"][0], skip_special_tokens=True)
    assert tokenize_dataset(params, "v1").reused
    assert not tokenize_dataset(params, "v2").reused
    changed = load_params(REPO / "params.yaml", ["data.sample.rows=400", "tokenize.vocab_size=301"])
    assert not tokenize_dataset(changed, "v2").reused


def test_a_trained_wordpiece_is_the_same_in_every_process():
    """Rebuildable from lineage: the same texts give the same tokenizer.json in fresh processes (tokenizers' own
    WordPiece trainer gave a new one in nearly every process: its `##` pieces were numbered in hash-map order)."""
    import subprocess
    import sys

    script = ("import hashlib; from tasks.core.config import load_params; from tasks.kinds.classification.builtin import generate_reviews; "
              "from tasks.training.tokenizer_io import train_wordpiece; "
              "texts = generate_reviews(600, 0)['text'].tolist(); "
              "core = train_wordpiece(texts, load_params('params.yaml', [])).backend_tokenizer; "
              "print(hashlib.sha256(core.to_str().encode()).hexdigest(), core.get_vocab_size())")
    runs = {subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
                           ).stdout for _ in range(3)}
    assert len(runs) == 1, runs


def test_a_tokenizer_saved_again_is_the_same_bytes_online_and_offline(tmp_path, monkeypatch):
    """transformers 5 writes how a tokenizer was loaded (local_files_only: true where HF_HUB_OFFLINE is set) into the
    tokenizer_config.json it saves: a model trained offline and rebuilt online would differ at tokenize."""
    import transformers.tokenization_utils_base as base

    from tasks.kinds.classification.builtin import generate_reviews
    from tasks.training.tokenizer_io import read_tokenizer, train_wordpiece

    train_wordpiece(generate_reviews(200, 0)["text"].tolist(), load_params(REPO / "params.yaml")).save_pretrained(
        tmp_path / "trained")
    saved = {}
    for offline in (True, False):
        monkeypatch.setattr(base, "is_offline_mode", lambda: offline)
        read_tokenizer(tmp_path / "trained").save_pretrained(tmp_path / str(offline))
        saved[offline] = (tmp_path / str(offline) / "tokenizer_config.json").read_text()
    assert saved[True] == saved[False] and "local_files_only" not in saved[True], saved
