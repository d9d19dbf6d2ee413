"""Hostile records, written here as raw bytes and gzip members: each bad one is accounted for by its reason,
every good one around it is kept, and the reader's memory stays bounded by its caps, not by the input."""
import gzip
import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import brotli
import pyarrow.parquet as pq
import pytest

from corpus import warc as W
from corpus.config import ExtractConfig
from corpus.extract import HtmlToText
from corpus.ids import doc_id_for_location, doc_id_for_record
from corpus.parquet_parts import PartWriter
from corpus.schema import DOCUMENT_ARROW, DOCUMENT_COLUMNS, FATE_ARROW
from warc_factory import (append_gzip_member, article_html, http_block, raw_page, raw_record,
                          record_with_long_line, write_raw_warc)

CFG = ExtractConfig(max_payload_bytes=1_000_000, extract_timeout_s=2.0)
ARTICLE = article_html("Encoded page", salt=7)
PROSE = "The river town kept its old stone bridge"  # in ARTICLE's text


@pytest.fixture(scope="module")
def html_to_text():
    return HtmlToText(CFG)


def good(i: int) -> bytes:
    return raw_page(f"http://good.example/{i}", article_html(f"Good page {i}", salt=i))


def outcomes(path, html_to_text, cfg=CFG):
    with open(path, "rb") as stream:
        return list(W.iter_warc_outcomes(stream, path.name, cfg, html_to_text))


def surrounded(bad: list[bytes]) -> list[bytes]:
    """good, bad, good, bad, ..., good"""
    records = [good(0)]
    for i, record in enumerate(bad, start=1):
        records += [record, good(i)]
    return records


def assert_good_kept(rows, n_good: int) -> None:
    kept = {r["url"] for r in rows if r["reason"] is None}
    assert {f"http://good.example/{i}" for i in range(n_good)} <= kept


def write_parts(rows, tmp_path) -> tuple[int, int]:
    """Write the rows as the extract stage does (documents / fate parts) and read them back: every row
    must be storable (no lone surrogate, no out-of-range timestamp)."""
    documents = PartWriter(tmp_path / "documents", 0, DOCUMENT_ARROW)
    fate = PartWriter(tmp_path / "fate", 0, FATE_ARROW)
    for row in rows:
        if row["reason"] is None:
            documents.add({c: row[c] for c in DOCUMENT_COLUMNS})
        else:
            fate.add({**row, "stage": W.STAGE})
    documents.close()
    fate.close()
    return (pq.read_table(tmp_path / "documents").num_rows, pq.read_table(tmp_path / "fate").num_rows)


# 1. Per-record isolation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [True, False])
def test_a_record_whose_headers_raise_is_its_own_fate_and_the_file_goes_on(tmp_path, html_to_text, compress):
    article = http_block(ARTICLE.encode())
    no_id_url = b"http://bad.example/no-record-id"
    bad = {
        # dates UTC cannot hold: datetime raises OverflowError converting them
        "date-plus-14": (raw_record(article, url=b"http://bad.example/d1", date=b"0001-01-01T00:00:00+14:00"),
                         W.RECORD_ERROR),
        "date-minus-14": (raw_record(article, url=b"http://bad.example/d2", date=b"9999-12-31T23:59:59-14:00"),
                          W.RECORD_ERROR),
        "no-record-id": (raw_record(article, url=no_id_url, record_id=b"", date=b"0001-01-01T00:00:00+14:00"),
                         W.RECORD_ERROR),
        # charset labels naming codecs that bytes.decode refuses (LookupError, UnicodeError): fall through
        "rot13": (raw_record(http_block(ARTICLE.encode(), content_type=b"text/html; charset=rot13"),
                             url=b"http://odd.example/rot13"), None),
        "base64": (raw_record(http_block(ARTICLE.encode(), content_type=b"text/html; charset=base64"),
                              url=b"http://odd.example/base64"), None),
        "undefined": (raw_record(http_block(ARTICLE.encode(), content_type=b"text/html; charset=undefined"),
                                 url=b"http://odd.example/undefined"), None),
        # utf-7 decodes this to a lone surrogate, which no Parquet writer accepts
        "utf-7": (raw_record(http_block(ARTICLE.replace("</p>", " +2ADYAA-</p>", 1).encode(),
                                        content_type=b"text/html; charset=utf-7"), url=b"http://odd.example/u7"),
                  None),
        # out-of-range and junk values that must simply be data
        "year-1": (raw_record(article, url=b"http://odd.example/year1", date=b"0001-01-01T00:00:00Z"), None),
        "year-99999": (raw_record(article, url=b"http://odd.example/y99999", date=b"99999-01-01T00:00:00Z"), None),
        "huge-status": (raw_record(http_block(b"<p>x</p>", status_line=b"HTTP/1.1 2000000000000 OK"),
                                   url=b"http://bad.example/status"), W.NOT_HTTP_200),
        "junk-status": (raw_record(http_block(b"<p>x</p>", status_line=b"HTTP/1.1 \xff\xfe\x00\x07 OK"),
                                   url=b"http://bad.example/junk"), W.NOT_HTTP_200),
        "junk-uri": (raw_record(article, url=b"http://odd.example/\xff\xfe\x00"), None),
    }
    path = tmp_path / ("isolated.warc.gz" if compress else "isolated.warc")
    write_raw_warc(path, surrounded([record for record, _ in bad.values()]), compress=compress)
    rows = outcomes(path, html_to_text)

    assert len(rows) == 2 * len(bad) + 1  # in == good + dropped: one outcome per record, none raised
    assert_good_kept(rows, len(bad) + 1)
    assert [r["reason"] for r in rows[1::2]] == [reason for _, reason in bad.values()]
    errors = [r for r in rows if r["reason"] == W.RECORD_ERROR]
    assert all(r["detail"].startswith("OverflowError") for r in errors)
    assert all(r["doc_id"] == doc_id_for_record(r["warc_record_id"]) for r in errors if r["warc_record_id"])
    [no_id] = [r for r in errors if r["url"] == no_id_url.decode()]
    assert no_id["doc_id"] == doc_id_for_location(path.name, no_id["warc_offset"])
    by_url = {r["url"]: r for r in rows}
    assert by_url["http://odd.example/year1"]["fetch_time"] is None  # no crawl fetched a page in year 1
    assert all(PROSE in by_url[f"http://odd.example/{name}"]["text"] for name in ("rot13", "base64", "undefined"))
    assert all(r["detail"] is None or r["detail"].isascii() and r["detail"].isprintable() for r in rows)
    assert write_parts(rows, tmp_path) == (sum(r["reason"] is None for r in rows),
                                           sum(r["reason"] is not None for r in rows))


# 2. Bounded headers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [True, False])
def test_http_headers_over_a_cap_drop_only_their_record(tmp_path, html_to_text, compress):
    cfg = ExtractConfig(max_payload_bytes=CFG.max_payload_bytes, extract_timeout_s=2.0)
    line_cap, lines_cap = cfg.max_header_line_bytes, cfg.max_header_lines
    long_line = [(b"X-Long", b"v" * (line_cap + 1))]
    many_lines = [(b"X-Many-%d" % i, b"1") for i in range(lines_cap + 1)]
    folded = [(b"X-Folded", b"start" + b"\r\n  more" * (lines_cap + 1))]  # continuation lines count too
    bad = [raw_record(http_block(ARTICLE.encode(), headers), url=f"http://bad.example/{i}".encode())
           for i, headers in enumerate([long_line, many_lines, folded])]
    within = raw_page("http://good.example/within-caps", ARTICLE, headers=[(b"X-Wide", b"w" * (line_cap - 100))])
    path = tmp_path / ("http.warc.gz" if compress else "http.warc")
    write_raw_warc(path, surrounded(bad) + [within], compress=compress)
    rows = outcomes(path, html_to_text, cfg)

    assert len(rows) == 2 * len(bad) + 2
    assert_good_kept(rows, len(bad) + 1)
    assert rows[-1]["reason"] is None and rows[-1]["url"] == "http://good.example/within-caps"
    assert [(r["reason"], r["detail"]) for r in rows[1:-1:2]] == [
        (W.OVERSIZED_HEADERS, f"HTTP header line longer than {line_cap} bytes"),
        (W.OVERSIZED_HEADERS, f"HTTP headers of more than {lines_cap} lines"),
        (W.OVERSIZED_HEADERS, f"HTTP headers of more than {lines_cap} lines")]
    assert all(r["doc_id"] == doc_id_for_record(r["warc_record_id"]) for r in rows)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("where", ["first line", "header line", "line count"])
def test_warc_headers_over_a_cap_end_the_file_keeping_the_records_before(tmp_path, html_to_text, compress, where):
    cfg = ExtractConfig(max_header_line_bytes=4096, max_header_lines=50)
    block = http_block(ARTICLE.encode())
    bad = {"first line": b"WARC/1.0" + b" " * 5000 + b"\r\n" + raw_record(block).split(b"\r\n", 1)[1],
           "header line": raw_record(block, warc_headers=[(b"X-Long", b"v" * 5000)]),
           "line count": raw_record(block, warc_headers=[(b"X-Many-%d" % i, b"1") for i in range(60)])}[where]
    path = tmp_path / ("warc.warc.gz" if compress else "warc.warc")
    write_raw_warc(path, [good(0), good(1), bad, good(2)], compress=compress)
    rows = outcomes(path, html_to_text, cfg)

    assert [r["reason"] for r in rows] == [None, None, W.CORRUPT_WARC]  # the stream past it is not trusted
    expected = "WARC headers of more than 50 lines" if where == "line count" else \
        "WARC header line longer than 4096 bytes"
    assert rows[-1]["detail"] == f"2 records read before: {expected}"
    assert rows[-1]["doc_id"] is None


def test_blank_lines_between_records_are_capped_too(tmp_path, html_to_text):
    cfg = ExtractConfig(max_header_lines=50)
    path = tmp_path / "blank.warc"
    path.write_bytes(good(0) + b"\r\n" * 200 + good(1))
    rows = outcomes(path, html_to_text, cfg)
    assert [r["reason"] for r in rows] == [None, W.CORRUPT_WARC]
    assert rows[-1]["detail"] == "1 records read before: more than 50 lines between two WARC records"
    path.write_bytes(good(0) + b"\r\n" * 40 + good(1))  # under the cap: warcio's tolerance is kept
    assert [r["reason"] for r in outcomes(path, html_to_text, cfg)] == [None, None]


WORKER = Path(__file__).with_name("read_warc_in_worker.py")  # reads a file in a fresh process


@pytest.mark.timeout(120)
def test_a_gigabyte_header_line_costs_a_worker_megabytes(tmp_path):
    """A .warc.gz of ~10 MB holding two 1 GiB header lines, one HTTP, one WARC, read in a fresh worker."""
    gib = 1 << 30
    path = tmp_path / "gigabyte-lines.warc.gz"
    with open(path, "wb") as out:
        for pieces in ([good(0)], record_with_long_line(gib, "http", url=b"http://bad.example/http-line"),
                       [good(1)], record_with_long_line(gib, "warc", url=b"http://bad.example/warc-line"),
                       [good(2)]):
            append_gzip_member(out, pieces)
    result = subprocess.run([sys.executable, str(WORKER), str(path)], capture_output=True,
                            text=True, timeout=100, check=True)
    report = json.loads(result.stdout)
    print(f"\n{path.stat().st_size / 1e6:.1f} MB .warc.gz with two 1 GiB header lines: "
          f"worker peak RSS {report['peak_rss_mb']:.0f} MB")
    assert [(url, reason) for url, reason, _ in report["rows"]] == [
        ("http://good.example/0", None), ("http://bad.example/http-line", W.OVERSIZED_HEADERS),
        ("http://good.example/1", None), (None, W.CORRUPT_WARC)]  # good(2) lies past the broken stream
    assert report["rows"][-1][2] == "3 records read before: WARC header line longer than 65536 bytes"
    assert report["peak_rss_mb"] < 250


# 2. Content-Encoding ---------------------------------------------------------------------------------------

def _encoded(url: str, body: bytes, encoding: bytes, chunked: bool = False) -> bytes:
    headers = [(b"Content-Encoding", encoding)]
    if chunked:
        headers.append((b"Transfer-Encoding", b"chunked"))
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 300]), body[i:i + 300])
                        for i in range(0, len(body), 300)) + b"0\r\n\r\n"
    return raw_record(http_block(body, headers), url=url.encode())


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def test_every_accepted_content_encoding_decodes_and_a_broken_one_is_undecodable(tmp_path, html_to_text):
    html = ARTICLE.encode()
    gz = gzip.compress(html, mtime=0)
    corrupt_crc = gz[:-8] + bytes([gz[-8] ^ 0xFF]) + gz[-7:]
    bomb = gzip.compress(b"<html><body>" + b"a" * (CFG.max_payload_bytes * 20), mtime=0)  # ~20 KB -> 20 MB
    records = {
        "identity": (_encoded("http://enc.example/identity", html, b"identity"), None, None),
        "gzip": (_encoded("http://enc.example/gzip", gz, b"gzip"), None, None),
        "x-gzip": (_encoded("http://enc.example/x-gzip", gz, b"X-GZIP"), None, None),
        "deflate-zlib": (_encoded("http://enc.example/zlib", zlib.compress(html), b"deflate"), None, None),
        "deflate-raw": (_encoded("http://enc.example/raw", _raw_deflate(html), b"deflate"), None, None),
        "br": (_encoded("http://enc.example/br", brotli.compress(html), b"br"), None, None),
        "stacked": (_encoded("http://enc.example/stacked", brotli.compress(gz), b"gzip, br"), None, None),
        "chunked-gzip": (_encoded("http://enc.example/chunked", gz, b"gzip", chunked=True), None, None),
        # every compressed byte arrived, only the checksum trailer is cut: the text is whole
        "gzip-trailer-cut": (_encoded("http://enc.example/trailer", gz[:-3], b"gzip"), None, None),
        "gzip-cut-midway": (_encoded("http://enc.example/gzip-cut", gz[: len(gz) // 2], b"gzip"),
                            W.UNDECODABLE, "Content-Encoding gzip: the body ends before its compressed stream "
                                           "does (truncated)"),
        "chunked-gzip-cut": (_encoded("http://enc.example/chunked-cut", gz[: len(gz) // 2], b"gzip", chunked=True),
                             W.UNDECODABLE, "Content-Encoding gzip: the body ends"),
        "deflate-cut": (_encoded("http://enc.example/deflate-cut", zlib.compress(html)[:-300], b"deflate"),
                        W.UNDECODABLE, "Content-Encoding deflate: the body ends"),
        "raw-deflate-cut": (_encoded("http://enc.example/raw-cut", _raw_deflate(html)[:-300], b"deflate"),
                            W.UNDECODABLE, "Content-Encoding deflate: the body ends"),
        "br-cut": (_encoded("http://enc.example/br-cut", brotli.compress(html)[:-300], b"br"),
                   W.UNDECODABLE, "Content-Encoding br: the body ends"),
        "gzip-bad-crc": (_encoded("http://enc.example/crc", corrupt_crc, b"gzip"),
                         W.UNDECODABLE, "Content-Encoding gzip: Error -3 while decompressing data: incorrect data check"),
        "not-gzip": (_encoded("http://enc.example/not-gzip", html, b"gzip"),
                     W.UNDECODABLE, "Content-Encoding gzip: Error -3 while decompressing data: incorrect header check"),
        "unknown": (_encoded("http://enc.example/unknown", html, b"compress"),
                    W.UNDECODABLE, "Content-Encoding compress is not supported"),
        "gzip-bomb": (_encoded("http://enc.example/bomb", bomb, b"gzip"),
                      W.OVER_SIZE_CAP, f"payload over the cap of {CFG.max_payload_bytes} bytes"),
        "br-bomb": (_encoded("http://enc.example/br-bomb", brotli.compress(b"a" * (CFG.max_payload_bytes * 50)), b"br"),
                    W.OVER_SIZE_CAP, f"payload over the cap of {CFG.max_payload_bytes} bytes"),
    }
    path = tmp_path / "encodings.warc.gz"
    write_raw_warc(path, surrounded([record for record, _, _ in records.values()]))
    rows = outcomes(path, html_to_text)

    assert len(rows) == 2 * len(records) + 1
    assert_good_kept(rows, len(records) + 1)
    for (name, (_, reason, detail)), row in zip(records.items(), rows[1::2]):
        assert row["reason"] == reason, name
        if reason is None:
            assert PROSE in row["text"], name
        else:
            assert row["detail"].startswith(detail), (name, row["detail"])


def test_a_gzip_body_cut_midway_is_not_kept_as_a_shorter_page(tmp_path, html_to_text):
    """Before: warcio inflated what was there and the page was kept with its text silently cut short."""
    long_article = article_html("Long page", paragraphs=60, salt=3).encode()
    gz = gzip.compress(long_article, mtime=0)
    path = tmp_path / "cut.warc.gz"
    write_raw_warc(path, [good(0), _encoded("http://enc.example/cut", gz[: len(gz) * 2 // 3], b"gzip"), good(1)])
    rows = outcomes(path, html_to_text)
    assert [r["reason"] for r in rows] == [None, W.UNDECODABLE, None]
    assert "gzip" in rows[1]["detail"] and "truncated" in rows[1]["detail"]


# 3. Fate detail of a file that is not a WARC --------------------------------------------------------------

PADDING = "This file is not a WARC, it holds notes: "  # 41 characters: what may be quoted, and no more
SECRET = "user=alice password=hunter2 token=0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("name, content", [
    ("text.warc", f"{PADDING}{SECRET}\nsecond line {SECRET}\n".encode()),
    ("text.warc.gz", gzip.compress(f"{PADDING}{SECRET}\n".encode() * 10, mtime=0)),
    ("binary.warc", b"\x00\x01\x02\x1b[2J\x07\xff\xfe" + PADDING.encode() + SECRET.encode() + b"\n"),
    ("one-long-line.warc", SECRET.encode() * 5000),
    ("html.warc.gz", f"<html><head><title>{PADDING}{SECRET}</title></head></html>\n".encode() * 30),
])
def test_a_non_warc_file_leaks_at_most_a_short_printable_prefix(tmp_path, html_to_text, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    rows = outcomes(path, html_to_text)
    assert [(r["reason"], r["doc_id"]) for r in rows] == [(W.CORRUPT_WARC, None)]
    detail = rows[0]["detail"]
    assert detail.isascii() and detail.isprintable()
    assert "alice" not in detail and "hunter2" not in detail and "0123456789abcdef" not in detail
    quoted = detail.partition("its first line begins ")[2]
    if quoted:
        assert detail.startswith("0 records read before: not a WARC record, its first line begins '")
        assert len(quoted) <= 40 + 2  # the prefix and its quotes
    else:
        assert detail == "0 records read before: WARC header line longer than 65536 bytes"


def test_a_stream_error_after_good_records_quotes_no_bytes(tmp_path, html_to_text):
    path = tmp_path / "tail.warc"
    path.write_bytes(good(0) + good(1) + f"garbage after the records {SECRET}\n".encode())
    rows = outcomes(path, html_to_text)
    assert [r["reason"] for r in rows] == [None, None, W.CORRUPT_WARC]
    assert rows[-1]["detail"] == ("2 records read before: not a WARC record, its first line begins "
                                  "'garbage after the records user=alice pas'")


def test_fate_details_from_the_stream_are_printable(tmp_path, html_to_text):
    path = tmp_path / "junk.warc.gz"
    record = raw_record(http_block(b"x", status_line=b"HTTP/1.1 404 \x1b[31m\xe2\x80\xae red\x00" + b"!" * 500),
                        url=b"http://junk.example/")
    write_raw_warc(path, [good(0), record, good(1)])
    rows = outcomes(path, html_to_text)
    assert [r["reason"] for r in rows] == [None, W.NOT_HTTP_200, None]
    assert rows[1]["detail"].startswith("HTTP 404 ?[31m? red?!!!") and len(rows[1]["detail"]) == 300
    assert rows[1]["detail"].isascii() and rows[1]["detail"].isprintable()


def test_stream_helpers_read_only_what_the_caps_allow():
    """The bounded line reader on warcio's own buffered reader: a line over the cap stops the read early, and
    a line under it is whole even across the reader's buffer boundaries (where warcio returns part lines)."""
    from warcio.bufferedreaders import BufferedReader
    from corpus.bounded_read import HeaderLimitExceeded, read_bounded_line
    raw = io.BytesIO(b"short\r\n" + b"y" * 4000 + b"\r\n" + b"x" * 100_000 + b"\r\nafter\r\n")
    reader = BufferedReader(raw, block_size=1024)
    assert read_bounded_line(reader, 5000, "WARC") == b"short\r\n"
    assert read_bounded_line(reader, 5000, "WARC") == b"y" * 4000 + b"\r\n"
    with pytest.raises(HeaderLimitExceeded, match="WARC header line longer than 5000 bytes"):
        read_bounded_line(reader, 5000, "WARC")
    assert raw.tell() < 12_000  # it stopped near the cap, not at the end of the long line


# The job ------------------------------------------------------------------------------------------------

def test_the_extract_job_finishes_and_accounts_for_every_hostile_record(spark, tmp_path):
    """The records that used to fail the task on every retry (a WARC-Date UTC cannot hold, a charset naming
    a bytes-to-bytes codec), among the other hostile kinds, through the Spark stage."""
    from corpus.inputs import resolve_warc_inputs
    from corpus.pipeline import PipelineConfig, run_pipeline
    article = http_block(ARTICLE.encode())
    bad = [raw_record(article, url=b"http://bad.example/date", date=b"0001-01-01T00:00:00+14:00"),
           raw_record(http_block(ARTICLE.encode(), content_type=b"text/html; charset=base64"),
                      url=b"http://odd.example/base64"),
           raw_record(http_block(ARTICLE.encode(), [(b"X-Long", b"v" * 70_000)]), url=b"http://bad.example/hdr"),
           _encoded("http://bad.example/cut", gzip.compress(ARTICLE.encode())[:300], b"gzip")]
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    write_raw_warc(crawl / "hostile.warc.gz", surrounded(bad))
    (crawl / "notes.warc").write_bytes(f"{PADDING}{SECRET}\n".encode())
    cfg = PipelineConfig(stages=("extract",), out_dir=tmp_path / "out", extract=CFG,
                         warcs=tuple(resolve_warc_inputs([str(crawl)])))
    [funnel] = run_pipeline(spark, cfg, log=lambda *_: None)

    assert funnel["in"] == funnel["out"] + sum(funnel["dropped"].values()) == 2 * len(bad) + 1 + 1
    assert funnel["dropped"] == {W.RECORD_ERROR: 1, W.OVERSIZED_HEADERS: 1, W.UNDECODABLE: 1, W.CORRUPT_WARC: 1}
    urls = {r.url for r in spark.read.parquet(str(tmp_path / "out" / "extract" / "documents")).collect()}
    assert urls == {f"http://good.example/{i}" for i in range(len(bad) + 1)} | {"http://odd.example/base64"}
    details = [r.detail for r in spark.read.parquet(str(tmp_path / "out" / "extract" / "fate")).collect()]
    assert not any("hunter2" in d for d in details)
