"""corpus_demo: the embedded demo crawl is deterministic, readable by warcio, and its truth.json is true.

One small crawl (pages=200) is generated per module and read back with real warcio (and, where the truth
makes a claim about extraction, real trafilatura). No Spark.
"""
import ast
import html
import itertools
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import zipfile
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

import corpus_demo as demo
from corpus.ids import doc_id_for_record
from model import synthetic

PAGES = 200


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    paths = demo.generate(out, pages=PAGES, files=3, seed=0)
    return paths, json.loads(paths["truth"].read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def truth(crawl):
    return crawl[1]


@pytest.fixture(scope="module")
def responses(crawl):
    """record_id -> (warcio record headers, HTTP headers, decoded payload) for every readable response."""
    paths, truth = crawl
    found = {}
    for entry in truth["files"]:
        try:
            for record, payload, _ in _records(paths["out"] / "crawl" / entry["warc_file"]):
                if record.rec_type in ("response", "revisit"):
                    found[record.rec_headers.get_header("WARC-Record-ID")] = (
                        record.rec_headers, record.http_headers, payload)
        except ArchiveLoadFailed:
            assert entry["truncated"]
    return found


def _records(path: Path):
    """(record, decoded HTTP payload, offset) per record. The payload is read first: warcio's
    get_record_offset() reads the record to its end, after which content_stream() is empty."""
    with open(path, "rb") as stream:
        iterator = ArchiveIterator(stream)
        for record in iterator:
            payload = record.content_stream().read()
            yield record, payload, iterator.get_record_offset()


class _MainText(HTMLParser):
    """The <p> paragraphs inside <div class="entry-content">: the article, without any site chrome."""

    def __init__(self):
        super().__init__()
        self.depth, self.paragraph, self.paragraphs = 0, None, []

    def handle_starttag(self, tag, attrs):
        if self.depth and tag == "div":
            self.depth += 1
        elif tag == "div" and dict(attrs).get("class") == "entry-content":
            self.depth = 1
        if self.depth and tag == "p":
            self.paragraph = []

    def handle_endtag(self, tag):
        if self.depth and tag == "div":
            self.depth -= 1
        if tag == "p" and self.paragraph is not None:
            self.paragraphs.append("".join(self.paragraph))
            self.paragraph = None

    def handle_data(self, data):
        if self.paragraph is not None:
            self.paragraph.append(data)


def main_text(payload: bytes, encoding="utf-8") -> str:
    parser = _MainText()
    parser.feed(payload.decode(encoding))
    return "\n\n".join(parser.paragraphs)


def word_edit_fraction(original: str, edited: str, band: int = 60) -> float:
    """Word-level Levenshtein distance (replace, insert, delete a word: 1 each) per word of the original.

    Exact within a diagonal band of +-`band` words, which random edits never leave. (difflib's greedy
    longest-block matching overcounts when a sentence repeats a phrase, so it is not used here.)
    """
    a, b = original.split(), edited.split()
    far = len(a) + len(b)
    previous = {j: j for j in range(min(len(b), band) + 1)}
    for i in range(1, len(a) + 1):
        current = {}
        for j in range(max(0, i - band), min(len(b), i + band) + 1):
            if j == 0:
                current[j] = i
                continue
            current[j] = min(previous.get(j - 1, far) + (a[i - 1] != b[j - 1]),
                             previous.get(j, far) + 1, current.get(j - 1, far) + 1)
        previous = current
    return previous[len(b)] / len(a)


def jaccard(a: str, b: str) -> float:
    """Word-set Jaccard, as the dedup stage measures it (Tokenizer + binarised HashingTF)."""
    a, b = set(a.lower().split()), set(b.lower().split())
    return len(a & b) / len(a | b)


def of_kind(truth, *kinds, readable=True):
    return [r for r in truth["records"] if r["kind"] in kinds and r["readable"] == readable]


# -------------------------------------------------------------------------------------------- determinism

def test_same_seed_gives_byte_identical_files(crawl, tmp_path):
    paths, _ = crawl
    again = demo.generate(tmp_path, pages=PAGES, files=3, seed=0)
    first = {p.relative_to(paths["out"]): p for p in paths["out"].rglob("*") if p.is_file()}
    second = {p.relative_to(again["out"]): p for p in again["out"].rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    assert len(first) == 3 + 1 + 3 + 9 + 1  # WARCs, truncated WARC, references, benchmarks, truth.json
    for name, path in first.items():
        assert path.read_bytes() == second[name].read_bytes(), name


def test_another_seed_gives_another_crawl(tmp_path, truth):
    other = json.loads(demo.generate(tmp_path, pages=40, files=1, seed=1)["truth"].read_text(encoding="utf-8"))
    assert {r["record_id"] for r in other["records"]}.isdisjoint(r["record_id"] for r in truth["records"])


# -------------------------------------------------------------------------------------- WARC structure

def test_every_regular_file_is_a_common_crawl_like_warc(crawl, truth):
    paths, _ = crawl
    truth_by_id = {r["record_id"]: r for r in truth["records"]}
    record_ids = set()
    for entry in [f for f in truth["files"] if not f["truncated"]]:
        records = list(_records(paths["out"] / "crawl" / entry["warc_file"]))
        assert len(records) == entry["records"]
        types = [record.rec_type for record, _, _ in records]
        assert types[0] == "warcinfo" and "warcinfo" not in types[1:]
        kinds = Counter()
        for (record, _, offset), following in zip(records, types[1:] + [None]):
            headers = record.rec_headers
            record_id = headers.get_header("WARC-Record-ID")
            assert re.fullmatch(r"<urn:uuid:[0-9a-f-]{36}>", record_id) and record_id not in record_ids
            record_ids.add(record_id)
            assert headers.get_header("WARC-Date").startswith("2020-")
            if record.rec_type == "request":
                assert following in ("response", "revisit")  # CC order: request, response, metadata
            if record.rec_type == "response":
                assert following == "metadata"
            if record.rec_type in ("response", "revisit"):
                expected = truth_by_id[record_id]
                assert expected["warc_file"] == entry["warc_file"] and expected["warc_offset"] == offset
                assert expected["url"] == headers.get_header("WARC-Target-URI")
                assert expected["doc_id"] == doc_id_for_record(record_id)
                assert headers.get_header("WARC-IP-Address")
                kinds[expected["kind"]] += 1
        in_this_file = Counter(r["kind"] for r in truth["records"] if r["warc_file"] == entry["warc_file"])
        assert kinds == in_this_file
    assert sum(f["responses"] for f in truth["files"]) == sum(1 for r in truth["records"] if r["readable"])


def test_counts_per_kind_match_the_records_and_the_requested_shares(truth):
    assert truth["counts"] == dict(sorted(Counter(r["kind"] for r in truth["records"]).items()))
    regular = Counter(r["kind"] for r in truth["records"] if not r["warc_file"].endswith("truncated.warc.gz"))
    ordinary = {kind: regular[kind] for kind in ("good", *dict(demo.PAGE_KIND_SHARES))}
    assert sum(ordinary.values()) == PAGES
    assert 0.40 <= ordinary["good"] / PAGES <= 0.50
    for kind, share in demo.PAGE_KIND_SHARES:
        assert ordinary[kind] == round(share * PAGES), kind


def test_special_records_come_with_their_exact_reasons(truth):
    reasons = {r["kind"]: r["expected_reason"] for r in truth["records"] if r["kind"] in demo.SPECIAL_KINDS}
    assert reasons == demo.SPECIAL_KINDS
    assert set(reasons.values()) - {None} == {"not_http_200", "not_html", "empty_payload", "not_response",
                                               "over_size_cap", "extractor_empty"}
    counts = Counter(r["kind"] for r in truth["records"])
    assert all(counts[kind] >= 2 for kind in demo.SPECIAL_KINDS if kind != "oversize")
    assert counts["oversize"] == 1
    assert sum(counts[kind] for kind in demo.SPECIAL_KINDS) <= 0.2 * len(truth["records"])
    ordinary = {"good", *dict(demo.PAGE_KIND_SHARES)}
    assert all(r["expected_reason"] is None for r in truth["records"] if r["kind"] in ordinary and r["readable"])


def test_special_payloads_are_what_their_kind_says(truth, responses):
    for record in truth["records"]:
        if not record["readable"]:
            continue
        warc_headers, http, payload = responses[record["record_id"]]
        content_type = http.get_header("Content-Type")
        kind = record["kind"]
        if kind in ("http_404", "http_301"):
            assert http.get_statuscode() == kind[-3:]
        elif kind == "image_png":
            assert content_type == "image/png" and payload.startswith(b"\x89PNG\r\n\x1a\n")
        elif kind in ("application_pdf", "pdf_as_html"):
            assert payload.startswith(b"%PDF-1.4")
            assert content_type == ("application/pdf" if kind == "application_pdf" else "text/html")
        elif kind == "empty_payload":
            assert payload == b"" and http.get_statuscode() == "200" and content_type.startswith("text/html")
        elif kind == "revisit":
            assert warc_headers.get_header("WARC-Type") == "revisit"
        elif kind == "oversize":
            assert len(payload) > 5 * 2**20 and http.get_statuscode() == "200"
        elif kind == "bad_charset_label":
            assert content_type == "text/html; charset=no-such-charset"
            assert record["snippet"] in payload.decode("utf-8")
        elif kind in ("meta_charset", "http_equiv_charset"):
            charset = record["charset"]
            assert content_type == "text/html"  # the charset is declared only inside the HTML
            declaration = (f'<meta charset="{charset}">' if kind == "meta_charset"
                           else f'content="text/html; charset={charset}"').encode()
            assert declaration in payload
            assert record["snippet"] in payload.decode(charset)
            with pytest.raises(UnicodeDecodeError):
                payload.decode("utf-8")
        else:
            assert http.get_statuscode() == "200" and payload.startswith(b"<!DOCTYPE html>"), record
    charsets = {r["charset"] for r in truth["records"] if r["kind"] == "meta_charset"}
    assert charsets == {"windows-1251", "shift_jis", "iso-8859-1"}


def test_gzip_and_chunked_responses_decode_to_the_same_html(crawl, truth):
    paths, _ = crawl
    encoded = {r["record_id"]: r["transfer"] for r in truth["records"] if r["transfer"] and r["readable"]}
    assert Counter(encoded.values())["gzip"] >= 2 and Counter(encoded.values())["chunked"] >= 2
    for entry in truth["files"][:-1]:
        for record, html_text, _ in _records(paths["out"] / "crawl" / entry["warc_file"]):
            transfer = encoded.get(record.rec_headers.get_header("WARC-Record-ID"))
            if record.rec_type != "response" or not transfer:
                continue
            if transfer == "gzip":
                assert record.http_headers.get_header("Content-Encoding") == "gzip"
            else:
                assert record.http_headers.get_header("Transfer-Encoding") == "chunked"
                assert record.http_headers.get_header("Content-Length") is None
            assert record.raw_stream is not None  # html_text: warcio's content_stream undid the coding
            assert html_text.startswith(b"<!DOCTYPE html>") and html_text.rstrip().endswith(b"</html>")


def test_truncated_file_yields_the_readable_records_then_raises(crawl, truth):
    paths, _ = crawl
    entry = truth["files"][-1]
    assert entry["truncated"] and entry["expected_error"] == "corrupt_warc"
    assert entry["cut_offset"] == (paths["out"] / "crawl" / entry["warc_file"]).stat().st_size
    readable = {r["record_id"] for r in truth["records"] if r["warc_file"] == entry["warc_file"] and r["readable"]}
    unreadable = [r for r in truth["records"] if not r["readable"]]
    assert readable and unreadable and all(r["warc_file"] == entry["warc_file"] for r in unreadable)
    assert all(r["expected_reason"] == "corrupt_warc" for r in unreadable)
    seen = []
    with pytest.raises(ArchiveLoadFailed):
        for record, _, _ in _records(paths["out"] / "crawl" / entry["warc_file"]):
            seen.append(record)
    assert len(seen) == entry["records"]
    assert {r.rec_headers.get_header("WARC-Record-ID") for r in seen if r.rec_type == "response"} == readable
    assert 0.4 < entry["cut_offset"] / max(r["warc_offset"] for r in unreadable) < 1


# ------------------------------------------------------------------------------------ planted content

def test_exact_duplicates_repeat_the_original_article_verbatim(truth, responses):
    by_doc = {r["doc_id"]: r for r in truth["records"]}
    exact = of_kind(truth, "exact_dup")
    assert exact
    for record in exact:
        original = by_doc[record["dup_of"]]
        assert original["kind"] == "good" and original["dup_group"] == record["dup_group"] is not None
        assert original["url"] != record["url"]
        copy_text = main_text(responses[record["record_id"]][2])
        assert copy_text and copy_text == main_text(responses[original["record_id"]][2])


def test_exact_duplicates_extract_to_identical_text_with_trafilatura(truth, responses):
    import trafilatura  # a dependency: a missing install must fail, not skip
    by_doc = {r["doc_id"]: r for r in truth["records"]}
    for record in of_kind(truth, "exact_dup")[:5]:
        texts = [trafilatura.extract(responses[r["record_id"]][2].decode(), include_comments=False)
                 for r in (record, by_doc[record["dup_of"]])]
        assert texts[0] and texts[0] == texts[1]


def test_near_duplicates_edit_5_to_30_percent_of_the_words(truth, responses):
    by_doc = {r["doc_id"]: r for r in truth["records"]}
    near = of_kind(truth, "near_dup")
    assert near
    for record in near:
        original = by_doc[record["dup_of"]]
        assert original["kind"] == "good" and original["dup_group"] == record["dup_group"]
        assert 0.05 <= record["edit_fraction"] <= 0.30
        before = main_text(responses[original["record_id"]][2])
        after = main_text(responses[record["record_id"]][2])
        measured = word_edit_fraction(before, after)
        assert record["edit_fraction"] - 0.02 <= measured <= record["edit_fraction"] + 1e-4, record["url"]  # rounded
        assert jaccard(before, after) > 0.5


def test_unrelated_good_pages_share_few_words(truth, responses):
    good = [main_text(responses[r["record_id"]][2]) for r in of_kind(truth, "good") if r["dup_group"] is None]
    pairs = list(itertools.combinations(random.Random(0).sample(good, 40), 2))
    similarities = [jaccard(a, b) for a, b in pairs]
    assert statistics.mean(similarities) < 0.2 and max(similarities) < 0.3


def test_good_pages_have_150_to_800_words_in_2_to_8_paragraphs(truth, responses):
    for record in of_kind(truth, "good"):
        text = main_text(responses[record["record_id"]][2])
        assert 150 <= len(text.split()) <= 800 + 60  # the last sentence may overshoot
        assert 1 <= text.count("\n\n") <= 7
        assert record["main_text_words"] == len(text.split())


def test_benchmark_quote_pages_contain_their_items_verbatim(crawl, truth, responses):
    paths, _ = crawl
    benchmarks = {task: synthetic.read_jsonl(path) for task, path in paths["benchmarks"].items()}
    quoted = Counter()
    for record in of_kind(truth, "benchmark_quote"):
        assert 1 <= len(record["benchmark_items"]) <= 3
        page = " ".join(html.unescape(responses[record["record_id"]][2].decode()).split())
        for item in record["benchmark_items"]:
            example = benchmarks[item["task"]][item["index"]]
            assert " ".join((example["context"] + example["completion"]).split()) in page
            quoted[item["task"], item["index"]] += 1
    assert quoted and max(quoted.values()) == 1  # each item quoted once: below the "10 documents" rule
    assert len({task for task, _ in quoted}) >= 3


def test_prose_cloze_13_grams_occur_only_on_pages_that_quote_them(crawl, truth, responses):
    """The decontamination stage's 13-grams (lowercased words, punctuation as a break) are planted only."""
    paths, _ = crawl
    cloze = synthetic.read_jsonl(paths["benchmarks"]["prose_cloze"])
    benchmark_grams = set().union(*(demo.word_ngrams(i["context"] + i["completion"], 13) for i in cloze))
    quoting = {r["record_id"]: r for r in of_kind(truth, "benchmark_quote")
               if any(i["task"] == "prose_cloze" for i in r["benchmark_items"])}
    assert quoting
    for record in truth["records"]:
        if record["record_id"] not in responses or record["kind"] in ("image_png", "application_pdf",
                                                                      "pdf_as_html", "empty_payload"):
            continue
        page_grams = demo.word_ngrams(main_text(responses[record["record_id"]][2], record["charset"] or "utf-8"), 13)
        assert page_grams.isdisjoint(benchmark_grams) != (record["record_id"] in quoting), record["url"]
    for path in paths["reference"].values():
        for line in path.read_text(encoding="utf-8").splitlines():
            assert demo.word_ngrams(json.loads(line)["text"], 13).isdisjoint(benchmark_grams)


def test_reference_duplicates_copy_a_reference_document(crawl, truth, responses):
    paths, _ = crawl
    references = {}
    for name, path in paths["reference"].items():
        for line in path.read_text(encoding="utf-8").splitlines():
            document = json.loads(line)
            assert set(document) == {"id", "text"} and document["id"].startswith(name)
            references[name, document["id"]] = document["text"]
    copies = of_kind(truth, "reference_dup")
    assert copies and any(r["edit_fraction"] == 0 for r in copies) and any(r["edit_fraction"] > 0 for r in copies)
    assert len({(r["reference"]["dataset"], r["reference"]["id"]) for r in copies}) == len(copies)
    for record in copies:
        source = references[record["reference"]["dataset"], record["reference"]["id"]]
        copy_text = main_text(responses[record["record_id"]][2])
        assert record["dup_group"] is not None and record["dup_of"] is None
        if record["edit_fraction"] == 0:
            assert copy_text == source
        else:
            assert word_edit_fraction(source, copy_text) <= 0.05


def test_reference_corpora_are_sized_and_styled(crawl):
    paths, _ = crawl
    docs = {name: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            for name, path in paths["reference"].items()}
    assert set(docs) == {"webtext2", "books", "wikipedia"}
    assert all(len(d) >= 10 for d in docs.values())
    book_words = [len(d["text"].split()) for d in docs["books"]]
    assert min(book_words) >= 1900 and statistics.mean(book_words) > 2500
    assert all("\n\n" in d["text"] and len(d["text"].split("\n\n", 1)[0].split()) <= 8 for d in docs["wikipedia"])


def test_benchmark_files_are_the_synthetic_tasks_in_gpt3_format(crawl, truth):
    paths, _ = crawl
    for task, path in paths["benchmarks"].items():
        items = synthetic.read_jsonl(path)
        assert len(items) == truth["benchmarks"][task] > 50
        assert all(list(item) == ["context", "completion"] and item["completion"].startswith(" ") for item in items)
        if task in synthetic.TASKS:
            assert items == synthetic.generate(task, len(items), seed=truth["seed"])
        else:
            assert task == "prose_cloze" and min(len(i["context"].split()) for i in items) >= 24


# --------------------------------------------------------------------------------- extraction claims

def test_truth_about_extraction_holds_for_trafilatura(truth, responses):
    """Pages the truth keeps give text; the app shell gives none; charset pages keep their snippet."""
    import trafilatura  # a dependency: a missing install must fail, not skip
    kinds = ("boilerplate", "list", "spam", "no_main_text", "bad_charset_label", "meta_charset",
             "http_equiv_charset")
    for record in [r for r in truth["records"] if r["kind"] in kinds]:
        payload = responses[record["record_id"]][2]
        text = trafilatura.extract(payload.decode(record["charset"] or "utf-8"), include_comments=False)
        if record["expected_reason"] == "extractor_empty":
            assert not text, record["url"]
        else:
            assert text, record["url"]
            assert record["snippet"] is None or record["snippet"] in text


# ------------------------------------------------------------------------------------------------- CLI

def test_cli_writes_the_crawl_and_reports_counts(tmp_path, capsys):
    assert demo.main(["--out", str(tmp_path), "--pages", "40", "--files", "2", "--seed", "3"]) == 0
    assert "response records" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "crawl").iterdir()) == [
        "CC-DEMO-3-00000.warc.gz", "CC-DEMO-3-00001.warc.gz", "CC-DEMO-3-truncated.warc.gz"]
    assert demo.main(["--out", str(tmp_path), "--pages", "5"]) == 2
    assert "pages >= 20" in capsys.readouterr().err


def test_both_module_commands_write_the_same_bytes(tmp_path):
    """`python -m corpus_demo` and the forwarding `python -m corpus.demo`, run as users run them."""
    new, forwarded = tmp_path / "new", tmp_path / "forwarded"  # not module names: cwd is on sys.path
    for module, out in (("corpus_demo", new), ("corpus.demo", forwarded)):
        subprocess.run([sys.executable, "-m", module, "--out", str(out), "--pages", "40", "--files", "1",
                        "--seed", "3"], check=True, capture_output=True, cwd=tmp_path)
    files = sorted(path.relative_to(new) for path in new.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(forwarded) for path in forwarded.rglob("*") if path.is_file())
    assert len(files) == 1 + 1 + 3 + 9 + 1  # WARC, truncated WARC, references, benchmarks, truth.json
    for name in files:
        assert (new / name).read_bytes() == (forwarded / name).read_bytes(), name


# ------------------------------------------------------------------------------ outside the shipped package

def _imported_modules(path: Path) -> set[str]:
    """Every module an import statement in `path` names, top-level or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def test_the_zip_shipped_to_executors_holds_only_the_forwarding_module():
    from corpus.spark import PACKAGE_DIR, package_zip

    archive_path = package_zip()
    try:
        with zipfile.ZipFile(archive_path) as archive:
            names = archive.namelist()
            forwarder = archive.read("corpus/demo.py").decode("utf-8")
    finally:
        shutil.rmtree(archive_path.parent)
    assert "corpus/spark.py" in names and not [n for n in names if n.startswith("corpus_demo")]
    assert [n for n in names if "demo" in n] == ["corpus/demo.py"]
    assert forwarder == (PACKAGE_DIR / "demo.py").read_text(encoding="utf-8")
    # A forwarder defines nothing: no function or class of the generator came back into the package.
    tree = ast.parse(forwarder)
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert len(forwarder.splitlines()) < 20


def test_nothing_in_corpus_but_the_forwarder_imports_the_generator():
    from corpus.spark import PACKAGE_DIR

    importers = sorted(str(path.relative_to(PACKAGE_DIR.parent)) for path in PACKAGE_DIR.rglob("*.py")
                       if any(name.split(".")[0] == "corpus_demo" for name in _imported_modules(path)))
    assert importers == ["corpus/demo.py"]
    # ... and the generator needs neither its forwarder (that would be a cycle) nor Spark.
    assert not [name for path in Path(demo.__file__).parent.glob("*.py") for name in _imported_modules(path)
                if name in ("corpus.demo", "corpus.spark")]
