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


# Raw records: bytes warcio's writer would refuse to produce (hostile headers, lying lengths, broken encodings).

def http_block(body: bytes, headers: list[tuple[bytes, bytes]] = (), status_line: bytes = b"HTTP/1.1 200 OK",
               content_type: bytes | None = b"text/html; charset=utf-8") -> bytes:
    """An HTTP response as a WARC response record holds it: status line, headers, blank line, body."""
    lines = [status_line] + ([b"Content-Type: " + content_type] if content_type is not None else [])
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def raw_record(block: bytes, url: bytes = b"http://raw.example/", rec_type: bytes = b"response",
               warc_headers: list[tuple[bytes, bytes]] = (), record_id: bytes | None = None,
               date: bytes = b"2020-08-08T17:27:41Z", content_length: bytes | None = None) -> bytes:
    """One WARC record's bytes; Content-Length is the block's true length unless given."""
    record_id = record_id if record_id is not None else f"<urn:uuid:{uuid.uuid4()}>".encode()
    head = [b"WARC/1.0", b"WARC-Type: " + rec_type, b"WARC-Target-URI: " + url, b"WARC-Date: " + date]
    head += [b"WARC-Record-ID: " + record_id] if record_id else []
    head += [name + b": " + value for name, value in warc_headers]
    head += [b"Content-Type: application/http; msgtype=response",
             b"Content-Length: " + (content_length if content_length is not None else str(len(block)).encode())]
    return b"\r\n".join(head) + b"\r\n\r\n" + block + b"\r\n\r\n"


def raw_page(url: str, html: str, headers: list[tuple[bytes, bytes]] = (), **kwargs) -> bytes:
    """A good page as raw record bytes (to sit between hostile raw records)."""
    return raw_record(http_block(html.encode("utf-8"), headers), url=url.encode(), **kwargs)


def write_raw_warc(path, records: list[bytes], compress: bool = True) -> None:
    """Raw records into a WARC file; compressed, each record is its own gzip member (as Common Crawl's)."""
    with open(path, "wb") as out:
        for record in records:
            out.write(gzip_bytes(record) if compress else record)


def append_gzip_member(out, pieces, level: int = 1) -> None:
    """One gzip member streamed from `pieces` (an iterable of bytes): a gigabyte record costs megabytes of
    memory to write."""
    import zlib
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for piece in pieces:
        out.write(compressor.compress(piece))
    out.write(compressor.flush())


def record_with_long_line(line_bytes: int, where: str, url: bytes = b"http://long.example/",
                          chunk_bytes: int = 1 << 20):
    """The bytes, chunk by chunk, of a response record holding one header line of `line_bytes` bytes in its
    WARC headers (`where` = "warc") or its HTTP headers ("http"); its Content-Length is true."""
    import itertools

    def long_value():
        chunk = b"a" * chunk_bytes
        for start in range(0, line_bytes, chunk_bytes):
            yield chunk if start + chunk_bytes <= line_bytes else chunk[: line_bytes - start]

    body = b"<html><body><p>" + b"after the long line " * 20 + b"</p></body></html>"
    record_id = b"<urn:uuid:" + str(uuid.uuid4()).encode() + b">"
    warc_head = b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: " + url + b"\r\nWARC-Record-ID: " + record_id
    if where == "http":
        http_head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Long: "
        http_tail = b"\r\n\r\n" + body
        block_length = len(http_head) + line_bytes + len(http_tail)
        warc_head += b"\r\nContent-Length: " + str(block_length).encode() + b"\r\n\r\n"
        return itertools.chain([warc_head, http_head], long_value(), [http_tail, b"\r\n\r\n"])
    block = http_block(body)
    warc_tail = b"\r\nContent-Length: " + str(len(block)).encode() + b"\r\n\r\n"
    return itertools.chain([warc_head + b"\r\nX-Long: "], long_value(), [warc_tail, block, b"\r\n\r\n"])
