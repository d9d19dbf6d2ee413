"""`python -m corpus_demo --out DIR [--pages N] [--files K] [--seed S]`."""
from __future__ import annotations

import argparse
import json
import sys

from corpus_demo.config import DemoConfig
from corpus_demo.output import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus_demo",
                                     description="Write the embedded demo crawl with planted truth.")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--pages", type=int, default=DemoConfig.pages, help="ordinary pages (default 3000)")
    parser.add_argument("--files", type=int, default=DemoConfig.files, help="regular WARC files (default 4)")
    parser.add_argument("--seed", type=int, default=DemoConfig.seed, help="random seed (default 0)")
    args = parser.parse_args(argv)
    try:
        paths = generate(args.out, pages=args.pages, files=args.files, seed=args.seed)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    truth = json.loads(paths["truth"].read_text(encoding="utf-8"))
    print(f"wrote {len(truth['files'])} WARC files, {len(truth['records'])} response records, "
          f"{sum(truth['reference'].values())} reference documents and {len(truth['benchmarks'])} benchmarks "
          f"under {paths['out']}")
    for kind, count in truth["counts"].items():
        print(f"  {kind:20s} {count}")
    return 0
