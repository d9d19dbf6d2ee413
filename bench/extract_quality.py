"""Extraction quality and speed on real pages: the extract stage's extractor against trafilatura's other settings.

    python -m bench.extract_quality [--warc ../shared/data/real-pages/trafilatura-eval.warc.gz]
                                    [--annotations ../shared/data/real-pages/annotations.json] [--configs a,b]

Input: trafilatura's own evaluation pages (825 real pages, ~150 KB of HTML each, in one WARC) and its
annotations: per page, `with` snippets a correct main-text extraction contains and `without` boilerplate
snippets it must not. A page scores the share of its `with` snippets found in the extracted text and the share
of its `without` snippets avoided, both after whitespace is normalised as trafilatura's eval does
(tests/eval_common.py `norm`); a page with no text finds nothing and avoids everything. Also printed: the
pooled precision/recall/F1 of trafilatura's own eval, and pages/s on one core (CPU seconds of this one process,
reading the WARC included; the machine is shared, so wall time is noisier).

Configurations run one after another in this process:
  stage             the extract stage's path: warcio through corpus.warc.iter_warc_outcomes (header caps,
                    Content-Encoding, charset detection) and corpus.extract.HtmlToText with ExtractConfig defaults
  stage-fast        the same with trafilatura's fast=True (no fallback extractors: readability, jusText)
  stage-precision   the same with favor_precision=True
  stage-fastwarc    the stage's charset decoding and extractor, the records read with fastwarc (if installed)
  bare-default      warcio + trafilatura.extract(payload bytes) with trafilatura's default options
  bare-fast         the same with fast=True
Then the reader alone (every response payload read, nothing extracted): warcio, the stage's reader, fastwarc.
"""
import argparse
import contextlib
import importlib.util
import io
import json
import re
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import trafilatura
from warcio.archiveiterator import ArchiveIterator

from corpus.config import ExtractConfig
from corpus.content_encoding import content_encodings, decode_body
from corpus.extract import HtmlToText, decode_html
from corpus.warc import NOT_RESPONSE, iter_warc_outcomes

REAL_PAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-pages"
_WHITESPACE = re.compile(r"\s+")
WARM_UP_PAGE = "<html><body><article><p>" + "Warm up the extractor once. " * 20 + "</p></article></body></html>"


def norm(text: str) -> str:
    """trafilatura's eval: whitespace runs are one space, so layout differences cost nothing."""
    return _WHITESPACE.sub(" ", text).strip()


@dataclass
class Score:
    """Per-page shares and pooled counts over the annotated pages."""

    with_found: list[float] = field(default_factory=list)
    without_avoided: list[float] = field(default_factory=list)
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    empty: int = 0  # pages the configuration gave no text for

    def add(self, item: dict, text: str | None) -> None:
        found = norm(text) if text else ""
        self.empty += not found
        hits = sum(norm(s) in found for s in item["with"]) if found else 0
        leaks = sum(norm(s) in found for s in item["without"]) if found else 0
        self.with_found.append(hits / len(item["with"]))
        self.without_avoided.append(1 - leaks / len(item["without"]))
        self.tp, self.fn = self.tp + hits, self.fn + len(item["with"]) - hits
        self.fp, self.tn = self.fp + leaks, self.tn + len(item["without"]) - leaks

    def row(self) -> dict:
        precision = self.tp / max(self.tp + self.fp, 1)
        recall = self.tp / max(self.tp + self.fn, 1)
        return {"pages": len(self.with_found), "with_found": sum(self.with_found) / max(len(self.with_found), 1),
                "without_avoided": sum(self.without_avoided) / max(len(self.without_avoided), 1),
                "precision": precision, "recall": recall,
                "f1": 2 * precision * recall / max(precision + recall, 1e-12), "empty": self.empty,
                "found": f"{self.tp}/{self.tp + self.fn}", "leaked": f"{self.fp}/{self.fp + self.tn}"}


class FastHtmlToText(HtmlToText):
    """The stage's extractor with trafilatura's fast mode (no readability/jusText fallback)."""

    def _extract(self, html: str, url: str | None) -> str | None:
        return trafilatura.extract(
            html, url=url, output_format="txt", with_metadata=False, fast=True,
            include_comments=self.cfg.include_comments, include_tables=self.cfg.include_tables,
            favor_precision=self.cfg.favor_precision, deduplicate=False,
        )


# ------------------------------------------------------------------------------- (record id, text) per page

def stage_texts(warc: Path, extractor: HtmlToText, cfg: ExtractConfig):
    with open(warc, "rb") as stream:
        for outcome in iter_warc_outcomes(stream, warc.name, cfg, extractor):
            if outcome["warc_record_id"] and outcome["reason"] != NOT_RESPONSE:
                yield outcome["warc_record_id"], outcome["text"]


def warcio_payloads(warc: Path):
    """(record id, url, HTTP headers, body bytes) of every response record, read with plain warcio."""
    with open(warc, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type == "response":
                yield (record.rec_headers.get_header("WARC-Record-ID"),
                       record.rec_headers.get_header("WARC-Target-URI"), record.http_headers,
                       record.content_stream().read())


def bare_texts(warc: Path, **options):
    """trafilatura.extract on the payload bytes (it detects the charset itself, as in its own eval)."""
    for record_id, url, _, payload in warcio_payloads(warc):
        yield record_id, trafilatura.extract(payload, url=url, **options)


def fastwarc_payloads(warc: Path):
    """(record id, url, Content-Type, body with Content-Encoding undone) of every response, read with fastwarc."""
    from fastwarc.warc import ArchiveIterator as FastIterator, WarcRecordType
    with open(warc, "rb") as stream:
        for record in FastIterator(stream, record_types=WarcRecordType.response, parse_http=True):
            headers = record.http_headers
            body = decode_body(record.reader.read(), content_encodings(headers.get("Content-Encoding")),
                               ExtractConfig.max_payload_bytes)
            yield record.record_id, record.headers.get("WARC-Target-URI"), headers.get("Content-Type"), body


def _http_charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip()
    return None


def fastwarc_texts(warc: Path, extractor: HtmlToText):
    """The stage's charset decoding and extractor on records fastwarc read (no header caps, no fate rows)."""
    for record_id, url, content_type, body in fastwarc_payloads(warc):
        decoded = decode_html(body, _http_charset(content_type))
        yield record_id, extractor(decoded[0], url) if decoded else None


CONFIGS = {
    "stage": lambda warc: stage_texts(warc, HtmlToText(ExtractConfig()), ExtractConfig()),
    "stage-fast": lambda warc: stage_texts(warc, FastHtmlToText(ExtractConfig()), ExtractConfig()),
    "stage-precision": lambda warc: stage_texts(warc, HtmlToText(replace(ExtractConfig(), favor_precision=True)),
                                                ExtractConfig()),
    "stage-fastwarc": lambda warc: fastwarc_texts(warc, HtmlToText(ExtractConfig())),
    "bare-default": lambda warc: bare_texts(warc),
    "bare-fast": lambda warc: bare_texts(warc, fast=True),
}


def quiet_stderr():
    """warcio writes a line to stderr for every URI with a space in it (one real page has one)."""
    return contextlib.redirect_stderr(io.StringIO())


def fastwarc_installed() -> bool:
    return importlib.util.find_spec("fastwarc") is not None


def score_config(name: str, warc: Path, annotations: dict[str, dict]) -> dict:
    """Run one configuration over the WARC and score its texts; timing covers reading and extraction."""
    trafilatura.extract(WARM_UP_PAGE)
    score, texts = Score(), {}
    cpu, wall = time.process_time(), time.perf_counter()
    with quiet_stderr():
        for record_id, text in CONFIGS[name](warc):
            texts[record_id] = text
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    for item in annotations.values():
        score.add(item, texts.get(item["record_id"]))
    return {"config": name, **score.row(), "pages_per_cpu_s": len(texts) / cpu, "pages_per_wall_s": len(texts) / wall,
            "texts": texts}


def reader_rates(warc: Path) -> dict[str, float]:
    """Response records per CPU second, reading only: what a faster WARC reader could save at most."""
    def stage_reader():
        cfg = ExtractConfig()
        with open(warc, "rb") as stream:
            for outcome in iter_warc_outcomes(stream, warc.name, cfg, lambda html, url: "x"):
                if outcome["reason"] != NOT_RESPONSE:
                    yield outcome

    readers = {"warcio (plain)": lambda: warcio_payloads(warc),
               "stage reader (warcio, caps, Content-Encoding, charset decoding)": stage_reader}
    if fastwarc_installed():
        readers["fastwarc (+ Content-Encoding)"] = lambda: fastwarc_payloads(warc)
    rates = {}
    for name, read in readers.items():
        start = time.process_time()
        with quiet_stderr():
            records = sum(1 for _ in read())
        rates[name] = records / (time.process_time() - start)
    return rates


def print_table(rows: list[dict]) -> None:
    print(f"{'config':18s} {'pages':>5s} {'with found':>10s} {'without avoided':>15s} {'precision':>9s} "
          f"{'recall':>6s} {'F1':>5s} {'with snippets found':>19s} {'without leaked':>14s} {'empty':>5s} "
          f"{'pages/CPU s':>11s} {'pages/wall s':>12s}")
    for r in rows:
        print(f"{r['config']:18s} {r['pages']:5d} {r['with_found']:10.3f} {r['without_avoided']:15.3f} "
              f"{r['precision']:9.3f} {r['recall']:6.3f} {r['f1']:5.3f} {r['found']:>19s} {r['leaked']:>14s} "
              f"{r['empty']:5d} "
              f"{r['pages_per_cpu_s']:11.1f} {r['pages_per_wall_s']:12.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warc", type=Path, default=REAL_PAGES / "trafilatura-eval.warc.gz")
    parser.add_argument("--annotations", type=Path, default=REAL_PAGES / "annotations.json")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, of: " + ", ".join(CONFIGS))
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()
    annotations = json.loads(args.annotations.read_text(encoding="utf-8"))["pages"]
    names = [n for n in args.configs.split(",") if n != "stage-fastwarc" or fastwarc_installed()]
    rows = []
    for name in names:
        rows.append(score_config(name, args.warc, annotations))
        print(f"  {name}: done", file=sys.stderr, flush=True)
    annotated = [item["record_id"] for item in annotations.values()]
    same_as_stage = {r["config"]: sum(r["texts"].get(k) == rows[0]["texts"].get(k) for k in annotated)
                     for r in rows[1:]} if names and names[0] == "stage" else {}
    print(f"{len(annotations)} annotated pages from {args.warc.name}")
    print_table(rows)
    for name, same in same_as_stage.items():
        print(f"  {name}: the same text as the stage's on {same} of {len(annotated)} pages")
    for name, rate in reader_rates(args.warc).items():
        print(f"reader alone, {name}: {rate:.0f} response records/CPU s")
    if args.json:
        args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "texts"} for r in rows], indent=1) + "\n")


if __name__ == "__main__":
    main()
