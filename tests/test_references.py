"""Reference corpora in every accepted format; every record becomes a document or a counted fate row."""
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.errors import UserError
from corpus.references import (EMPTY_REFERENCE_TEXT, MALFORMED_REFERENCE_LINE, UNREADABLE_REFERENCE_FILE,
                                ingest_references, list_reference_files, parse_reference_spec,
                                reference_records)


def records_of(dataset, path, **kwargs):
    return [r for f in list_reference_files(dataset, str(path)) for r in reference_records(f, **kwargs)]


def test_jsonl_lines_become_documents_or_reasons(tmp_path):
    lines = [json.dumps({"id": "a", "text": "First document.", "url": "http://x.org/a"}), "{not json",
             json.dumps({"id": "b", "text": "   "}), json.dumps(["a", "list"]), "",
             json.dumps({"text": "No id here."})]
    (tmp_path / "wt.jsonl").write_text("\n".join(lines) + "\n")
    records = records_of("webtext2", tmp_path / "wt.jsonl")
    documents = [r for r in records if "reason" not in r]
    reasons = sorted(r["reason"] for r in records if "reason" in r)
    assert [d["text"] for d in documents] == ["First document.", "No id here."]
    assert reasons == sorted([MALFORMED_REFERENCE_LINE, EMPTY_REFERENCE_TEXT, MALFORMED_REFERENCE_LINE])
    assert documents[0]["url"] == "http://x.org/a" and documents[0]["dataset"] == "webtext2"
    assert len({r["doc_id"] for r in records}) == len(records) == 5  # the blank line is not a record


def test_gzip_parquet_and_text_files(tmp_path):
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as handle:
        handle.write(json.dumps({"body": "Gzipped text."}) + "\n")
    pq.write_table(pa.table({"body": ["Row one.", None, "Row three."]}), tmp_path / "b.parquet")
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "c.txt").write_text("A whole book in one file.\n\nChapter two.")
    records = records_of("mix", tmp_path, text_field="body")
    assert sorted(r["text"] for r in records if "reason" not in r) == [
        "A whole book in one file.\n\nChapter two.", "Gzipped text.", "Row one.", "Row three."]
    assert [r["reason"] for r in records if "reason" in r] == [EMPTY_REFERENCE_TEXT]


def test_truncated_gzip_keeps_what_was_read_and_says_so(tmp_path):
    body = gzip.compress(("\n".join(json.dumps({"text": f"line {i} " * 50}) for i in range(200)) + "\n").encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(body[: len(body) // 2])
    records = records_of("w", tmp_path / "cut.jsonl.gz")
    assert records[-1]["reason"] == UNREADABLE_REFERENCE_FILE
    assert len(records) > 1 and all("reason" not in r for r in records[:-1])


@pytest.mark.parametrize("spec, message", [
    ("webtext2", "--reference takes NAME=PATH"),
    ("web text=x.jsonl", "may hold only letters"),
])
def test_bad_specs_are_user_errors(spec, message):
    with pytest.raises(UserError, match=message):
        parse_reference_spec(spec)


def test_missing_and_empty_paths_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        list_reference_files("wiki", str(tmp_path / "nope"))
    (tmp_path / "notes.md").write_text("hi")
    with pytest.raises(UserError, match="holds no .jsonl, .parquet or .txt file"):
        list_reference_files("wiki", str(tmp_path))


def test_ingest_writes_one_part_per_file(spark, tmp_path):
    for i in range(3):
        (tmp_path / f"part{i}.jsonl").write_text(
            "\n".join(json.dumps({"text": f"doc {i}-{j}"}) for j in range(4)) + "\n{broken\n")
    files = list_reference_files("wiki", str(tmp_path))
    ingest_references(spark, files, tmp_path / "out", tmp_path / "fate", "text")
    assert spark.read.parquet(str(tmp_path / "out")).count() == 12
    fate = spark.read.parquet(str(tmp_path / "fate")).collect()
    assert [r["reason"] for r in fate] == [MALFORMED_REFERENCE_LINE] * 3 and {r["stage"] for r in fate} == {"quality"}
    assert sorted(p.name for p in (tmp_path / "out").glob("*.parquet")) == [f"part-0000{i}.parquet" for i in range(3)]
