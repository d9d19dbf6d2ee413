"""The shards stage: a reversible byte-level BPE, Table 2.2 weights, and token files that give back every
document exactly once, in the same bytes for any partitioning."""
import json
import random
from dataclasses import replace

import numpy as np
import pytest

from corpus.config import ShardsConfig
from corpus.errors import UserError
from corpus.mixture import TABLE_2_2, resolve_weights
from corpus.shards import main as shards_cli
from corpus.shards_stage import NOT_IN_MIXTURE, run_shards
from corpus.tokenizer import EOT, load_tokenizer, token_dtype, train_tokenizer

def shards_input(demo_run):
    """What the pipeline's shards stage read: the latest earlier stage, decontam."""
    return demo_run["out"] / "decontam" / "documents"


TEXTS = ["The quick brown fox jumps over the lazy dog.", "Grüße aus Köln — naïve café, 25 °C.",
         "日本語の文章です。", "emoji 🎉🚀 and tabs\tand\nnewlines  double  spaces "] * 20


def random_unicode(rng: random.Random, n: int) -> str:
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x3040, 0x30FF), (0x4E00, 0x4FFF),
              (0x1F300, 0x1F64F), (0x0, 0x1F)]
    return "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(n))


def test_bpe_round_trips_any_unicode_and_never_emits_eot_for_text():
    tokenizer = train_tokenizer(TEXTS, vocab_size=400)
    eot = tokenizer.token_to_id(EOT)
    rng = random.Random(0)
    for text in [random_unicode(rng, rng.randint(0, 200)) for _ in range(200)] + [f"a {EOT} b", EOT, "", " "]:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert eot not in ids
        assert tokenizer.decode(ids, skip_special_tokens=False) == text


def test_bpe_training_is_deterministic():
    assert train_tokenizer(TEXTS, 400).to_str() == train_tokenizer(TEXTS, 400).to_str()


def test_token_dtype_fits_the_vocabulary():
    assert token_dtype(50257) == np.uint16 and token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32


def test_table_2_2_weights_map_onto_the_runs_datasets():
    weights, warnings = resolve_weights(["books", "common_crawl", "webtext2", "wikipedia"], {})
    assert sum(weights.values()) == pytest.approx(1)
    assert weights["common_crawl"] == pytest.approx(0.60 / 1.01) and weights["books"] == pytest.approx(0.16 / 1.01)
    assert warnings == []
    weights, warnings = resolve_weights(["common_crawl", "wikipedia"], {})
    assert weights == pytest.approx({"common_crawl": 0.6 / 0.63, "wikipedia": 0.03 / 0.63})
    assert len(warnings) == 3 and any("webtext2 (22%)" in w for w in warnings)
    assert sum(w for _, w, _ in TABLE_2_2.values()) == pytest.approx(1.01)  # the paper's own inconsistency


def test_weight_rules_are_user_errors():
    with pytest.raises(UserError, match="not in Table 2.2"):
        resolve_weights(["common_crawl", "my_forum"], {})
    with pytest.raises(UserError, match="dataset b has no weight"):
        resolve_weights(["a", "b"], {"a": 1.0})
    weights, warnings = resolve_weights(["a", "b"], {"a": 3, "b": 0, "c": 1})
    assert weights == {"a": 1.0} and "--weight c names no dataset" in warnings[0]


def read_split(shards, manifest, dataset, split):
    files = manifest["datasets"][dataset][split]["files"]
    return np.concatenate([np.fromfile(shards / f["path"], dtype=manifest["dtype"]) for f in files]) \
        if files else np.zeros(0, dtype=manifest["dtype"])


def test_shards_give_back_every_document_exactly_once(spark, demo_run):
    shards = demo_run["out"] / "shards"
    manifest = json.loads((shards / "manifest.json").read_text())
    tokenizer = load_tokenizer(str(shards / manifest["tokenizer"]))
    documents = spark.read.parquet(str(shards_input(demo_run))).select("dataset", "text").collect()
    expected: dict = {}
    for row in documents:
        expected.setdefault(row["dataset"], []).append(row["text"])
    assert set(manifest["datasets"]) == set(expected)
    for dataset, texts in expected.items():
        decoded = []
        for split in ("train", "val"):
            tokens = read_split(shards, manifest, dataset, split)
            entry = manifest["datasets"][dataset][split]
            assert len(tokens) == entry["tokens"] and int(tokens.max(initial=0)) < manifest["vocab_size"]
            for f in entry["files"]:
                assert (shards / f["path"]).stat().st_size == f["tokens"] * np.dtype(manifest["dtype"]).itemsize
            ends = np.flatnonzero(tokens == manifest["eot_id"])
            assert len(ends) == entry["documents"] and (len(tokens) == 0 or ends[-1] == len(tokens) - 1)
            starts = np.concatenate([[0], ends[:-1] + 1])
            decoded += [tokenizer.decode(tokens[a:b].tolist()) for a, b in zip(starts, ends)]
        assert sorted(decoded) == sorted(texts), dataset


def test_manifest_weights_and_epochs_add_up(demo_run):
    manifest = json.loads((demo_run["out"] / "shards" / "manifest.json").read_text())
    entries = manifest["datasets"].values()
    assert sum(e["weight"] for e in entries) == pytest.approx(1)
    for e in entries:
        assert e["epochs"] == pytest.approx(e["weight"] * manifest["budget_tokens"] / e["train"]["tokens"])
    mixture = json.loads((demo_run["out"] / "reports" / "mixture.json").read_text())
    assert [r["dataset"] for r in mixture["datasets"]][0] == "common_crawl"
    assert 'id="mixture"' in (demo_run["out"] / "reports" / "index.html").read_text()


def test_any_partitioning_and_a_reused_tokenizer_give_the_same_bytes(spark, demo_run, tmp_path):
    shards = demo_run["out"] / "shards"
    cfg = replace(demo_run["cfg"].shards, shard_tokens=50_000, tokenizer=str(shards / "tokenizer.json"))
    outputs = []
    for name, ranges in (("a", 3), ("b", 11)):
        run_shards(spark, shards_input(demo_run), tmp_path / name, cfg, log=lambda line: None,
                   range_partitions=ranges)
        outputs.append(tmp_path / name)
    a, b = outputs
    files = sorted(p.relative_to(a) for p in a.rglob("*.bin"))
    assert files == sorted(p.relative_to(b) for p in b.rglob("*.bin")) and len(files) > 8
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    manifest = json.loads((a / "manifest.json").read_text())
    for entry in manifest["datasets"].values():
        sizes = [f["tokens"] for f in entry["train"]["files"]]
        assert all(s == 50_000 for s in sizes[:-1]) and 0 < sizes[-1] <= 50_000  # fixed-size files
    original = json.loads((shards / "manifest.json").read_text())
    for dataset in manifest["datasets"]:  # same tokenizer, same tokens as the pipeline's run
        assert np.array_equal(read_split(a, manifest, dataset, "train"), read_split(shards, original, dataset, "train"))


def test_weight_zero_leaves_a_dataset_out_with_its_reason(spark, demo_run, tmp_path):
    cfg = replace(ShardsConfig(), vocab_size=512, weights=(("common_crawl", 1.0), ("webtext2", 1.0),
                                                           ("wikipedia", 0.0), ("books", 0.0)))
    counts = run_shards(spark, demo_run["out"] / "quality" / "documents", tmp_path / "s", cfg, log=lambda line: None)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert set(manifest["datasets"]) == {"common_crawl", "webtext2"} and manifest["vocab_size"] == 512
    assert counts["dropped"] == {NOT_IN_MIXTURE: 450} and counts["in"] == counts["out"] + 450


def test_bad_tokenizer_is_a_user_error(tmp_path):
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(UserError, match="is not a tokenizers JSON file"):
        load_tokenizer(str(tmp_path / "t.json"))


def test_inspect_prints_the_table_and_decoded_samples(demo_run, capsys):
    assert shards_cli(["inspect", str(demo_run["out"] / "shards"), "--samples", "2"]) == 0
    printed = capsys.readouterr().out
    assert "common_crawl" in printed and "EOT id" in printed and printed.count("\n--- ") == 2


def test_the_trainers_reader_accepts_the_pipelines_shards(demo_run):
    from model.shards import open_shards  # the contract between corpus/ and model/
    shards = open_shards(demo_run["out"] / "shards")
    manifest = json.loads((demo_run["out"] / "shards" / "manifest.json").read_text())
    assert set(shards.datasets) == set(manifest["datasets"]) and shards.vocab_size == manifest["vocab_size"]
    for name, dataset in shards.datasets.items():
        assert len(dataset.train) == manifest["datasets"][name]["train"]["tokens"]
        assert dataset.train.read(0, 16).max() < shards.vocab_size
