"""Data by name: a URL served on 127.0.0.1 (checksum, a server that does not answer, the copy fetched before), a Hub
dataset laid out in a temporary Hugging Face cache and read offline, the mirror, and the public shapes (class ids
named by the Parquet schema, nested answers, splits by the Hub's names). Each bad input is one sentence naming its key."""

from __future__ import annotations

import hashlib
import shutil
import http.server
import threading
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tasks.core.config import load_params
from tasks.core.errors import LmforgeError
from tasks.hub.sources import fetch_source, source_tags
from tasks.ingest import assign_splits, load_frames

ROWS = "text,label\n" + "".join(f"review number {i} is {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}\n"
                                for i in range(60))
SHA = "0123456789abcdef0123456789abcdef01234567"


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class Server:
    """A static file server on 127.0.0.1 that a test starts and stops."""

    def __init__(self, folder: Path):
        handler = partial(Quiet, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(root):
    (root / "www").mkdir()
    (root / "www" / "reviews.csv").write_text(ROWS)
    server = Server(root / "www")
    yield server
    server.stop()


def params_for(root: Path, data: dict, task: str = "classification"):
    (root / "p.yaml").write_text(yaml.safe_dump({"task": task, "data": data}))
    return load_params(root / "p.yaml")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_pinned_url_is_checked_fetched_once_and_read_with_the_server_stopped(root, served, capsys):
    params = params_for(root, {"source": f"{served.url}/reviews.csv", "sha256": digest(ROWS)})
    local = fetch_source(params)
    assert local.revision == f"sha256:{digest(ROWS)}" and local.origin == "url"
    assert (root / "data/p/source/reviews.csv").read_text() == ROWS
    served.stop()
    again = fetch_source(params)  # the pinned digest is in the local copy: no request
    assert again.origin == "cache" and again.files == local.files
    frames = load_frames(params.data, params.task, again)
    assert len(frames) == 1 and len(frames[0][1]) == 60
    assert source_tags(params) == {"data_revision": f"sha256:{digest(ROWS)}"}


def test_a_checksum_mismatch_stops_before_anything_is_read(root, served):
    params = params_for(root, {"source": f"{served.url}/reviews.csv", "sha256": "f" * 64})
    with pytest.raises(LmforgeError) as caught:
        fetch_source(params)
    message = str(caught.value)
    assert message.startswith("data.sha256:") and f"has SHA-256 {digest(ROWS)}, not the pinned {'f' * 64}" in message
    assert message.count(". ") == 0 and not any((root / "data").rglob("reviews.csv")), "nothing kept, nothing read"


def test_an_unpinned_url_falls_back_to_the_copy_fetched_before_and_says_so(root, served, capsys):
    params = params_for(root, {"source": f"{served.url}/reviews.csv"})
    first = fetch_source(params)
    served.stop()
    second = fetch_source(params)
    assert second.revision == first.revision and second.origin == "cache"
    said = capsys.readouterr().err
    assert "did not answer (connection refused): using the copy fetched before" in said


def test_a_url_that_does_not_answer_is_one_sentence_without_credentials(root, served):
    served.stop()
    url = served.url.replace("http://", "http://reader:s3cret@") + "/reviews.csv"
    params = params_for(root, {"source": url, "sha256": digest(ROWS)})
    with pytest.raises(LmforgeError) as caught:
        fetch_source(params)
    message = str(caught.value)
    assert message.startswith("data.source: http://***@127.0.0.1") and "did not answer" in message
    assert "LMFORGE_DATA_MIRROR" in message and "s3cret" not in message


def test_a_missing_url_and_a_missing_package_are_one_sentence(root, served):
    with pytest.raises(LmforgeError, match=r"^data.source: http://127.0.0.1:\d+/nope.csv answered HTTP 404; check"):
        fetch_source(params_for(root, {"source": f"{served.url}/nope.csv"}))
    with pytest.raises(LmforgeError, match="needs the s3fs package, which lmforge does not install; pip install s3fs"):
        fetch_source(params_for(root, {"source": "s3://bucket/reviews.csv"}))


def test_a_folder_url_reads_the_files_data_splits_names_each_with_its_digest(root, served):
    (root / "www" / "test.csv").write_text(ROWS)
    params = params_for(root, {"source": f"{served.url}/", "sha256": {"reviews.csv": digest(ROWS), "test.csv": digest(ROWS)},
                               "splits": {"train": "reviews.csv", "test": "test.csv", "validation": 0.1}})
    local = fetch_source(params)
    assert [split for split, _ in local.files] == ["train", "test"] and local.revision.startswith("files:")


def write_card(folder: Path, configs: list | None = None) -> None:
    header = yaml.safe_dump({"configs": configs}) if configs else "license: unknown\n"
    (folder / "README.md").write_text(f"---\n{header}---\n\n# a dataset\n")


def write_labelled_parquet(path: Path, texts: list[str], ids: list[int], names: list[str]) -> None:
    """A Parquet file as the `datasets` library writes one, with a ClassLabel column."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    features = {"sentence": {"dtype": "string", "_type": "Value"}, "label": {"names": names, "_type": "ClassLabel"}}
    schema = pa.schema([("sentence", pa.string()), ("label", pa.int64())],
                       metadata={b"huggingface": json.dumps({"info": {"features": features}}).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"sentence": texts, "label": ids}, schema=schema), path)


def lay_out_dataset(folder: Path) -> None:
    texts = [f"a {'fine' if i % 2 else 'poor'} film, number {i}" for i in range(80)]
    write_labelled_parquet(folder / "data/train-00000-of-00001.parquet", texts, [i % 2 for i in range(80)],
                           ["negative", "positive"])
    write_labelled_parquet(folder / "data/validation-00000-of-00001.parquet", texts[:20], [i % 2 for i in range(20)],
                           ["negative", "positive"])
    write_card(folder, [{"config_name": "default", "data_files": [
        {"split": "train", "path": "data/train-*"}, {"split": "validation", "path": "data/validation-*"}]}])


@pytest.fixture
def hub_cache(root, monkeypatch):
    """A Hub dataset in a temporary huggingface_hub cache (refs/main -> snapshots/SHA), the Hub itself offline."""
    from huggingface_hub import constants

    cache = root / "hf" / "hub"
    snapshot = cache / "datasets--lmforge-tests--reviews" / "snapshots" / SHA
    lay_out_dataset(snapshot)
    (cache / "datasets--lmforge-tests--reviews" / "refs").mkdir(parents=True)
    (cache / "datasets--lmforge-tests--reviews" / "refs" / "main").write_text(SHA)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("LMFORGE_DATA_MIRROR", raising=False)
    return cache


def hub_params(root: Path, **data):
    return params_for(root, {"source": "hf://datasets/lmforge-tests/reviews", "text_column": "sentence",
                             "splits": {"train": "train", "validation": 0.1, "test": "validation"}} | data)


def test_a_hub_dataset_in_the_cache_is_read_offline_with_its_revision_and_label_names(root, hub_cache, capsys):
    params = hub_params(root)
    local = fetch_source(params)
    assert local.revision == SHA and local.origin == "hub cache"
    assert "the Hub did not answer (HF_HUB_OFFLINE is set): using the cached copy of " \
           f"hf://datasets/lmforge-tests/reviews at {SHA[:12]}" in capsys.readouterr().err
    splits = assign_splits(load_frames(params.data, params.task, local), params.data, 13, params.task)
    assert len(splits["test"]) == 20 and set(splits["train"]["label"]) == {"negative", "positive"}
    assert source_tags(params) == {"data_revision": SHA}
    pinned = hub_params(root, source=f"hf://datasets/lmforge-tests/reviews@{SHA}")
    assert fetch_source(pinned).revision == SHA and "did not answer" not in capsys.readouterr().err


def test_the_pipelines_copy_stands_in_when_neither_the_hub_nor_its_cache_has_the_dataset(root, hub_cache, capsys):
    import shutil

    params = hub_params(root)
    fetch_source(params)
    shutil.rmtree(hub_cache)
    again = fetch_source(params)
    assert again.revision == SHA and again.origin == "cache"
    assert f"the Hub did not answer (HF_HUB_OFFLINE is set): using the copy fetched before in data/p/source ({SHA})" \
        in capsys.readouterr().err


def test_a_hub_split_or_column_that_is_not_there_is_one_sentence(root, hub_cache):
    with pytest.raises(LmforgeError) as caught:
        fetch_source(hub_params(root, splits={"test": "test"}))
    assert str(caught.value) == ("data.splits.test: hf://datasets/lmforge-tests/reviews has no split 'test' (it has "
                                 "train, validation); name one of those in data.splits.test, or give a share to carve "
                                 "it from train.")
    params = hub_params(root, text_column="text")
    with pytest.raises(LmforgeError, match=r"no column 'text' \(it has 'sentence', 'label'\); set data.text_column"):
        load_frames(params.data, params.task, fetch_source(params))


def test_a_hub_dataset_not_cached_offline_names_the_mirror(root, hub_cache):
    with pytest.raises(LmforgeError, match="its cache holds no copy of revision main; run once where the Hub answers, "
                                           "or point LMFORGE_DATA_MIRROR at a mirror that holds hf/datasets/org/other"):
        fetch_source(params_for(root, {"source": "hf://datasets/org/other"}))


def test_the_mirror_maps_hub_ids_and_urls_and_is_read_without_network(root, monkeypatch):
    from tasks.hub.mirror import mirror_path

    assert mirror_path("hf://datasets/org/name@refs/convert/parquet", root) == root / "hf/datasets/org/name"
    assert mirror_path("https://user:pw@host.org/a/b.txt?x=1", root) == root / "https/host.org/a/b.txt"
    lay_out_dataset(root / "mirror/hf/datasets/lmforge-tests/reviews")
    (root / "mirror/https/example.org/reviews.csv").parent.mkdir(parents=True)
    (root / "mirror/https/example.org/reviews.csv").write_text(ROWS)
    monkeypatch.setenv("LMFORGE_DATA_MIRROR", str(root / "mirror"))
    local = fetch_source(hub_params(root))
    assert local.origin == "mirror" and local.revision.startswith("mirror:")
    url = fetch_source(params_for(root, {"source": "https://example.org/reviews.csv", "sha256": digest(ROWS)}))
    assert url.origin == "mirror" and url.revision == f"sha256:{digest(ROWS)}"
    with pytest.raises(LmforgeError, match="^data.sha256: the mirror's copy "):
        fetch_source(params_for(root, {"source": "https://example.org/reviews.csv", "sha256": "0" * 64}))


def test_nested_columns_inferred_splits_max_rows_and_a_carve_from_the_end(root):
    from tasks.hub.layout import split_files

    assert split_files(["train.jsonl", "val.jsonl", "test.jsonl", "README.md"], {}, None, "s") == {
        "train": ["train.jsonl"], "validation": ["val.jsonl"], "test": ["test.jsonl"]}
    assert split_files(["default/train/0000.parquet", "default/test/0000.parquet", "default/train/index.duckdb"], {},
                       "default", "s") == {"train": ["default/train/0000.parquet"], "test": ["default/test/0000.parquet"]}
    contexts = [f"Paragraph {i // 3} says that item {i} costs {i} euros." for i in range(90)]
    pd.DataFrame({"context": contexts, "question": [f"What does item {i} cost?" for i in range(90)],
                  "answers": [{"text": [f"{i} euros"], "answer_start": [c.index(f"{i} euros")]}
                              for i, c in enumerate(contexts)]}).to_parquet(root / "qa.parquet")
    params = params_for(root, {"source": "qa.parquet", "answer_column": "answers.text", "max_rows": 60,
                               "answer_start_column": "answers.answer_start",
                               "splits": {"validation": 0.1, "test": 0.2, "from_end": ["test"]}}, task="qa")
    (_, frame), = load_frames(params.data, params.task)
    assert len(frame) == 60 and frame["answer"][7] == "7 euros" and frame["answer_start"][7] == str(contexts[7].index("7 euros"))
    splits = assign_splits([(None, frame)], params.data, 13, "qa")
    assert splits["test"]["context"].tolist() == contexts[48:60], "the last whole paragraphs, in order"
    with pytest.raises(LmforgeError, match=r"a dotted name reads inside a nested column, e\.g\. answers\.text"):
        load_frames(params_for(root, {"source": "qa.parquet"}, task="qa").data, "qa")


@pytest.mark.parametrize("data, message", [
    ({"source": "hf://models/org/name"}, "data.source is invalid: 'hf://models/org/name' is no Hub dataset"),
    ({"source": "ftp://host/file.csv"}, "data.source is invalid: ftp:// is not a source lmforge reads"),
    ({"source": "https://host/file.csv", "sha256": "abc"}, "data.sha256 is invalid: 'abc' is no SHA-256 digest"),
    ({"source": "reviews.csv", "sha256": "a" * 64}, "data.sha256 is invalid: checks a URL source's files"),
    ({"source": "reviews.csv", "config": "plain_text"}, "data.config is invalid: names a Hub dataset's config"),
])
def test_bad_remote_params_fail_at_load_time_naming_the_key(root, data, message):
    with pytest.raises(LmforgeError, match=message):
        params_for(root, data)


def test_a_hub_dataset_online_is_downloaded_at_its_commit_and_a_moved_main_is_a_new_revision(root, monkeypatch):
    """Against a stand-in Hub on 127.0.0.1 (tests/hub_server.py): the card's configs choose the files, only those are
    downloaded, the revision recorded is the commit main points at, and a new commit on main is read as new."""
    from tests.hub_fixtures import point_hub
    from tests.hub_server import FakeHub

    hub = FakeHub()
    point_hub(monkeypatch, root / "hf", hub.start())
    monkeypatch.delenv("LMFORGE_DATA_MIRROR", raising=False)
    try:
        lay_out_dataset(root / "first")
        (root / "first" / "data" / "unused.bin").write_bytes(b"not asked for")
        first = hub.add("lmforge-tests/reviews", root / "first", repo_type="dataset")
        local = fetch_source(hub_params(root))
        assert (local.revision, local.origin) == (first, "hub")
        snapshot = root / "hf" / "hub" / "datasets--lmforge-tests--reviews" / "snapshots" / first
        assert not (snapshot / "data" / "unused.bin").exists(), "only the split files are downloaded"
        lay_out_dataset(root / "second")
        (root / "second" / "data" / "extra.txt").write_text("a second commit")
        second = hub.add("lmforge-tests/reviews", root / "second", repo_type="dataset")
        assert fetch_source(hub_params(root)).revision == second != first
        with pytest.raises(LmforgeError, match="data.source: the Hub has no dataset 'lmforge-tests/absent'"):
            fetch_source(hub_params(root, source="hf://datasets/lmforge-tests/absent"))
    finally:
        hub.stop()
    # The cache huggingface_hub wrote (with its tree listing) is read again without the Hub, pinned or not.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    shutil.rmtree(root / "data" / "p", ignore_errors=True)  # not the pipeline's copy: the Hub's cache
    pinned = fetch_source(hub_params(root, source=f"hf://datasets/lmforge-tests/reviews@{second}"))
    assert (pinned.revision, pinned.origin) == (second, "hub cache")
    assert fetch_source(hub_params(root)).revision == second
