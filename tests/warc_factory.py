"""Real WARC files for tests, written with warcio: pages, bad records, and broken files."""
import gzip as gzip_module
import io
import uuid
from dataclasses import dataclass, field

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

SENTENCES = [
    "The river town kept its old stone bridge long after the railway arrived.",
    "Every spring the farmers argued about the price of seed and the height of the water.",
    "A small library opened above the bakery, and children read there until dark.",
    "The mayor wrote letters to the capital asking for a school and a doctor.",
    "Travellers remembered the inn for its bread, its noise and its crooked stairs.",
    "When the mill closed, families moved west, but some returned years later.",
    "Historians still disagree about the date the first market was held.",
    "The newspaper printed weather reports, shipping news and long letters from readers.",
]


def article_html(title: str, paragraphs: int = 4, charset_meta: str | None = None, salt: int = 0) -> str:
    """A page with site chrome around a real article, enough prose for trafilatura to keep."""
    body = "\n".join(
        f"<p>{' '.join(SENTENCES[(salt + i + j) % len(SENTENCES)] for j in range(4))} Item {salt}-{i}.</p>"
        for i in range(paragraphs))
    meta = f'<meta charset="{charset_meta}">' if charset_meta else ""
    return (f"<!DOCTYPE html><html><head>{meta}<title>{title}</title></head><body>"
            f"<nav><a href='/'>Home</a> <a href='/about'>About</a></nav>"
            f"<div class='cookie'>We use cookies. <button>Accept</button></div>"
            f"<article><h1>{title}</h1>\n{body}</article>"
            f"<footer>Copyright 2020 Example Town Press. All rights reserved.</footer></body></html>")


def no_text_html() -> str:
    """A page with markup but no text at all: a script-rendered shell."""
    return ("<!DOCTYPE html><html><head><title>App</title><style>body{margin:0}</style></head><body>"
            "<div id='root'></div><script>window.app = {start: true};</script></body></html>")


def slow_html(paragraphs: int = 30000) -> str:
    """Legal HTML that trafilatura needs over a second for (tens of thousands of paragraphs)."""
    return "<html><body>" + "<p>some words here and there.</p>" * paragraphs + "</body></html>"


@dataclass
class Record:
    """One WARC record to write; `expect` is the extract stage's reason (None: a document)."""
    url: str
    body: bytes = b""
    rec_type: str = "response"
    status: str = "200 OK"
    content_type: str | None = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    expect: str | None = None
    record_id: str = field(default_factory=lambda: f"<urn:uuid:{uuid.uuid4()}>")


def page(url: str, html: str, encoding: str = "utf-8", content_type: str | None = "text/html; charset=utf-8",
         expect: str | None = None, **kwargs) -> Record:
    return Record(url=url, body=html.encode(encoding), content_type=content_type, expect=expect, **kwargs)


def write_warc(path, records: list[Record], compress: bool = True) -> None:
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=compress)
        for rec in records:
            warc_headers = {"WARC-Record-ID": rec.record_id, "WARC-Date": "2020-08-08T17:27:41Z"}
            if rec.rec_type in ("response", "revisit"):
                headers = list(rec.headers)
                if rec.content_type is not None:
                    headers.append(("Content-Type", rec.content_type))
                http = StatusAndHeaders(rec.status, headers, protocol="HTTP/1.1")
                record = writer.create_warc_record(rec.url, rec.rec_type, payload=io.BytesIO(rec.body),
                                                   http_headers=http, warc_headers_dict=warc_headers)
            elif rec.rec_type == "request":
                http = StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.org")], is_http_request=True)
                record = writer.create_warc_record(rec.url, "request", payload=io.BytesIO(b""),
                                                   http_headers=http, warc_headers_dict=warc_headers)
            else:
                record = writer.create_warc_record(rec.url, rec.rec_type, payload=io.BytesIO(rec.body),
                                                   warc_headers_dict=warc_headers)
            writer.write_record(record)


def gzip_bytes(data: bytes) -> bytes:
    return gzip_module.compress(data, mtime=0)
