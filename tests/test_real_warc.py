"""WARC files captured from the real web by others (tests/data/NOTICE.md): the stage agrees with warcio."""
import pytest
from warcio.archiveiterator import ArchiveIterator

from corpus.config import ExtractConfig
from corpus.extract_stage import DUPLICATE_DOC_ID
from corpus.ids import doc_id_for_record
from corpus.inputs import resolve_warc_inputs
from corpus.pipeline import PipelineConfig, run_pipeline
from conftest import REAL_WARC_DIR

REAL_FILES = sorted(p.name for p in REAL_WARC_DIR.glob("*.warc*"))


def warcio_oracle(path):
    """(records warcio iterates, record ids of HTTP 200 HTML responses), by warcio alone."""
    records, html_200 = 0, set()
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            records += 1
            if record.rec_type == "response" and record.http_headers is not None \
                    and record.http_headers.get_statuscode() == "200" \
                    and "html" in (record.http_headers.get_header("Content-Type") or ""):
                html_200.add(record.rec_headers.get_header("WARC-Record-ID"))
    return records, html_200


@pytest.fixture(scope="module")
def real_run(spark, tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "out"
    warcs = tuple(resolve_warc_inputs([str(REAL_WARC_DIR)]))
    run_pipeline(spark, PipelineConfig(stages=("extract",), out_dir=out, warcs=warcs, extract=ExtractConfig()), log=lambda *_: None)
    documents = spark.read.parquet(str(out / "extract" / "documents")).collect()
    fate = spark.read.parquet(str(out / "extract" / "fate")).collect()
    return documents, fate


def test_five_real_files_are_there():
    assert len(REAL_FILES) == 5


@pytest.mark.parametrize("name", REAL_FILES)
def test_documents_plus_drops_equal_records_warcio_iterates(real_run, name):
    documents, fate = real_run
    records, html_200 = warcio_oracle(REAL_WARC_DIR / name)
    mine = [d for d in documents if d.warc_file.endswith(name)]
    dropped = [f for f in fate if f.warc_file.endswith(name)]
    assert len(mine) + len(dropped) == records
    # a record another file also holds (warcio's example-trunc.warc is a cut copy of example.warc.gz) is kept once
    copies = {f.doc_id for f in dropped if f.reason == DUPLICATE_DOC_ID}
    assert {d.doc_id for d in mine} | copies == {doc_id_for_record(r) for r in html_200}
    assert all(d.text.strip() for d in mine)


def test_a_record_two_real_files_hold_is_kept_once(real_run):
    documents, fate = real_run
    [copy] = [f for f in fate if f.reason == DUPLICATE_DOC_ID]
    assert copy.warc_file.endswith("warcio__example.warc.gz") and "warcio__example-trunc.warc" in copy.detail
    assert len({d.doc_id for d in documents}) == len(documents)


def test_mixed_charsets_decoded(real_run):
    documents, _ = real_run
    charsets = {d.charset for d in documents}
    assert {"utf-8", "cp1251", "gb2312"} <= charsets or {"utf-8", "cp1251", "gbk"} <= charsets
    russian = [d for d in documents if d.charset == "cp1251"]
    assert any("компании" in d.text for d in russian)
