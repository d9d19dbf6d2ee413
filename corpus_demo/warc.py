"""The WARC writer: Common Crawl-like files (warcinfo, then request/response/metadata per page), and the
truncated file cut where a reader must notice the damage."""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import random
import uuid
import zlib
from datetime import datetime, timedelta
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from corpus.warc import CORRUPT_WARC
from corpus_demo.config import DemoConfig, rng_for
from corpus_demo.planner import Plan
from corpus_demo.records import Page
from corpus_demo.truth import truth_record

HTTP_DATE = "%a, %d %b %Y %H:%M:%S GMT"
WARC_DATE = "%Y-%m-%dT%H:%M:%SZ"


def _chunked(body: bytes, rng: random.Random) -> bytes:
    """HTTP/1.1 chunked transfer coding of `body` in chunks of random size."""
    out, position = [], 0
    while position < len(body):
        size = rng.randrange(512, 4096)
        chunk = body[position:position + size]
        out.append(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        position += size
    out.append(b"0\r\n\r\n")
    return b"".join(out)


class _WarcFile:
    """Writes one Common Crawl-like WARC file into memory, recording each record's offset."""

    def __init__(self, name: str, config: DemoConfig, start: datetime, ids: random.Random, rng: random.Random):
        self.name, self.config = name, config
        self.buffer = io.BytesIO()
        self.writer = WARCWriter(self.buffer, gzip=True)
        self.clock, self.ids, self.rng = start, ids, rng
        self.records = 0
        self.offsets: list[int] = []  # start of every record, plus the end of the file at the end
        self.warcinfo_id = self._new_id()
        self._write_warcinfo()

    def _new_id(self) -> str:
        return f"<urn:uuid:{uuid.UUID(int=self.ids.getrandbits(128), version=4)}>"

    def _tick(self) -> str:
        self.clock += timedelta(seconds=self.rng.randrange(1, 30))
        return self.clock.strftime(WARC_DATE)

    def _write(self, record) -> int:
        offset = self.buffer.tell()
        self.offsets.append(offset)
        self.writer.write_record(record)
        self.records += 1
        return offset

    def _write_warcinfo(self) -> None:
        # "corpus.demo" is the generator's former module name, kept so the files stay byte-identical.
        info = (f"isPartOf: CC-DEMO-{self.config.seed}\r\npublisher: gpt3-corpus (corpus.demo)\r\n"
                f"description: Embedded demo crawl with planted truth; synthetic pages built from Python's "
                f"own documentation\r\noperator: corpus.demo\r\nhostname: demo-crawler\r\n"
                f"software: corpus.demo (gpt3-corpus 0.1.0)\r\nrobots: checked\r\n"
                f"format: WARC File Format 1.0\r\n"
                f"conformsTo: http://bibnum.bnf.fr/WARC/WARC_ISO_28500_version1_latestdraft.pdf\r\n").encode()
        record = self.writer.create_warc_record(
            "", "warcinfo", payload=io.BytesIO(info), length=len(info),
            warc_headers_dict={"WARC-Record-ID": self.warcinfo_id, "WARC-Date": self.clock.strftime(WARC_DATE),
                               "WARC-Filename": self.name, "Content-Type": "application/warc-fields"})
        self._write(record)

    def write_page(self, page: Page) -> int:
        """request, response (or revisit), metadata; sets page.record_id, returns the response's offset."""
        assert page.dup_of is None or page.dup_of.record_id, f"{page.url}: its original must be written first"
        date = self._tick()
        request_id = self._new_id()
        page.record_id = response_id = self._new_id()
        self._write(self._request(page, date, request_id))
        if page.kind == "revisit":
            return self._write(self._revisit(page, date, response_id, request_id))
        offset = self._write(self._response(page, date, response_id, request_id))
        self._write(self._metadata(page, date, response_id))
        return offset

    def _common(self, page: Page, date: str, record_id: str) -> dict[str, str]:
        return {"WARC-Record-ID": record_id, "WARC-Date": date, "WARC-Warcinfo-ID": self.warcinfo_id,
                "WARC-IP-Address": page.site.ip}

    def _request(self, page: Page, date: str, record_id: str):
        host = page.url.split("/")[2]
        path = "/" + page.url.split("/", 3)[3] if page.url.count("/") >= 3 else "/"
        headers = [("User-Agent", "CCBot/2.0 (https://commoncrawl.org/faq/)"),
                   ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                   ("Accept-Language", "en-US,en;q=0.5"), ("If-Modified-Since", "Tue, 01 Oct 2019 00:00:00 GMT"),
                   ("Accept-Encoding", "br,gzip"), ("Host", host), ("Connection", "Keep-Alive")]
        http = StatusAndHeaders(f"GET {path} HTTP/1.1", headers, is_http_request=True)
        return self.writer.create_warc_record(page.url, "request", payload=io.BytesIO(b""), length=0,
                                              http_headers=http,
                                              warc_headers_dict=self._common(page, date, record_id))

    def _http_headers(self, page: Page, body: bytes) -> list[tuple[str, str]]:
        when = self.clock
        headers = [("Date", when.strftime(HTTP_DATE)), ("Server", page.site.server),
                   ("Content-Type", page.content_type)]
        if page.transfer == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            headers.append(("Content-Length", str(len(body))))
        if page.transfer == "gzip":
            headers.append(("Content-Encoding", "gzip"))
        headers += [("Connection", "close"), ("Vary", "Accept-Encoding"),
                    ("Last-Modified", (when - timedelta(days=self.rng.randrange(1, 400))).strftime(HTTP_DATE)),
                    ("Cache-Control", self.rng.choice(("max-age=600", "no-cache", "public, max-age=3600")))]
        if self.rng.random() < 0.3:
            headers.append(("X-Powered-By", self.rng.choice(("PHP/7.2.24", "Express", "ASP.NET", "WP Engine"))))
        return headers + list(page.extra_headers)

    def _body(self, page: Page) -> bytes:
        body = page.payload()
        if page.transfer == "gzip":
            return gzip.compress(body, compresslevel=6, mtime=0)
        if page.transfer == "chunked":
            return _chunked(body, self.rng)
        return body

    def _response(self, page: Page, date: str, record_id: str, request_id: str):
        body = self._body(page)
        http = StatusAndHeaders(page.status, self._http_headers(page, body), protocol="HTTP/1.1")
        warc_headers = {**self._common(page, date, record_id), "WARC-Concurrent-To": request_id,
                        "Content-Type": "application/http; msgtype=response",
                        "WARC-Identified-Payload-Type": page.content_type.split(";")[0]}
        return self.writer.create_warc_record(page.url, "response", payload=io.BytesIO(body), length=len(body),
                                              http_headers=http, warc_headers_dict=warc_headers)

    def _revisit(self, page: Page, date: str, record_id: str, request_id: str):
        body = page.payload()
        digest = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()
        http = StatusAndHeaders("200 OK", self._http_headers(page, body), protocol="HTTP/1.1")
        earlier = (self.clock - timedelta(days=30)).strftime(WARC_DATE)
        warc_headers = {**self._common(page, date, record_id), "WARC-Concurrent-To": request_id,
                        "Content-Type": "application/http; msgtype=response"}
        return self.writer.create_revisit_record(page.url, digest, page.url, earlier, http_headers=http,
                                                 warc_headers_dict=warc_headers)

    def _metadata(self, page: Page, date: str, response_id: str):
        fields = f"fetchTimeMs: {self.rng.randrange(20, 2000)}\r\n"
        if page.content_type.startswith("text/html") and page.status.startswith("200"):
            fields += (f"charset-detected: {(page.charset or page.body_encoding).upper()}\r\n"
                       'languages-cld2: {"reliable":true,"languages":[{"code":"en","code-iso-639-3":"eng",'
                       '"text-covered":0.99,"score":900.0,"name":"ENGLISH"}]}\r\n')
        payload = fields.encode()
        warc_headers = {"WARC-Record-ID": self._new_id(), "WARC-Date": date, "WARC-Warcinfo-ID": self.warcinfo_id,
                        "WARC-Refers-To": response_id, "Content-Type": "application/warc-fields"}
        return self.writer.create_warc_record(page.url, "metadata", payload=io.BytesIO(payload),
                                              length=len(payload), warc_headers_dict=warc_headers)

    def getvalue(self) -> bytes:
        return self.buffer.getvalue()


def _cut_offset(data: bytes, response_offsets: list[int], fraction: float) -> int:
    """Where to cut the truncated file: inside the first response record starting past `fraction` of it.

    The cut leaves that record's gzip member holding only the start of its first line ("WARC/1."). warcio
    1.8 is lenient about truncation: cut anywhere later in a member and it silently yields a short record
    and stops, so a reader could not tell the file was damaged. Cut here, it yields every earlier record
    and then raises ArchiveLoadFailed ("Invalid WARC record"), the error a real reader must survive.
    """
    start = next(o for o in response_offsets if o >= fraction * len(data))
    first_line = data[start:start + 4096]
    for cut in range(1, len(first_line)):
        decoded = zlib.decompressobj(zlib.MAX_WBITS + 16).decompress(first_line[:cut])
        if 0 < len(decoded) < len(b"WARC/1.0\r\n"):
            return start + cut
    raise AssertionError(f"no cut inside the first line of the record at offset {start}")


def write_crawl(plan: Plan, config: DemoConfig, crawl_dir: Path) -> tuple[list[dict], list[dict]]:
    """Write the regular and the truncated WARC files; return (file entries, truth records)."""
    crawl_dir.mkdir(parents=True, exist_ok=True)
    for stale in crawl_dir.glob("CC-DEMO-*.warc.gz"):
        stale.unlink()
    ids, net_rng = rng_for(config, "record-ids"), rng_for(config, "network")
    start = datetime.fromisoformat(config.crawl_start)
    files, records = [], []

    bounds = [round(i * len(plan.pages) / config.files) for i in range(config.files + 1)]
    for number, (first, last) in enumerate(zip(bounds, bounds[1:])):
        name = f"CC-DEMO-{config.seed}-{number:05d}.warc.gz"
        warc = _WarcFile(name, config, start + timedelta(hours=6 * number), ids, net_rng)
        for index in range(first, last):
            page = plan.pages[index]
            offset = warc.write_page(page)
            records.append(truth_record(page, name, offset))
        (crawl_dir / name).write_bytes(warc.getvalue())
        files.append({"warc_file": name, "records": warc.records, "responses": last - first,
                      "bytes": len(warc.getvalue()), "truncated": False, "cut_offset": None})

    name = f"CC-DEMO-{config.seed}-truncated.warc.gz"
    warc = _WarcFile(name, config, start + timedelta(hours=6 * config.files), ids, net_rng)
    written = [(page, warc.write_page(page)) for page in plan.truncated_pages]
    cut = _cut_offset(warc.getvalue(), [offset for _, offset in written], config.truncate_at)
    (crawl_dir / name).write_bytes(warc.getvalue()[:cut])
    ends = dict(zip(warc.offsets, warc.offsets[1:] + [len(warc.getvalue())]))
    for page, offset in written:
        records.append(truth_record(page, name, offset, readable=ends[offset] <= cut))
    files.append({"warc_file": name, "records": sum(1 for o in warc.offsets if ends[o] <= cut),
                  "responses": sum(1 for _, o in written if ends[o] <= cut), "bytes": cut,
                  "truncated": True, "cut_offset": cut, "cut_record_offset": max(o for o in warc.offsets if o < cut),
                  "expected_error": CORRUPT_WARC})
    return files, records
