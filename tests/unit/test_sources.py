import pytest

from tasks.errors import LmforgeError
from tasks.sources import pick_columns, read_source, read_table


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
