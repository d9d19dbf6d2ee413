"""Read one WARC file as an extract worker does, in this fresh process, and print its outcomes and peak memory.

    python tests/read_warc_in_worker.py FILE   →   {"rows": [[url, reason, detail], ...], "seconds", "peak_rss_mb"}

Run by tests/test_hostile_records.py and bench/hostile_memory.py in a subprocess of their own.
"""
import json
import resource
import sys
import time

from corpus import warc
from corpus.config import ExtractConfig
from corpus.extract import HtmlToText


def peak_rss_mb() -> float:
    # VmHWM: this process image's own peak. Linux carries ru_maxrss across fork + exec, so a child of a
    # large parent (pytest with trafilatura loaded) would report the parent's peak as its own.
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(path: str) -> None:
    cfg = ExtractConfig()
    html_to_text = HtmlToText(cfg)
    start = time.perf_counter()
    with open(path, "rb") as stream:
        rows = [(r["url"], r["reason"], r["detail"]) for r in warc.iter_warc_outcomes(stream, "worker", cfg, html_to_text)]
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main(sys.argv[1])
