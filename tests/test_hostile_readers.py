"""Issue 16, item 4: reference and benchmark readers never crash on a line.

Every hostile line here is written as raw bytes by the test: nested deeper than the parser's stack, longer
than the line cap, not UTF-8, escaping a lone surrogate; around it sit good lines that must all be kept, and
every bad one is accounted for (references: in == documents + fate rows; benchmarks: in == examples + skipped).
"""
import gzip
import hashlib
import json
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.benchmarks import MALFORMED_JSON, UNREADABLE_REST, file_digest, load_benchmark, load_benchmarks
from corpus.jsonl import MAX_JSON_DEPTH, MAX_LINE_BYTES, MalformedLine, bounded_lines, loads
from corpus.references import (EMPTY_REFERENCE_TEXT, MALFORMED_REFERENCE_LINE, OVERSIZED_REFERENCE_FILE,
                               UNREADABLE_REFERENCE_FILE, ingest_references, list_reference_files,
                               reference_records)
from model.contamination import load_contamination
from model.tasks import GENERATE, resolve_tasks

DEEP = b"[" * 100_000  # json.loads raises RecursionError on this
TOO_LONG = b'{"text": "' + b"x" * (MAX_LINE_BYTES + 1) + b'"}'
NOT_UTF8 = b'{"text": "caf\xe9 au lait"}'  # Latin-1, not UTF-8
LONE_SURROGATE = b'{"text": "half a pair: \\ud800"}'  # valid JSON, but no UTF-8 writer can encode the text
HOSTILE = {"deep": DEEP, "too_long": TOO_LONG, "not_utf8": NOT_UTF8, "lone_surrogate": LONE_SURROGATE}


def good_reference(i: int) -> bytes:
    return json.dumps({"id": f"good{i}", "text": f"Good document number {i}."}).encode()


def write_lines(path, lines: list[bytes], gzipped: bool = False):
    payload = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(payload) if gzipped else payload)
    return path


def records_of(path, **kwargs) -> list[dict]:
    return [r for f in list_reference_files("ref", str(path)) for r in reference_records(f, **kwargs)]


def split(records: list[dict]) -> tuple[list[dict], list[dict]]:
    return [r for r in records if "reason" not in r], [r for r in records if "reason" in r]


# --- the line parser ---------------------------------------------------------------------------------------

def test_depth_is_checked_outside_strings_and_before_parsing():
    at_cap = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert loads(at_cap) == json.loads(at_cap)
    with pytest.raises(MalformedLine, match="deeper than"):
        loads(b"[" + at_cap + b"]")
    brackets_in_a_string = b'{"text": "' + b"[{" * 10_000 + b'\\" ]]"}'
    assert loads(brackets_in_a_string)["text"].startswith("[{[{")
    with pytest.raises(MalformedLine, match="deeper than"):
        loads(b"[" * 10_000_000)  # refused by the pre-scan: json.loads never sees it
    assert loads(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}  # a byte-order mark, as json.loads(bytes) allows
    assert loads(b'{"emoji": "\\ud83d\\ude00"}') == {"emoji": "\U0001F600"}  # a surrogate pair is one character


@pytest.mark.parametrize("kind", ["deep", "not_utf8", "lone_surrogate"])
def test_each_hostile_kind_is_a_malformed_line(kind):
    with pytest.raises(MalformedLine):
        loads(HOSTILE[kind])


def test_an_over_long_line_is_read_past_in_chunks_never_held_whole(tmp_path):
    path = tmp_path / "runaway.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(good_reference(0) + b"\n")
        for _ in range(16):  # 256 MiB on one line
            handle.write(b"[" * (16 * 1024 * 1024))
        handle.write(b"\n" + good_reference(1) + b"\n")
    tracemalloc.start()
    with gzip.open(path, "rb") as handle:
        lines = list(bounded_lines(handle, max_length=1024 * 1024))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert lines == [(0, good_reference(0)), (1, None), (2, good_reference(1))]
    assert peak < 16 * 1024 * 1024  # the line is 256 MiB; a 1 MiB cap holds a few MiB at most


# --- reference readers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("gzipped", [False, True], ids=["jsonl", "jsonl.gz"])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_reference_line_is_one_fate_row_between_kept_documents(tmp_path, kind, gzipped):
    path = write_lines(tmp_path / ("ref.jsonl.gz" if gzipped else "ref.jsonl"),
                       [good_reference(0), HOSTILE[kind], good_reference(1)], gzipped)
    documents, fate = split(records_of(path))
    assert [d["text"] for d in documents] == ["Good document number 0.", "Good document number 1."]
    assert [(f["reason"], f["warc_offset"]) for f in fate] == [(MALFORMED_REFERENCE_LINE, 1)]
    assert len(documents) + len(fate) == 3  # in == documents + fate rows


def test_a_truncated_gzip_after_a_hostile_line_keeps_what_came_before(tmp_path):
    body = gzip.compress(b"\n".join([good_reference(0), DEEP] + [good_reference(i) for i in range(1, 400)]))
    (tmp_path / "cut.jsonl.gz").write_bytes(body[:len(body) * 3 // 4])
    documents, fate = split(records_of(tmp_path / "cut.jsonl.gz"))
    assert documents[0]["text"] == "Good document number 0." and len(documents) > 100
    assert [f["reason"] for f in fate] == [MALFORMED_REFERENCE_LINE, UNREADABLE_REFERENCE_FILE]


@pytest.mark.parametrize("gzipped", [False, True], ids=["txt", "txt.gz"])
def test_a_text_file_over_the_cap_is_one_fate_row_and_its_neighbours_are_read(tmp_path, gzipped):
    huge = b"All work and no play. " * (MAX_LINE_BYTES // 22 + 1)
    (tmp_path / ("huge.txt.gz" if gzipped else "huge.txt")).write_bytes(gzip.compress(huge) if gzipped else huge)
    (tmp_path / "small.txt").write_bytes(b"A small book.\r\nThe end.")
    documents, fate = split(records_of(tmp_path))
    assert [d["text"] for d in documents] == ["A small book.\nThe end."]  # newlines as TextIOWrapper reads them
    assert [(f["reason"], f["warc_file"]) for f in fate] == [
        (OVERSIZED_REFERENCE_FILE, "huge.txt.gz" if gzipped else "huge.txt")]


def test_a_non_string_parquet_text_column_is_a_fate_row_per_row(tmp_path):
    pq.write_table(pa.table({"text": pa.array([1, 2, 3], pa.int64())}), tmp_path / "ints.parquet")
    pq.write_table(pa.table({"text": ["Kept one.", "Kept two."], "id": [{"a": 1}, {"a": 2}]}), tmp_path / "ok.parquet")
    documents, fate = split(records_of(tmp_path))
    assert [d["text"] for d in documents] == ["Kept one.", "Kept two."]
    assert [f["reason"] for f in fate] == [EMPTY_REFERENCE_TEXT] * 3 and "int, not a string" in fate[0]["detail"]


def test_parquet_text_that_is_not_utf8_or_over_the_cap_is_a_fate_row(tmp_path):
    raw = pa.array([b"First good row.", b"caf\xe9", b"x" * (MAX_LINE_BYTES + 1), b"Last good row."], pa.binary())
    unchecked = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())  # Arrow reads such files unchecked
    pq.write_table(pa.table({"text": unchecked}), tmp_path / "hostile.parquet")
    documents, fate = split(records_of(tmp_path / "hostile.parquet"))
    assert [(d["text"], d["warc_offset"]) for d in documents] == [("First good row.", 0), ("Last good row.", 3)]
    assert [(f["reason"], f["warc_offset"]) for f in fate] == [(MALFORMED_REFERENCE_LINE, 1),
                                                              (MALFORMED_REFERENCE_LINE, 2)]
    assert "not UTF-8" in fate[0]["detail"] and "over the" in fate[1]["detail"]


def test_reference_ingest_over_hostile_lines_writes_every_good_document(spark, tmp_path):
    lines = [good_reference(0), DEEP, good_reference(1), NOT_UTF8, LONE_SURROGATE, good_reference(2), TOO_LONG]
    (tmp_path / "refs").mkdir()
    write_lines(tmp_path / "refs" / "hostile.jsonl", lines)
    files = list_reference_files("wiki", str(tmp_path / "refs"))
    ingest_references(spark, files, tmp_path / "out", tmp_path / "fate", "text")
    documents = spark.read.parquet(str(tmp_path / "out")).orderBy("warc_offset").collect()
    fate = spark.read.parquet(str(tmp_path / "fate")).orderBy("warc_offset").collect()
    assert [d["text"] for d in documents] == [f"Good document number {i}." for i in range(3)]
    assert [(f["reason"], f["warc_offset"]) for f in fate] == [(MALFORMED_REFERENCE_LINE, i) for i in (1, 3, 4, 6)]
    assert len(documents) + len(fate) == len(lines)


# --- benchmark readers -------------------------------------------------------------------------------------

GOOD_EXAMPLES = [json.dumps({"context": f"Q: {i} plus 1?\nA:", "completion": f" {i + 1}"}) for i in range(3)]


def hostile_benchmark(path, gzipped: bool = False):
    """Good lines at 0, 2, 4 and 7 with the hostile kinds between them; a CRLF line ending on one."""
    good = [g.encode() for g in GOOD_EXAMPLES] + [json.dumps({"question": "Caf\u00e9?", "choices": ["oui", "non"],
                                                              "label": 0}, ensure_ascii=False).encode()]
    lines = [good[0], DEEP, good[1] + b"\r", TOO_LONG, good[2], NOT_UTF8 + b"\n" + LONE_SURROGATE, good[3]]
    return write_lines(path, lines, gzipped)


@pytest.mark.parametrize("gzipped", [False, True], ids=["jsonl", "jsonl.gz"])
def test_hostile_benchmark_lines_are_counted_malformed_and_good_lines_kept_verbatim(tmp_path, gzipped):
    path = hostile_benchmark(tmp_path / ("bench.jsonl.gz" if gzipped else "bench.jsonl"), gzipped)
    bench = load_benchmark(str(path))
    assert [e.id for e in bench.examples] == ["0", "2", "4", "7"]
    assert [e.line for e in bench.examples[:3]] == GOOD_EXAMPLES  # verbatim: the clean/dirty subsets hold these
    assert bench.examples[3].line == '{"question": "Café?", "choices": ["oui", "non"], "label": 0}'
    assert bench.skipped == {MALFORMED_JSON: 4}
    assert len(bench.examples) + sum(bench.skipped.values()) == 8  # in == examples + skipped


def test_a_truncated_benchmark_gzip_keeps_the_examples_before_the_break(tmp_path):
    body = gzip.compress(("\n".join(json.dumps({"text": f"example {i} " * 20}) for i in range(500)) + "\n").encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(body[:len(body) // 2])
    bench = load_benchmark(str(tmp_path / "cut.jsonl.gz"), text_fields=("text",))
    assert len(bench.examples) > 50 and [e.id for e in bench.examples] == [str(i) for i in range(len(bench.examples))]
    assert bench.skipped == {UNREADABLE_REST: 1}
    (tmp_path / "fake.jsonl.gz").write_bytes(b"not gzip at all\n")
    assert load_benchmarks([str(tmp_path / "fake.jsonl.gz")])[0].skipped == {UNREADABLE_REST: 1}


def test_file_digest_reads_in_chunks_and_keeps_its_value(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(json.dumps({"text": f"line {i}"}).encode() + b"\n" for i in range(200_000)))
    assert file_digest(str(path)) == hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    assert file_digest(str(path)) != file_digest(str(write_lines(tmp_path / "other.jsonl", [b"{}"])))


def test_evaluator_task_loading_of_a_hostile_benchmark_finishes_with_the_good_items(tmp_path):
    path = write_lines(tmp_path / "sums.jsonl", [GOOD_EXAMPLES[0].encode(), DEEP, GOOD_EXAMPLES[1].encode(),
                                                 TOO_LONG, NOT_UTF8, LONE_SURROGATE, GOOD_EXAMPLES[2].encode()])
    (task,) = resolve_tasks(str(path))
    assert (task.name, task.kind) == ("sums", GENERATE)
    assert [(i.id, i.target, i.line) for i in task.items] == [
        ("0", " 1", GOOD_EXAMPLES[0]), ("2", " 2", GOOD_EXAMPLES[1]), ("6", " 3", GOOD_EXAMPLES[2])]


def test_contamination_subsets_are_split_like_benchmark_lines(tmp_path):
    separator_in_a_string = json.dumps({"context": "a\u2028b", "completion": " c"}, ensure_ascii=False)
    (tmp_path / "t.dirty.jsonl").write_text(separator_in_a_string + "\n", encoding="utf-8")
    (tmp_path / "t.clean.jsonl").write_bytes(DEEP + b"\n" + NOT_UTF8 + b"\n" + GOOD_EXAMPLES[0].encode() + b"\n")
    subsets = load_contamination(tmp_path)["t"]
    assert subsets.dirty_lines == {separator_in_a_string}  # str.splitlines would cut it at U+2028
    assert GOOD_EXAMPLES[0] in subsets.clean_lines and len(subsets.clean_lines) == 3
