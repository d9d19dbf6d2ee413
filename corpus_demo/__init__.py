"""The embedded demo crawl: Common Crawl-like WARC files with planted, known truth.

`python -m corpus_demo --out DIR [--pages N] [--files K] [--seed S]` writes

    DIR/crawl/CC-DEMO-<seed>-0000i.warc.gz     K WARC files: warcinfo, then request/response/metadata per page
    DIR/crawl/CC-DEMO-<seed>-truncated.warc.gz one more file, cut inside a record ~60% in (readers keep what
                                               precedes the cut; warcio raises ArchiveLoadFailed there)
    DIR/reference/{webtext2,books,wikipedia}.jsonl   reference corpora, {"id", "text"} per line
    DIR/benchmarks/<task>.jsonl                benchmarks in GPT-3's {"context", "completion"} format
    DIR/truth.json                             what every later stage should find, record by record

Every page has a planted *kind* (good prose, keyword spam, thin boilerplate, machine lists, exact and near
duplicates, pages quoting benchmark items, copies of reference documents) and every record the reason the
extract stage must give for it (`expected_reason`, null when it should become a document), so each stage's
precision and recall can be measured against `truth.json` rather than eyeballed.

All text comes from the English prose that ships with Python (see `corpus.prose`); nothing is downloaded.
Output is a pure function of (pages, files, seed) and the Python version: no clocks, no uuid4, gzip
headers with mtime 0, so two runs give byte-identical files.

The generator is a package of its own, outside `corpus`, because `corpus` is zipped to every Spark executor
and executors never need it. One module per concern, in the order a crawl is made:

    config.py    DemoConfig, and one random stream per purpose derived from the seed
    kinds.py     the planted page kinds and special records, and the reason the extract stage must give
    text.py      text pools (document and held-back cloze sentences), word edits for near duplicates
    corpora.py   the reference corpora and benchmarks the crawl copies from
    sites.py     web sites: domains, servers, menus, URLs
    articles.py  a page's main content for each kind
    pages.py     HTML templates around an article
    records.py   Page, one record to write, with its truth; PNG and PDF payloads
    planner.py   every page decided up front: who copies whom, which benchmark item is quoted where
    warc.py      the WARC writer, and the truncated file's cut
    truth.py     truth.json
    output.py    generate(): all of the above into a directory
    cli.py       the command line (`python -m corpus_demo`)
"""
from corpus_demo.cli import main
from corpus_demo.config import DemoConfig
from corpus_demo.kinds import EXPECTED_REASONS, PAGE_KIND_SHARES, SPECIAL_KINDS
from corpus_demo.output import generate, generate_from_config
from corpus_demo.planner import plan_crawl
from corpus_demo.text import TextPool, edit_words, word_ngrams
from corpus_demo.warc import write_crawl

__all__ = ["EXPECTED_REASONS", "PAGE_KIND_SHARES", "SPECIAL_KINDS", "DemoConfig", "TextPool", "edit_words",
           "generate", "generate_from_config", "main", "plan_crawl", "word_ngrams", "write_crawl"]
