"""GPT-3's decontamination rules (Appendix C) pinned on crafted documents: pure functions, no Spark."""
import json
from dataclasses import replace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.benchmarks import DUPLICATE_ID, MALFORMED_JSON, NO_TEXT, Benchmark, Example, load_benchmark
from corpus.config import DecontamConfig
from corpus.schema import DOCUMENT_ARROW
from corpus.decontam import (FILTER, MEASURE, WordHasher, build_index, dirty_examples, find_hits, measure_n,
                             normalise, split_document)

CFG = DecontamConfig()
QUOTE = "The quick brown fox jumps over the lazy dog while seven wise owls watch silently from above"  # 17 words
FILLER = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. "  # 57 characters


def benchmark(*texts: str, name: str = "task") -> Benchmark:
    return Benchmark(name, f"/{name}.jsonl", tuple(Example(name, str(i), i, t, json.dumps({"text": t}))
                                                   for i, t in enumerate(texts)))


def matches_in(text: str, bench: Benchmark, cfg: DecontamConfig = CFG) -> list[tuple[int, int, int]]:
    index = build_index([bench], cfg)
    return [(h.start, h.end, h.owner) for h in find_hits(text, index, WordHasher(), (FILTER,))]


def filler(chars: int) -> str:
    """`chars` characters of prose, starting and ending with a space so no word runs into a neighbour."""
    return (" " + FILLER * (chars // len(FILLER) + 1))[:chars - 1] + " " if chars else ""


def write_documents(rows: list[dict], directory) -> None:
    """Documents with the extract stage's schema (the other columns null), as one Parquet part."""
    directory.mkdir()
    full = [{**dict.fromkeys(DOCUMENT_ARROW.names), "dataset": "common_crawl", "url": "http://x/", **r} for r in rows]
    pq.write_table(pa.Table.from_pylist(full, schema=DOCUMENT_ARROW), directory / "part-00000.parquet")


def test_normalisation_lowercases_and_breaks_at_punctuation():
    assert normalise("I'm going to the U.S.A.; it's 9:30!") == "i m going to the u s a it s 9 30"
    assert normalise("Ünïcode—dash_underscore  Tabs\tand\nlines") == "ünïcode dash underscore tabs and lines"


def test_a_quote_with_other_case_and_punctuation_still_collides():
    shouted = "THE QUICK, BROWN FOX -- jumps over (the) lazy dog; while SEVEN wise owls watch silently... from above!"
    hits = matches_in(filler(300) + shouted + filler(300), benchmark(QUOTE))
    assert len(hits) == 17 - 13 + 1  # every 13-gram of the quote
    assert min(h[0] for h in hits) == 300 and max(h[1] for h in hits) == 300 + len(shouted) - 1  # '!' is not a word


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_window_of_200_characters_each_side_is_removed(where):
    before = {"start": 0, "middle": 600, "end": 600}[where]
    after = {"start": 600, "middle": 600, "end": 0}[where]
    text = filler(before) + QUOTE + filler(after)
    split = split_document(text, matches_in(text, benchmark(QUOTE)), CFG)
    [span] = split.spans
    assert (span.start, span.end) == (max(0, before - 200), min(len(text), before + len(QUOTE) + 200))
    expected_pieces = (before > 0) + (after > 0)
    assert len(split.pieces) == expected_pieces and all(p.kept for p in split.pieces)
    for piece in split.pieces:
        assert text[piece.start:piece.end] in (filler(before - 200).strip(), text[before + len(QUOTE) + 200:].strip())
    assert QUOTE not in "".join(text[p.start:p.end] for p in split.pieces)


def test_window_in_total_removes_100_each_side():
    text = filler(600) + QUOTE + filler(600)
    cfg = replace(CFG, window_per_side=False)
    [span] = split_document(text, matches_in(text, benchmark(QUOTE), cfg), cfg).spans
    assert (span.start, span.end) == (500, 600 + len(QUOTE) + 100)


def test_pieces_under_200_characters_are_discarded():
    for chars, kept in ((199, False), (200, True)):
        text = "a" * (chars + 199) + " " + QUOTE + filler(1000)  # the window takes the 200 before the quote
        split = split_document(text, matches_in(text, benchmark(QUOTE)), CFG)
        first = split.pieces[0]
        assert text[first.start:first.end] == "a" * chars and first.kept is kept
        assert split.pieces[1].kept and not split.dropped


def test_a_document_split_into_more_than_10_pieces_is_dropped_whole():
    for quotes, dropped in ((9, False), (10, True)):  # pieces = quotes + 1
        text = filler(500) + "".join(QUOTE + filler(500) for _ in range(quotes))
        split = split_document(text, matches_in(text, benchmark(QUOTE)), CFG)
        assert len(split.pieces) == quotes + 1 and split.dropped is dropped


def test_overlapping_windows_merge_and_whitespace_is_no_piece():
    text = "  \n" + QUOTE + filler(150) + QUOTE + "\n\n "
    split = split_document(text, matches_in(text, benchmark(QUOTE)), CFG)
    assert len(split.spans) == 1 and split.spans[0].start == 0 and split.spans[0].end == len(text)
    assert split.pieces == ()


def test_short_examples_are_matched_whole_from_8_words_and_never_below():
    eight = "what is ninety eight plus forty five answer"  # 8 words: one whole-example gram
    seven = "what is ninety eight plus forty five"
    text = filler(300) + "Q: What is ninety-eight plus forty-five? Answer" + filler(300)
    assert len(matches_in(text, benchmark(eight))) == 1
    assert matches_in(text, benchmark(seven)) == []
    assert matches_in(text, benchmark(eight), replace(CFG, min_ngram=13)) == []  # the strict reading


def test_measure_n_is_the_5th_percentile_length_clamped():
    assert measure_n([20] * 100, synthetic=False, cfg=CFG) == 13
    assert measure_n([2] * 100, synthetic=False, cfg=CFG) == 8
    assert measure_n([2] * 100, synthetic=True, cfg=CFG) == 2
    assert measure_n([5] * 5 + [30] * 95, synthetic=True, cfg=CFG) == 5  # the 5th percentile
    assert measure_n([5] * 4 + [30] * 96, synthetic=True, cfg=CFG) == 13


def test_dirty_examples_share_an_n_gram_with_the_corpus():
    bench = benchmark("alpha beta gamma delta", "epsilon zeta eta theta", name="cycle_letters")  # synthetic: N = 4
    index = build_index([bench], CFG)
    assert index.measure_n == {"cycle_letters": 4}
    hits = find_hits("We saw Alpha, beta; gamma & delta today.", index, WordHasher(), (MEASURE,))
    seen = {(h.n, h.hash) for h in hits}
    assert dirty_examples([bench], index, seen) == {"cycle_letters": ["0"]}


def test_the_more_than_10_documents_rule_is_the_stage_s(spark, tmp_path):
    """The count is a Spark aggregation: a 13-gram in 11 documents is ignored, one in 10 is not. The join
    engine (a benchmark set too large to broadcast) gives the same output as the broadcast one."""
    from corpus.decontam_stage import DecontamInputs, run_decontam
    boiler = "all rights reserved this material may not be published broadcast rewritten or redistributed"
    rare = QUOTE
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    (bench_dir / "task.jsonl").write_text(json.dumps({"text": boiler}) + "\n" + json.dumps({"text": rare}) + "\n{bad\n")
    rows = [{"doc_id": f"{i:016x}", "text": filler(600) + boiler + filler(600)} for i in range(11)]
    rows += [{"doc_id": f"{100 + i:016x}", "text": filler(600) + rare + filler(600)} for i in range(10)]
    rows += [{"doc_id": f"{200 + i:016x}", "text": filler(900)} for i in range(3)]
    documents = tmp_path / "documents"
    write_documents(rows, documents)
    stage = tmp_path / "stage"
    stage.mkdir()
    counts = run_decontam(spark, DecontamInputs(documents, (str(bench_dir),)),
                          stage, replace(CFG, text_fields=("text",)))
    report = json.loads((stage / "contamination.json").read_text())
    assert report["ignored_grams"]["count"] == 1  # the boilerplate is exactly one 13-gram
    assert report["ignored_grams"]["most_common"] == [{"n": 13, "documents": 11, "example": "task#0", "text": boiler}]
    assert report["datasets"]["common_crawl"]["touched"] == 10  # only the rare quote's documents
    assert counts["dropped"] == {"contaminated_span": 10} and counts["out"] == 11 + 20 + 3
    out = spark.read.parquet(str(stage / "documents"))
    pieces = out.where("parent_doc_id IS NOT NULL").collect()
    assert len(pieces) == 20 and all(len(r["doc_id"]) == 16 and r["doc_id"] != r["parent_doc_id"] for r in pieces)
    assert set(out.columns) >= {"doc_id", "dataset", "url", "text", "parent_doc_id"}
    # dirty before and after: both examples occur before; after, the ignored boilerplate still does
    bench = report["benchmarks"]["task"]
    assert bench["dirty_ids_before"] == ["0", "1"] and bench["dirty_ids"] == ["0"]
    assert (stage / "benchmarks" / "task.clean.jsonl").read_text() == json.dumps({"text": rare}) + "\n"
    assert bench["skipped_lines"] == {MALFORMED_JSON: 1}

    joined = tmp_path / "joined"
    joined.mkdir()
    assert run_decontam(spark, DecontamInputs(documents, (str(bench_dir),)), joined,
                        replace(CFG, text_fields=("text",), broadcast_max_grams=0)) == counts
    again = json.loads((joined / "contamination.json").read_text())
    assert again["engine"] == "join" and report["engine"] == "broadcast"
    for key in ("benchmarks", "datasets", "ignored_grams", "spans"):
        assert again[key] == report[key], key
    assert sorted(map(tuple, spark.read.parquet(str(joined / "documents")).collect())) == sorted(map(tuple, out.collect()))


def test_malformed_benchmark_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = ['{"context": "a b", "completion": " c"}', "{not json", "[1, 2]", '{"question": "Q?", "choices": '
             '["yes", "no"], "label": 0, "id": "q1"}', '{"other": 1}', '{"question": "Q2", "choices": ["x"], '
             '"id": "q1"}', "", '{"context": "  ", "completion": " "}']
    path.write_text("\n".join(lines) + "\n")
    bench = load_benchmark(str(path))
    assert [(e.id, e.text) for e in bench.examples] == [("0", "a b c"), ("q1", "Q?\nyes\nno")]
    assert bench.skipped == {DUPLICATE_ID: 1, MALFORMED_JSON: 2, NO_TEXT: 2}
    assert [e.id for e in load_benchmark(str(path), text_fields=("question",)).examples] == ["q1"]
