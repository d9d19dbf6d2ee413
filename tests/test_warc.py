"""The pure record functions: one outcome per WARC record, each bad kind with its reason."""
import io

import pytest
from warcio.archiveiterator import ArchiveIterator

from corpus import warc as W
from corpus.config import ExtractConfig
from corpus.extract import ExtractTimeout, HtmlToText, codec_for, decode_html, time_limit
from corpus.ids import doc_id_for_record
from warc_factory import (Record, article_html, gzip_bytes, no_text_html, page, slow_html, write_warc)

CFG = ExtractConfig(max_payload_bytes=2_000_000, extract_timeout_s=0.3)


def outcomes(path, cfg=CFG, html_to_text=None):
    with open(path, "rb") as stream:
        return list(W.iter_warc_outcomes(stream, path.name, cfg, html_to_text or HtmlToText(cfg)))


def test_each_bad_record_kind_is_dropped_with_its_reason(tmp_path):
    records = [
        page("http://good.example/1", article_html("Town history", salt=1)),
        page("http://good.example/2", article_html("Gzip encoded", salt=2)),
        Record(url="http://good.example/2gz", body=gzip_bytes(article_html("Gzipped", salt=3).encode()),
               headers=[("Content-Encoding", "gzip")]),
        page("http://ru.example/", article_html("Город", charset_meta="windows-1251", salt=4).replace(
            "The river", "Река и the river"), encoding="cp1251", content_type="text/html"),
        page("http://bad-label.example/", article_html("Bad label: café, naïve", salt=5),
             content_type="text/html; charset=no-such-charset"),
        Record(url="http://req.example/", rec_type="request", expect=W.NOT_RESPONSE),
        Record(url="http://meta.example/", rec_type="metadata", body=b"fetchTimeMs: 12", expect=W.NOT_RESPONSE),
        page("http://gone.example/", "<html>not found</html>", status="404 Not Found", expect=W.NOT_HTTP_200),
        page("http://moved.example/", "", status="301 Moved Permanently", expect=W.NOT_HTTP_200),
        Record(url="http://img.example/a.png", body=b"\x89PNG\r\n\x1a\n" + bytes(64), content_type="image/png",
               expect=W.NOT_HTML),
        Record(url="http://pdf.example/x", body=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj" + bytes(200),
               content_type="text/html", expect=W.NOT_HTML),
        Record(url="http://empty.example/", body=b"", expect=W.EMPTY_PAYLOAD),
        page("http://huge.example/", article_html("Huge", paragraphs=12000), expect=W.OVER_SIZE_CAP),
        Record(url="http://noise.example/", body=bytes(range(128, 256)) * 20, content_type="text/html",
               expect=W.UNDECODABLE),
        page("http://menu.example/", no_text_html(), expect=W.EXTRACTOR_EMPTY),
        page("http://slow.example/", slow_html(), expect=W.EXTRACTOR_TIMEOUT),
    ]
    path = tmp_path / "hostile.warc.gz"
    write_warc(path, records)
    rows = outcomes(path)
    assert [r["url"] for r in rows] == [r.url for r in records]
    assert [r["reason"] for r in rows] == [r.expect for r in records]
    kept = [r for r in rows if r["reason"] is None]
    assert all(r["text"] and r["doc_id"] == doc_id_for_record(r["warc_record_id"]) for r in kept)
    by_url = {r["url"]: r for r in rows}
    assert "Река" in by_url["http://ru.example/"]["text"] and by_url["http://ru.example/"]["charset"] == "cp1251"
    assert by_url["http://bad-label.example/"]["charset"] == "utf-8"
    assert "Gzipped" in by_url["http://good.example/2gz"]["text"]
    assert "PDF" in by_url["http://pdf.example/x"]["detail"]
    assert by_url["http://good.example/1"]["fetch_time"].isoformat() == "2020-08-08T17:27:41+00:00"


def test_extractor_error_is_counted_not_raised(tmp_path):
    """No HTML we tried makes trafilatura 2.3.1 raise; its callers still must survive one that does."""
    path = tmp_path / "one.warc.gz"
    write_warc(path, [page("http://a.example/", article_html("A")), page("http://b.example/", article_html("B"))])

    def extractor_that_fails_on_b(html, url):
        if url.startswith("http://b."):
            raise ValueError("lxml: simulated parser failure")
        return HtmlToText(CFG)(html, url)

    rows = outcomes(path, html_to_text=extractor_that_fails_on_b)
    assert [r["reason"] for r in rows] == [None, W.EXTRACTOR_ERROR]
    assert rows[1]["detail"] == "ValueError: lxml: simulated parser failure"


def _good_pages(n, prefix="http://t.example/"):
    return [page(f"{prefix}{i}", article_html(f"Page {i}", salt=i)) for i in range(n)]


def _member_spans(path):
    """(offset, length) of every record's gzip member, by warcio."""
    with open(path, "rb") as stream:
        iterator = ArchiveIterator(stream)
        for _ in iterator:
            iterator.read_to_end()
            yield iterator.member_info


def test_truncated_gzip_keeps_every_record_before_the_break(tmp_path):
    whole = tmp_path / "whole.warc.gz"
    write_warc(whole, _good_pages(10))
    spans = list(_member_spans(whole))
    offset, length = spans[6]
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(whole.read_bytes()[: offset + length // 2])  # half-way through the 7th record
    rows = outcomes(cut)
    assert [r["reason"] for r in rows] == [None] * 6 + [W.CORRUPT_WARC]
    assert rows[-1]["detail"] == "file ends inside this record; 6 complete records read before it"


def test_a_cut_at_any_byte_is_counted_never_raised(tmp_path):
    """Every possible truncation of a small .warc.gz: the records before the cut are kept and the break
    is one corrupt_warc row, except a cut exactly between two gzip members, which leaves a valid file.
    A record cut inside its HTTP headers may also show as the partial record warcio parsed (one row)."""
    whole = tmp_path / "whole.warc.gz"
    write_warc(whole, _good_pages(3))
    data = whole.read_bytes()
    boundaries = {offset + length for offset, length in _member_spans(whole)}
    for cut in range(1, len(data)):
        with io.BytesIO(data[:cut]) as stream:
            rows = list(W.iter_warc_outcomes(stream, "cut", CFG, lambda html, url: "text"))
        complete = sum(1 for end in boundaries if end <= cut)
        assert [r["reason"] for r in rows[:complete]] == [None] * complete, cut
        if cut in boundaries:
            assert len(rows) == complete, cut
        else:
            tail = [r["reason"] for r in rows[complete:]]
            assert tail[-1] == W.CORRUPT_WARC and tail.count(W.CORRUPT_WARC) == 1 and len(tail) <= 2, cut


def test_truncated_uncompressed_warc(tmp_path):
    whole = tmp_path / "whole.warc"
    write_warc(whole, _good_pages(4), compress=False)
    data = whole.read_bytes()
    cut = tmp_path / "cut.warc"
    cut.write_bytes(data[: len(data) - 500])  # inside the last record's payload
    rows = outcomes(cut)
    assert [r["reason"] for r in rows] == [None, None, None, W.CORRUPT_WARC]
    assert "file ends inside this record; 3 complete records" in rows[-1]["detail"]
    assert rows[-1]["doc_id"] is not None  # the partial record is a record warcio iterated


@pytest.mark.parametrize("content, reason", [
    (b"", W.EMPTY_WARC),
    (b"This is a text file, not a WARC.\n" * 20, W.CORRUPT_WARC),
    (b"%PDF-1.4\n" + bytes(range(256)) * 4, W.CORRUPT_WARC),
    (gzip_bytes(b"hello, this gzip holds no WARC\n" * 10), W.CORRUPT_WARC),
])
def test_files_that_are_not_warcs_give_one_file_level_row(tmp_path, content, reason):
    path = tmp_path / "bad.warc.gz"
    path.write_bytes(content)
    rows = outcomes(path)
    assert [(r["reason"], r["doc_id"]) for r in rows] == [(reason, None)]


def test_charset_order_header_then_meta_then_detection():
    html = "<html><head><meta charset='windows-1251'></head><body>Привет, мир</body></html>"
    payload = html.encode("cp1251")
    assert decode_html(payload, None)[1] == "cp1251"  # from <meta>
    assert decode_html(payload, "no-such-charset")[1] == "cp1251"  # a bad label falls through
    assert decode_html("naïve café".encode(), "utf-8") == ("naïve café", "utf-8")
    assert decode_html("Grüße aus Köln, schöne Grüße".encode("cp1252"), None)[0] == "Grüße aus Köln, schöne Grüße"
    assert codec_for("ISO-8859-1") == "cp1252"  # browsers read latin-1 labels as windows-1252
    assert codec_for("nonsense") is None


def test_time_limit_interrupts_long_extraction():
    with pytest.raises(ExtractTimeout):
        with time_limit(0.2):
            HtmlToText(ExtractConfig(extract_timeout_s=0))(slow_html(), None)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_time_limit_survives_an_alarm_swallowed_by_a_destructor():
    """Python swallows an exception raised in __del__ (py4j's weakref callbacks hit this in the suite)."""
    import time

    class SlowToDelete:
        def __del__(self):
            time.sleep(0.3)  # the deadline passes in here; the exception raised here is swallowed

    with pytest.raises(ExtractTimeout):
        with time_limit(0.1):
            SlowToDelete()
            for _ in range(200):
                time.sleep(0.01)
