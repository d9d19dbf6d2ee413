"""A WARC cut into byte ranges gives the rows of the unsplit read: tiny ranges (a few hundred bytes to a few KB, so
every record boundary falls somewhere in a range) over generated files with hostile records, and over the real
files in tests/data/. Ranges run through the stage's own driver (plan, tasks, chain check), tasks in this process."""
import gzip
import os
import shutil
import zlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus import warc as W
from corpus.config import ExtractConfig
from corpus.extract_stage import (DUPLICATE_DOC_ID, TASKS_DIR, extract_partition, extract_tasks, plan_tasks,
                                  run_extract)
from corpus.inputs import resolve_warc_inputs
from corpus.stage_output import StageOutput
from corpus.warc_ranges import looks_like_record_header, plan_ranges
from test_hostile_records import ARTICLE, good
import test_remote_reads
from warc_factory import gzip_bytes, http_block, raw_page, raw_record, write_raw_warc

CFG = ExtractConfig(max_payload_bytes=1_000_000, extract_timeout_s=2.0)
serve = test_remote_reads.serve  # the loopback server fixture, shared with the remote-read tests
DATA = Path(__file__).with_name("data")
REAL = sorted(str(p) for p in DATA.glob("*.warc*"))
SPLITS = (700, 2500, 6000)  # records here are ~1-4 KB: ranges inside one record, and holding several


def _stored_member(data: bytes) -> bytes:
    """A gzip member whose deflate blocks are stored: the data's bytes appear in the file as they are."""
    compressor = zlib.compressobj(0, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _hostile_records() -> list[bytes]:
    article = http_block(ARTICLE.encode())
    warc_in_a_page = raw_record(http_block(raw_page("http://inner.example/", ARTICLE), content_type=b"text/plain"),
                                url=b"http://warc-as-text.example/")  # a WARC record inside a page's text
    return [good(0), raw_record(article, date=b"0001-01-01T00:00:00+14:00"),  # its headers raise: record_error
            good(1), raw_record(http_block(ARTICLE.encode(), [(b"X-Long", b"a" * 70_000)]), url=b"http://long/"),
            good(2), raw_record(http_block(b"\x1f\x8b\x08broken", [(b"Content-Encoding", b"gzip")])),
            good(3), raw_record(http_block(b"", status_line=b"HTTP/1.1 404 Not Found")),
            good(4), warc_in_a_page, good(5), raw_record(article, rec_type=b"request"), good(6)]


def _gzip_with_embedded_warc_gz(path: Path) -> None:
    """Per-record gzip, one record stored uncompressed whose payload is itself a .warc.gz: inside it lie gzip
    members that begin with a WARC header but are no record of this file."""
    inner = b"".join(gzip_bytes(raw_page(f"http://inner.example/{i}", ARTICLE)) for i in range(3))
    carrier = raw_record(http_block(inner, content_type=b"application/warc"), url=b"http://carrier.example/")
    with open(path, "wb") as out:
        for record in [good(0), good(1)]:
            out.write(gzip_bytes(record))
        out.write(_stored_member(carrier))
        for record in [good(2), good(3)]:
            out.write(gzip_bytes(record))


def _generated(root: Path) -> list[str]:
    records = _hostile_records()
    write_raw_warc(root / "hostile.warc.gz", records)
    write_raw_warc(root / "hostile.warc", records, compress=False)
    _gzip_with_embedded_warc_gz(root / "embedded.warc.gz")
    whole = b"".join(gzip_bytes(r) for r in records)
    (root / "truncated.warc.gz").write_bytes(whole[: len(whole) * 2 // 3])
    plain = b"".join(records)
    (root / "truncated.warc").write_bytes(plain[: len(plain) * 2 // 3])
    # bytes that are no gzip member between two records: the read breaks there, the records after are not read
    members = [gzip_bytes(r) for r in records]
    (root / "broken-middle.warc.gz").write_bytes(b"".join(members[:5] + [b"\x1f\x8b\x08garbage" * 50] + members[5:]))
    (root / "trailing-junk.warc").write_bytes(plain + b"not a record\r\n" * 10)
    (root / "one-member.warc.gz").write_bytes(gzip.compress(plain, mtime=0))  # not split-able: range 0 reads all
    (root / "empty.warc.gz").write_bytes(b"")
    (root / "not-a-warc.warc").write_bytes(b"These are notes, not a WARC file.\n" * 200)
    return sorted(str(p) for p in root.iterdir())


def _key(row):
    return row["warc_file"], -1 if row["warc_offset"] is None else row["warc_offset"], row.get("reason") or ""


def extract_locally(paths: list[str], split_bytes: int, stage_dir: Path, log=None) -> tuple[list, list]:
    """The stage's driver with its tasks run in this process: (documents, fate rows), sorted."""
    cfg = ExtractConfig(max_payload_bytes=CFG.max_payload_bytes, extract_timeout_s=CFG.extract_timeout_s,
                        split_bytes=split_bytes)
    shutil.rmtree(stage_dir, ignore_errors=True)
    tasks = plan_tasks(resolve_warc_inputs(paths), cfg)
    extract_tasks(lambda batch: extract_partition(batch, str(stage_dir), cfg), tasks, stage_dir,
                  log=log or (lambda _: None))
    documents = sorted(pq.read_table(stage_dir / "documents").to_pylist(), key=_key)
    fate = sorted(pq.read_table(stage_dir / "fate").to_pylist(), key=_key)
    return documents, fate


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    paths = _generated(root)
    return paths, extract_locally(paths, 0, root.parent / "generated-unsplit")


def _assert_each_record_once(documents, fate):
    located = [(r["warc_file"], r["warc_offset"]) for r in documents + fate if r["doc_id"] is not None]
    assert len(located) == len(set(located))


@pytest.mark.parametrize("split_bytes", SPLITS)
def test_generated_files_in_tiny_ranges_give_the_unsplit_rows(generated, tmp_path, split_bytes):
    paths, (documents, fate) = generated
    said = []
    split_documents, split_fate = extract_locally(paths, split_bytes, tmp_path / "split", said.append)
    assert split_documents == documents and split_fate == fate  # every column, sorted by file and offset
    _assert_each_record_once(split_documents, split_fate)
    # the stored .warc.gz inside a record looks like record starts: ranges that began there were read again
    assert any("only looked like a record start" in line for line in said)


def test_a_record_start_inside_a_record_is_read_again_from_where_the_range_before_ends(tmp_path):
    """A page holding a WARC record as text (uncompressed file) and a stored .warc.gz (gzip file): ranges that
    begin inside them resynchronise there, the chain check reads them again, nothing inside is a record."""
    warc_as_text = raw_record(http_block(raw_page("http://inner.example/", ARTICLE), content_type=b"text/plain"))
    write_raw_warc(tmp_path / "text.warc", [good(0), warc_as_text, good(1)], compress=False)
    _gzip_with_embedded_warc_gz(tmp_path / "embedded.warc.gz")
    for name in ("text.warc", "embedded.warc.gz"):
        path = [str(tmp_path / name)]
        documents, fate = extract_locally(path, 0, tmp_path / f"{name}-unsplit")
        said = []
        assert extract_locally(path, 300, tmp_path / f"{name}-split", said.append) == (documents, fate)
        assert said and all("only looked like a record start" in line for line in said), name
        assert not [r for r in documents + fate if "inner.example" in (r["url"] or "")]


def test_a_file_named_for_the_other_compression_is_split_by_its_bytes(tmp_path):
    records = [r for r in _hostile_records() if b"warc-as-text" not in r]  # no record start inside a record
    write_raw_warc(tmp_path / "gzip-named-plain.warc", records)
    write_raw_warc(tmp_path / "plain-named-gzip.warc.gz", records, compress=False)
    paths = sorted(str(p) for p in tmp_path.iterdir())
    documents, fate = extract_locally(paths, 0, tmp_path.parent / f"{tmp_path.name}-unsplit")
    said = []
    assert extract_locally(paths, 2500, tmp_path.parent / f"{tmp_path.name}-split", said.append) == (documents, fate)
    assert len(documents) == 2 * 7 and said == []  # every range found its start on the first read


def test_the_unsplit_rows_of_the_generated_files_are_what_each_file_holds(generated):
    paths, (documents, fate) = generated
    by_file = {}
    for row in documents + fate:
        by_file.setdefault(Path(row["warc_file"]).name, []).append(row.get("reason"))
    for name in ("hostile.warc.gz", "hostile.warc"):
        assert by_file[name].count(None) == 7 and sorted(r for r in by_file[name] if r) == sorted(
            [W.RECORD_ERROR, W.OVERSIZED_HEADERS, W.UNDECODABLE, W.NOT_HTTP_200, W.NOT_HTML, W.NOT_RESPONSE])
    assert by_file["embedded.warc.gz"] == [None] * 4 + [W.NOT_HTML]  # the carrier, never its inner records
    assert by_file["broken-middle.warc.gz"].count(W.CORRUPT_WARC) == 1
    assert by_file["truncated.warc.gz"][-1] == by_file["truncated.warc"][-1] == W.CORRUPT_WARC
    assert by_file["one-member.warc.gz"][-1] == W.CORRUPT_WARC  # warcio: a member holding many records
    assert by_file["empty.warc.gz"] == [W.EMPTY_WARC] and by_file["not-a-warc.warc"] == [W.CORRUPT_WARC]
    inner = [r for r in documents if "inner.example" in (r["url"] or "")]
    assert inner == []


@pytest.mark.parametrize("split_bytes", (1500, 5000))
def test_the_real_warcs_in_tiny_ranges_give_the_unsplit_rows(tmp_path, split_bytes):
    documents, fate = extract_locally(REAL, 0, tmp_path / "unsplit")
    split_documents, split_fate = extract_locally(REAL, split_bytes, tmp_path / "split")
    assert len(documents) > 20 and split_documents == documents and split_fate == fate
    _assert_each_record_once(split_documents, split_fate)
    assert len(list((tmp_path / "split" / TASKS_DIR).glob("*.done"))) > 10 * len(REAL)  # it was split


def test_ranges_cover_the_file_and_one_range_is_the_whole_file():
    assert plan_ranges(10, 0) == plan_ranges(None, 4) == plan_ranges(10, 10) == [(0, None)]
    assert plan_ranges(10, 4) == [(0, 3), (3, 6), (6, None)]
    assert plan_ranges(8, 4) == [(0, 4), (4, None)]
    size, split = 321_539_524, 32 << 20  # equal ranges: no small last one left to run alone
    lengths = [(end or size) - start for start, end in plan_ranges(size, split)]
    assert len(lengths) == 10 and max(lengths) <= split and max(lengths) - min(lengths) <= 1


def test_a_record_start_needs_a_whole_warc_header():
    header = b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 12\r\n\r\nbody"
    assert looks_like_record_header(header, 100)
    assert not looks_like_record_header(header.replace(b"12", b"twelve"), 100)
    assert not looks_like_record_header(header.replace(b"WARC-Type", b"X-Type"), 100)
    assert not looks_like_record_header(header[:30], 100)  # no end of the header in sight
    assert not looks_like_record_header(b"WARC/2.0" + header[8:], 100)


# Resume: a task's parts and its marker -----------------------------------------------------------------------

def test_a_rerun_runs_only_the_tasks_without_a_marker_and_ends_byte_identical(tmp_path):
    cfg = ExtractConfig(max_payload_bytes=CFG.max_payload_bytes, split_bytes=3000)
    tasks = plan_tasks(resolve_warc_inputs(REAL), cfg)
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    extract_tasks(lambda batch: extract_partition(batch, str(whole), cfg), tasks, whole, log=lambda _: None)
    extract_partition(tasks[::2], str(resumed), cfg)  # a killed run: half the tasks done
    (resumed / "documents" / ".part-00001.parquet.attempt-3-0").write_bytes(b"half a part")  # killed mid-write
    ran, said = [], []

    def run(batch):
        ran.extend(t.index for t in batch)
        extract_partition(batch, str(resumed), cfg)

    extract_tasks(run, tasks, resumed, log=said.append)
    assert sorted(ran) == [t.index for t in tasks[1::2]]
    assert said[0] == f"extract: {len(tasks[::2])} of {len(tasks)} tasks already done, running the rest"
    assert _tree(resumed) == _tree(whole)


def test_a_file_changed_since_the_killed_run_is_read_again(tmp_path):
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    for path in REAL[:2]:
        shutil.copyfile(path, crawl / Path(path).name)
    cfg = ExtractConfig(split_bytes=50_000)
    tasks = plan_tasks(resolve_warc_inputs([str(crawl)]), cfg)
    extract_partition(tasks, str(tmp_path / "out"), cfg)
    changed = sorted(crawl.iterdir())[0]
    os.utime(changed, ns=(0, changed.stat().st_mtime_ns + 10**9))
    ran = []

    def run(batch):
        ran.extend(t.warc.uri for t in batch)
        extract_partition(batch, str(tmp_path / "out"), cfg)

    extract_tasks(run, plan_tasks(resolve_warc_inputs([str(crawl)]), cfg), tmp_path / "out", log=lambda _: None)
    assert ran and set(ran) == {str(changed)}


def test_a_marker_for_another_task_is_not_trusted(tmp_path):
    cfg = ExtractConfig(split_bytes=40_000)
    tasks = plan_tasks(resolve_warc_inputs(REAL), cfg)
    extract_partition(tasks, str(tmp_path), cfg)
    changed = plan_tasks(resolve_warc_inputs(REAL), ExtractConfig(split_bytes=50_000))  # other ranges, fewer
    ran = []

    def run(batch):
        ran.extend(t.index for t in batch)
        extract_partition(batch, str(tmp_path), cfg)

    extract_tasks(run, changed, tmp_path, log=lambda _: None)
    stale = [t.index for t in changed if t.identity() != tasks[t.index].identity()]
    assert len(changed) < len(tasks) and stale and sorted(ran) == stale
    assert not (tmp_path / "documents" / f"part-{len(changed):05d}.parquet").exists()  # a part of no task: gone
    assert not (tmp_path / TASKS_DIR / f"{len(changed):05d}.done").exists()


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_begin_keeps_a_resumable_tmp_with_the_same_settings_only(tmp_path):
    output = StageOutput(tmp_path, "extract")
    tmp = output.begin({"a": 1})
    (tmp / TASKS_DIR).mkdir()
    (tmp / TASKS_DIR / "00000.done").write_text("{}")
    assert (output.begin({"a": 1}) / TASKS_DIR / "00000.done").exists()  # same settings: resumed
    assert not (output.begin({"a": 2}) / TASKS_DIR).exists()  # other settings: made again
    quality = StageOutput(tmp_path, "quality")
    (quality.begin({"a": 1}) / "partial").write_text("x")
    assert not (quality.begin({"a": 1}) / "partial").exists()  # a stage without task markers starts afresh


# The stage on Spark -----------------------------------------------------------------------------------------

def test_the_stage_split_gives_the_unsplit_documents_fate_and_funnel(spark, tmp_path):
    warcs = resolve_warc_inputs(REAL)
    runs = {}
    for name, split in (("unsplit", 0), ("split", 30_000), ("split-again", 30_000)):
        cfg = ExtractConfig(max_payload_bytes=CFG.max_payload_bytes, split_bytes=split)
        counts = run_extract(spark, warcs, tmp_path / name, cfg)
        runs[name] = counts
    assert runs["split"] == runs["unsplit"] == runs["split-again"]
    counts = runs["split"]
    assert counts["in"] == counts["out"] + sum(counts["dropped"].values()) and counts["out"] > 20
    for table in ("documents", "fate"):
        unsplit = sorted(pq.read_table(tmp_path / "unsplit" / table).to_pylist(), key=_key)
        assert sorted(pq.read_table(tmp_path / "split" / table).to_pylist(), key=_key) == unsplit
    assert _tree(tmp_path / "split") == _tree(tmp_path / "split-again")  # byte-identical parts for one split
    assert len(list((tmp_path / "split" / "documents").glob("part-*.parquet"))) > 2 * len(REAL)
    assert counts["dropped"][DUPLICATE_DOC_ID] == 1  # a record two real files hold, kept once split or not


# Remote ranges: the same rows over http, with ranged GETs (corpus.inputs.open_warc(start=)) ------------------

def test_a_remote_warc_in_ranges_gives_the_rows_of_the_local_file(serve, tmp_path):
    local = DATA / "dolma__sample-0000.warc.gz"
    server = serve(local.read_bytes(), [("file",), ("cut", 3000)])  # the second GET breaks off: resumed
    documents, fate = extract_locally([str(local)], 0, tmp_path / "local")
    remote_documents, remote_fate = extract_locally([server.url], 20_000, tmp_path / "remote")
    asked = [r for r in server.ranges if r]
    assert len(asked) >= 10  # one ranged GET per range (and the resume)

    def as_local(rows):
        return [{**r, "warc_file": str(local)} for r in rows]

    assert as_local(remote_documents) == documents
    assert as_local(remote_fate) == fate
