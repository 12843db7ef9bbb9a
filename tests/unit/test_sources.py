import pytest

from tasks.core.errors import LmforgeError
from tasks.data.sources import pick_columns, read_source, read_table


def test_csv_jsonl_parquet_read_alike(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"text": ["a b", "c d"], "label": ["x", "y"]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "d.parquet")
    for name in ("d.csv", "d.jsonl", "d.parquet"):
        assert read_table(tmp_path / name)["text"].tolist() == ["a b", "c d"]


def test_folder_files_name_their_split(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,x\n")
    (tmp_path / "dev.csv").write_text("text,label\nb,y\n")
    assert [split for split, _ in read_source(str(tmp_path))] == ["validation", "train"]


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"", "the file is empty"),
    (b"text,label\n", "header but no rows"),
    (b"text,label\ncaf\xe9 \xff,x\n", "not UTF-8"),
    (b"text,label\na fine day,x\nbad, really bad,y\n", "line 3 has 3 fields but the header has 2; put a text"),
])
def test_bad_files_say_what_and_how(tmp_path, content, message):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LmforgeError, match=message) as caught:
        read_table(path)
    assert str(path) in str(caught.value)


def test_wrong_column_names_the_key(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("sentence,label\nhello,x\n")
    with pytest.raises(LmforgeError, match="no column 'text'.*set data.text_column"):
        pick_columns(read_table(path), {"text_column": "text", "label_column": "label"}, str(path))


def write_folder(root, **files):
    for name, rows in files.items():
        (root / name).write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows))
    return root


def test_a_file_whose_name_is_no_split_is_refused(tmp_path):
    folder = write_folder(tmp_path, **{"train.csv": [("a", "x")], "test.csv": [("b", "y")], "test_fine.csv": [("b", "y:z")]})
    with pytest.raises(LmforgeError, match="test_fine.csv: the file name is no split name.*data.splits"):
        read_source(str(folder))


def test_named_files_are_read_in_their_roles_and_nothing_else(tmp_path):
    folder = write_folder(tmp_path, **{"train.csv": [("a", "x")], "dev.csv": [("b", "y")], "extra.csv": [("c", "z")]})
    frames = read_source(str(folder), named={"test": "dev.csv"})
    assert [(split, frame["text"].tolist()) for split, frame in frames] == [("test", ["b"]), ("train", ["a"])]
    with pytest.raises(LmforgeError, match="nope.csv: no such file, named by data.splits.test"):
        read_source(str(folder), named={"test": "nope.csv"})


def test_dev_file_as_test_with_validation_carved_from_train(tmp_path):
    from tasks.core.config import load_params
    from tasks.ingest import assign_splits, load_frames
    from tests.conftest import REPO

    rows = [(f"text {i}", "xy"[i % 2]) for i in range(200)]
    folder = write_folder(tmp_path, **{"train.csv": rows, "dev.csv": rows[:10]})
    params = load_params(REPO / "params.yaml", [f"data.source={folder}", "data.labels=[x, y]",
                                                "data.splits={test: dev.csv, validation: 0.1}"])
    splits = assign_splits(load_frames(params.data), params.data, seed=0)
    assert splits["test"]["text"].tolist() == [text for text, _ in rows[:10]]
    # A share of the training rows it is carved from (200), not of all rows: the test file does not count.
    assert len(splits["validation"]) == 20 and len(splits["train"]) == 180


def test_typed_columns_become_the_strings_a_csv_would_give(tmp_path):
    """Found by the fuzz test: Parquet labels that mixed numbers and nulls broke the stratified split."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["a", None, "c"], "label": [1.0, None, 2.0]}), tmp_path / "d.parquet")
    picked = pick_columns(read_table(tmp_path / "d.parquet"), {"text_column": "text", "label_column": "label"}, "d")
    assert picked.to_dict("list") == {"text": ["a", None, "c"], "label": ["1", None, "2"]}


def test_two_columns_of_one_name_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"]), pa.array(["x"])], names=["text", "text", "label"]),
                   tmp_path / "d.parquet")
    with pytest.raises(LmforgeError, match="more than one column is named 'text'; rename all but one of them.$"):
        pick_columns(read_table(tmp_path / "d.parquet"), {"text_column": "text", "label_column": "label"}, "d")


@pytest.mark.parametrize("documents, rows", [
    ("blank_line", ["ANNA:\nWhere now?", "TOM:\nTo Oslo.\nAt once.", "ANNA:\nGo."]),
    ("line", ["ANNA:", "Where now?", "TOM:", "To Oslo.", "At once.", "ANNA:", "Go."]),
    ("file", ["ANNA:\nWhere now?\n\nTOM:\nTo Oslo.\nAt once.\n \n\n\nANNA:\nGo."]),
])
def test_plain_text_is_cut_into_rows(tmp_path, documents, rows):
    (tmp_path / "play.txt").write_text("ANNA:\nWhere now?\n\nTOM:\nTo Oslo.\nAt once.\n \n\n\nANNA:\nGo.\n")
    frame = read_table(tmp_path / "play.txt", documents=documents)
    assert frame["text"].tolist() == rows and set(frame["text_file"]) == {"play.txt"}


def test_auto_reads_paragraphs_where_there_are_blank_lines_and_lines_where_there_are_none(tmp_path):
    """A corpus of one sentence per line (Penn Treebank's shape) is not one paragraph."""
    (tmp_path / "ptb.txt").write_text(" the cat sat \n a dog ran \n\n")  # a blank line at the end only
    (tmp_path / "play.txt").write_text("ANNA:\nWhere now?\n\nTOM:\nTo Oslo.\n")
    assert read_table(tmp_path / "ptb.txt")["text"].tolist() == [" the cat sat ", " a dog ran "]
    assert read_table(tmp_path / "play.txt")["text"].tolist() == ["ANNA:\nWhere now?", "TOM:\nTo Oslo."]


def test_inputs_to_score_are_one_per_line_unless_the_params_file_says_otherwise(tmp_path):
    from tasks.core.config import load_params
    from tasks.predict import describe_reading, load_texts
    from tests.conftest import REPO

    questions = tmp_path / "questions.txt"
    questions.write_text("What is it?\nWho was it?\n\nWhere is it?\n")
    default = load_params(REPO / "params.yaml")
    assert load_texts(questions, default) == ["What is it?", "Who was it?", "Where is it?"]
    assert describe_reading(questions, default) == "one per line of questions.txt"
    paragraphs = load_params(REPO / "params.causal_lm.yaml", ["data.documents=blank_line"])
    assert load_texts(questions, paragraphs) == ["What is it?\nWho was it?", "Where is it?"]
    (tmp_path / "rows.csv").write_text("text\nfine\n")
    assert describe_reading(tmp_path / "rows.csv", default) == "rows of rows.csv"


def test_a_folder_of_text_is_a_corpus_carved_by_file(tmp_path):
    """Files not named like a split are all training text; carved shares then take whole files."""
    from tasks.core.config import load_params
    from tasks.ingest import assign_splits, load_frames
    from tests.conftest import REPO

    corpus = tmp_path / "books"
    corpus.mkdir()
    for book in range(10):
        (corpus / f"book{book}.txt").write_text("\n\n".join(f"Book {book}, part {part}." for part in range(20)))
    params = load_params(REPO / "params.causal_lm.yaml", [f"data.source={corpus}"])
    splits = assign_splits(load_frames(params.data, "causal_lm"), params.data, seed=0, task="causal_lm")
    files = {name: set(frame["group"]) for name, frame in splits.items()}
    assert len(files["test"]) == 1 and len(files["validation"]) == 1 and len(files["train"]) == 8, files
    assert not files["train"] & (files["test"] | files["validation"])
    single = load_params(REPO / "params.causal_lm.yaml", [f"data.source={corpus / 'book0.txt'}"])
    frames = load_frames(single.data, "causal_lm")
    assert list(frames[0][1].columns) == ["text"], "one file's paragraphs are carved one by one"


def test_an_unknown_suffix_names_the_formats(tmp_path):
    (tmp_path / "data.xml").write_text("<a/>")
    with pytest.raises(LmforgeError, match=r"name it .csv, .jsonl, .parquet or .txt"):
        read_table(tmp_path / "data.xml")
