"""A worker's peak memory reading a .warc.gz that holds one very long header line (WARC or HTTP).

    python -m bench.hostile_memory [--sizes-mib 64 256 1024]

Each file is good page, record with the long line, good page (each its own gzip member, level 1). Each is
read by `iter_warc_outcomes` with the real extractor in a fresh process, whose peak RSS (VmHWM) is
printed beside that of a file without the long line: the header caps make the two the same whatever the
line's length, where warcio alone grows a line in memory until its newline arrives.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.warc_factory import append_gzip_member, article_html, raw_page, record_with_long_line

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20
WORKER = ROOT / "tests" / "read_warc_in_worker.py"


def write_file(path: Path, line_bytes: int, where: str | None) -> None:
    with open(path, "wb") as out:
        append_gzip_member(out, [raw_page("http://good.example/0", article_html("Before", salt=1))])
        if where:
            append_gzip_member(out, record_with_long_line(line_bytes, where))
        append_gzip_member(out, [raw_page("http://good.example/1", article_html("After", salt=2))])


def measure(path: Path) -> dict:
    result = subprocess.run([sys.executable, str(WORKER), str(path)], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[64, 256, 1024])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(None, 0)] + [(where, size) for size in args.sizes_mib for where in ("http", "warc")]
        print(f"{'long line in':>14} {'line MiB':>9} {'file MB':>8} {'peak RSS MB':>12} {'read s':>7}  outcomes")
        for where, size in cases:
            path = Path(tmp) / f"{where}-{size}.warc.gz"
            write_file(path, size * MiB, where)
            report = measure(path)
            print(f"{where or 'none':>14} {size:>9} {path.stat().st_size / 1e6:>8.1f} "
                  f"{report['peak_rss_mb']:>12.0f} {report['seconds']:>7.2f}  {[reason for _, reason, _ in report['rows']]}")
            path.unlink()


if __name__ == "__main__":
    main()
