"""Remote WARCs are read whole through transient failures (issue 17, item 3): a loopback http server fails on
purpose (503s, a 429 with Retry-After, a connection cut midway, a server that ignores Range on the resume) and
the bytes read are the file's bytes exactly, and its extract the local file's; what is not transient (404), or
stays broken past the retries, fails with the last status named. Also ranged opens and remote_size, which the
split extract (item 1) uses."""
import datetime
import email.utils
import http.server
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

import corpus.inputs as inputs
from corpus.config import ExtractConfig
from corpus.extract import HtmlToText
from corpus.extract_stage import outcomes_of
from corpus.inputs import (DeadlineStream, RemoteReadError, RetryPolicy, WarcInput, open_warc, remote_size)
from corpus.warc import UNREADABLE_WARC
from warc_factory import article_html, page, write_warc

CFG = ExtractConfig(extract_timeout_s=2.0, remote_read_deadline_s=20.0)
FAST = RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05)  # the same rules, with backoffs of milliseconds
REAL_WARC = Path(__file__).parent / "data" / "dolma__sample-0000.warc.gz"
ETAG = '"v1"'


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    """outcomes_of opens with the module's default policy: make its sleeps milliseconds."""
    monkeypatch.setattr(inputs, "DEFAULT_RETRY", FAST)


class _ScriptedServer(http.server.ThreadingHTTPServer):
    """Serves `body` at any path; each GET does the next step of `script` (then serves the file as asked):
    - ("file",) honours Range; ("whole",) ignores it; ("status", code, headers) answers that status;
    - ("cut", n) sends the headers of the answer it was asked for and n of its bytes, then closes the
      connection; ("cut", n, "whole") the same of the whole file, ignoring Range;
    - ("reset", n) sends n bytes, then resets the connection;
    - ("stall", n, seconds) sends n bytes, then nothing for that long;
    - ("etag", value) serves the file as asked under another ETag;
    - ("chunked_cut", n) sends n bytes chunked, with no ETag, Last-Modified or Content-Length, then closes."""
    daemon_threads = True

    def __init__(self, body: bytes, script: list[tuple]):
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.body, self.script, self.ranges = body, list(script), []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/file.warc.gz"

    def next_step(self, asked_range: str | None) -> tuple:
        with self.lock:
            self.ranges.append(asked_range)
            return self.script.pop(0) if self.script else ("file",)


class _ScriptedHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _start(self, asked_range: str | None, honour_range: bool, etag: str = ETAG) -> int:
        body = self.server.body
        start = int(asked_range[len("bytes="):].rstrip("-")) if asked_range and honour_range else 0
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", "Tue, 01 Dec 2026 12:00:00 GMT")
        self.end_headers()
        return start

    def _cut(self) -> None:
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def do_HEAD(self):
        self.send_response(200)
        if self.server.script and self.server.script[0] == ("no_length",):
            self.server.script.pop(0)
        else:
            self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()

    def do_GET(self):
        asked = self.headers.get("Range")
        step, *args = self.server.next_step(asked)
        body = self.server.body
        try:
            if step == "status":
                code, headers = args
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif step == "cut":
                start = self._start(asked, honour_range=args[1:] != ["whole"])
                self.wfile.write(body[start:start + args[0]])
                self._cut()
            elif step == "reset":  # a TCP reset rather than a close: the reader's next read fails
                start = self._start(asked, honour_range=True)
                self.wfile.write(body[start:start + args[0]])
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
            elif step == "stall":  # n bytes, then nothing for longer than the reader's socket timeout
                start = self._start(asked, honour_range=True)
                self.wfile.write(body[start:start + args[0]])
                self.wfile.flush()
                time.sleep(args[1])
            elif step == "chunked_cut":
                self.protocol_version = "HTTP/1.1"
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.write(b"%x\r\n%s\r\n" % (args[0], body[:args[0]]))
                self._cut()
            else:
                start = self._start(asked, honour_range=step != "whole", etag=args[0] if step == "etag" else ETAG)
                self.wfile.write(body[start:])
        except (BrokenPipeError, ConnectionResetError):  # the reader hung up: some steps are about that
            pass


@pytest.fixture
def serve():
    servers = []

    def start(body: bytes, script=()) -> _ScriptedServer:
        server = _ScriptedServer(body, script)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def generated_warc(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("remote") / "pages.warc.gz"
    write_warc(path, [page(f"http://remote.example/{i}", article_html(f"Remote {i}", salt=i))
                      for i in range(40)])
    assert path.stat().st_size > 30_000  # the offsets the tests cut at fall inside it
    return path


def _read_all(stream, piece_bytes: int = 7919) -> bytes:
    """Reads of an odd size, as a record reader makes them, so a cut falls inside a read."""
    with stream:
        pieces = []
        while piece := stream.read(piece_bytes):
            pieces.append(piece)
        return b"".join(pieces)


def _outcomes(uri: str) -> list[dict]:
    return list(outcomes_of(WarcInput("file.warc.gz", uri), CFG, HtmlToText(CFG)))


def test_503_twice_then_the_file_is_read_whole(serve, generated_warc):
    body = generated_warc.read_bytes()
    server = serve(body, [("status", 503, {}), ("status", 503, {})])
    assert _read_all(open_warc(server.url, deadline_s=10)) == body
    assert server.ranges == [None, None, None]  # the file asked for from its start three times
    server.script[:] = [("status", 503, {}), ("status", 503, {})]
    assert _outcomes(server.url) == _outcomes(str(generated_warc))


def test_429_with_retry_after_is_honoured(serve, generated_warc):
    body = generated_warc.read_bytes()
    server = serve(body, [("status", 429, {"Retry-After": "0"})])
    assert _read_all(open_warc(server.url, deadline_s=10)) == body
    assert len(server.ranges) == 2
    # a Retry-After far beyond the cap waits the cap, not the hour
    server = serve(body, [("status", 503, {"Retry-After": "3600"})])
    started = time.monotonic()
    assert _read_all(open_warc(server.url, deadline_s=10)) == body
    assert time.monotonic() - started < 2


def test_a_connection_cut_midway_resumes_at_the_byte_reached(serve, generated_warc):
    body = generated_warc.read_bytes()
    half = len(body) // 2
    server = serve(body, [("cut", half)])
    assert _read_all(open_warc(server.url, deadline_s=10)) == body
    assert server.ranges == [None, f"bytes={half}-"]
    # cut twice, the second time inside the resumed answer, and extracted as the local file is
    server.script[:] = [("cut", half), ("cut", 1000)]
    assert _outcomes(server.url) == _outcomes(str(generated_warc))
    assert server.ranges[-2:] == [f"bytes={half}-", f"bytes={half + 1000}-"]


def test_a_connection_reset_midway_resumes(serve, generated_warc):
    body = generated_warc.read_bytes()
    server = serve(body, [("reset", 12345), ("reset", 3000)])
    assert _read_all(open_warc(server.url)) == body  # no deadline: the same retries
    first, *resumed = server.ranges
    offsets = [int(r[len("bytes="):-1]) for r in resumed]  # where bytes a reset threw away are asked for again
    assert first is None and 0 < offsets[0] <= 12345 and offsets[0] < offsets[1] <= offsets[0] + 3000


def test_a_socket_timeout_midway_resumes(serve, generated_warc, monkeypatch):
    monkeypatch.setattr(inputs, "HTTP_TIMEOUT_S", 0.2)
    body = generated_warc.read_bytes()
    server = serve(body, [("stall", 7000, 1.0)])
    started = time.monotonic()
    assert _read_all(open_warc(server.url, deadline_s=10)) == body
    assert server.ranges == [None, "bytes=7000-"] and time.monotonic() - started < 1.0  # it did not wait the stall


def test_a_real_warc_cut_midway_gives_the_local_file_s_outcomes(serve):
    body = REAL_WARC.read_bytes()
    server = serve(body, [("cut", len(body) // 3), ("status", 503, {}), ("cut", len(body) // 3)])
    outcomes = _outcomes(server.url)
    assert outcomes == _outcomes(str(REAL_WARC))
    assert sum(o["reason"] is None for o in outcomes) > 0 and len(server.ranges) == 4


def test_a_server_that_ignores_range_on_the_resume_is_skipped_to_the_offset(serve, generated_warc):
    body = generated_warc.read_bytes()
    server = serve(body, [("cut", 5000), ("whole",)])
    assert _read_all(open_warc(server.url, deadline_s=10)) == body
    assert server.ranges == [None, "bytes=5000-"]
    # and cut again while it skips the bytes it already had
    server.script[:] = [("cut", 20000), ("cut", 5000, "whole"), ("whole",)]
    assert _read_all(open_warc(server.url, deadline_s=10)) == body
    assert server.ranges[-3:] == [None, "bytes=20000-", "bytes=20000-"]


def test_a_resumed_answer_from_another_file_is_not_spliced(serve, generated_warc):
    body = generated_warc.read_bytes()
    server = serve(body, [("cut", 5000), ("etag", '"v2"')])
    stream = open_warc(server.url, deadline_s=10)
    assert stream.read(4000) == body[:4000]
    assert stream.read(4000) == body[4000:5000] and stream.failure is None  # the bytes before the failure ...
    with pytest.raises(RemoteReadError, match="the file changed while it was read \\(its ETag changed\\)"):
        stream.read(4000)  # ... and the next read says why the rest is not
    assert isinstance(stream.failure, RemoteReadError)


def test_a_cut_with_nothing_to_check_a_resume_against_fails(serve, generated_warc):
    server = serve(generated_warc.read_bytes(), [("chunked_cut", 3000)])
    with pytest.raises(RemoteReadError, match="IncompleteRead at byte 3,000, and the server gave no ETag"):
        _read_all(open_warc(server.url, deadline_s=10))
    assert len(server.ranges) == 1


def test_a_read_that_breaks_for_good_midway_is_unreadable_with_its_last_status(serve, generated_warc):
    """A cut, then 503s past the retries: the records before the break are kept, and the fate row names the status."""
    local = _outcomes(str(generated_warc))
    server = serve(generated_warc.read_bytes(), [("cut", 15000)] + [("status", 503, {})] * FAST.attempts)
    outcomes = _outcomes(server.url)
    *kept, last = outcomes
    assert kept == local[:len(kept)] and any(o["reason"] is None for o in kept)
    assert last["reason"] == UNREADABLE_WARC
    assert last["detail"].startswith("RemoteReadError: HTTP 503 Service Unavailable after")
    assert last["detail"].endswith(f"the {len(kept)} records before this point are accounted for")


def test_404_fails_at_once_with_its_status(serve, generated_warc):
    server = serve(generated_warc.read_bytes(), [("status", 404, {})])
    with pytest.raises(RemoteReadError, match="^HTTP 404 Not Found$"):
        open_warc(server.url, deadline_s=10)
    assert len(server.ranges) == 1
    server.script[:] = [("status", 403, {})]
    [row] = _outcomes(server.url)
    assert row["reason"] == UNREADABLE_WARC and row["detail"] == "RemoteReadError: HTTP 403 Forbidden"
    assert len(server.ranges) == 2


def test_always_503_gives_up_after_the_attempts_with_the_last_status(serve, generated_warc):
    server = serve(generated_warc.read_bytes(), [("status", 503, {})] * 100)
    started = time.monotonic()
    with pytest.raises(RemoteReadError, match="^HTTP 503 Service Unavailable after 4 attempts$"):
        open_warc(server.url, deadline_s=10)
    assert len(server.ranges) == FAST.attempts and time.monotonic() - started < 2
    [row] = _outcomes(server.url)
    assert row["reason"] == UNREADABLE_WARC
    assert row["detail"] == "RemoteReadError: HTTP 503 Service Unavailable after 4 attempts"


def test_retries_stop_where_the_file_s_deadline_would_pass(serve, generated_warc):
    server = serve(generated_warc.read_bytes(), [("status", 503, {"Retry-After": "5"})] * 10)
    slow = RetryPolicy(attempts=10, base_s=0.01, cap_s=30)  # a Retry-After of 5 s is honoured ...
    started = time.monotonic()
    with pytest.raises(RemoteReadError, match="HTTP 503 Service Unavailable after 1 attempt; waiting 5.0 s for "
                                              "another would pass the file's read deadline"):
        open_warc(server.url, deadline_s=1.0, retry=slow)  # ... but not past the file's deadline
    assert time.monotonic() - started < 1 and len(server.ranges) == 1


def test_a_read_out_of_retries_midway_returns_its_bytes_then_raises(serve, generated_warc):
    body = generated_warc.read_bytes()
    server = serve(body, [("cut", 6000)] + [("status", 502, {})] * 10)
    stream = open_warc(server.url, deadline_s=10)
    assert stream.read(4000) == body[:4000]
    assert stream.read(4000) == body[4000:6000] and stream.failure is None  # not raised yet
    with pytest.raises(RemoteReadError, match="^HTTP 502 Bad Gateway after 4 attempts$"):
        stream.read(4000)
    assert isinstance(stream.failure, RemoteReadError) and not stream.raised
    assert server.ranges == [None] + ["bytes=6000-"] * 3  # the cut answer was the first of the 4 attempts
    with pytest.raises(RemoteReadError):
        stream.read(4000)  # and it stays broken


def test_a_connection_refused_is_retried_then_named(generated_warc):
    with socket.socket() as placeholder:  # a port nothing listens on
        placeholder.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{placeholder.getsockname()[1]}/file.warc.gz"
    with pytest.raises(RemoteReadError, match="^ConnectionRefusedError after 4 attempts$"):
        open_warc(url, deadline_s=10)


def test_backoff_is_full_jitter_below_a_doubling_cap():
    policy = RetryPolicy(attempts=6, base_s=1.0, cap_s=60.0)
    for failures, bound_s in ((1, 1.0), (3, 4.0), (7, 60.0), (30, 60.0)):
        draws = [policy.backoff_s(failures, None) for _ in range(200)]
        assert all(0 <= d <= bound_s for d in draws) and max(draws) > bound_s / 2
    assert policy.backoff_s(2, 0.0) == 0.0 and policy.backoff_s(2, 7.5) == 7.5 and policy.backoff_s(2, 1e6) == 60.0
    # Retry-After as seconds or as an HTTP date (RFC 9110); anything else is no Retry-After
    soon = email.utils.format_datetime(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=30),
                                       usegmt=True)
    assert inputs._retry_after_s("120") == 120 and 25 < inputs._retry_after_s(soon) <= 30
    assert inputs._retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date gone by: no wait
    assert inputs._retry_after_s("soon") is None and inputs._retry_after_s(None) is None


@pytest.mark.parametrize("start", [0, 1, 4321, "half", "last", "end", "past"])
def test_open_from_a_byte_is_the_file_from_that_byte(serve, generated_warc, start):
    body = generated_warc.read_bytes()
    start = {"half": len(body) // 2, "last": len(body) - 1, "end": len(body), "past": len(body) + 10}.get(start, start)
    assert _read_all(open_warc(str(generated_warc), start=start)) == body[start:]
    server = serve(body)
    assert _read_all(open_warc(server.url, deadline_s=10, start=start)) == body[start:]
    server.script[:] = [("whole",)]  # a server that ignores Range: the bytes before `start` are skipped
    assert _read_all(open_warc(server.url, deadline_s=10, start=start)) == body[start:]
    if 0 < start < len(body) - 10:  # and a ranged open that is cut resumes from the byte reached
        server.script[:] = [("cut", 10)]
        assert _read_all(open_warc(server.url, deadline_s=10, start=start)) == body[start:]
        assert server.ranges[-2:] == [f"bytes={start}-", f"bytes={start + 10}-"]


def test_a_range_past_the_end_answered_416_is_empty(serve, generated_warc):
    body = generated_warc.read_bytes()
    server = serve(body, [("status", 416, {"Content-Range": f"bytes */{len(body)}"})])
    assert _read_all(open_warc(server.url, deadline_s=10, start=len(body))) == b""


def test_remote_size(serve, generated_warc):
    body = generated_warc.read_bytes()
    server = serve(body)
    assert remote_size(str(generated_warc)) == len(body) == remote_size(server.url)
    server.script[:] = [("no_length",)]
    assert remote_size(server.url) is None  # the server does not say


def test_deadline_stream_counts_the_open_and_keeps_its_rules(serve, generated_warc):
    body = generated_warc.read_bytes()
    server = serve(body)
    stream = open_warc(server.url, deadline_s=10)
    assert isinstance(stream, DeadlineStream) and 0 < stream.seconds_reading < 10  # the open's time counts
    stream.seconds_reading = 11  # as if 11 s had been spent: the next read raises, as issue 16 made it
    with pytest.raises(inputs.ReadDeadlineExceeded):
        stream.read(100)
    assert stream.raised and stream.failure is None
    stream.close()
