"""The job's flags come from the config dataclasses, and a run's written config repeats it."""
import json
import os
import subprocess
import sys
import tomllib
from dataclasses import fields, replace
from pathlib import Path

import pytest

from conftest import REAL_WARC_DIR, REPO_ROOT, job_env, load_filter_job
from corpus.config import QualityConfig


FILTER = load_filter_job()
INTERNAL = {("extract", "dataset"), ("quality", "crawl_dataset"), ("dedup", "crawl_dataset")}
# Every flag of the hand-written parser this one replaced, with what it set.
LEGACY_FLAGS = [
    (["--warc", "a", "--warc", "b"], "job", "warc", ("a", "b")),
    (["--warc-prefix", "https://x/"], "job", "warc_prefix", "https://x/"),
    (["--out", "o"], "job", "out", Path("o")),
    (["--stages", "extract,dedup"], "job", "stages", "extract,dedup"),
    (["--redo", "dedup", "--redo", "extract"], "job", "redo", ("dedup", "extract")),
    (["--demo-dir", "d"], "job", "demo_dir", Path("d")),
    (["--reference", "wiki=w.jsonl"], "job", "reference", (("wiki", "w.jsonl"),)),
    (["--classifier", "m"], "job", "classifier", "m"),
    (["--benchmarks", "e"], "job", "benchmarks", ("e",)),
    (["--max-payload-bytes", "7"], "extract", "max_payload_bytes", 7),
    (["--split-bytes", "0"], "extract", "split_bytes", 0),
    (["--extract-timeout", "2.5"], "extract", "extract_timeout_s", 2.5),
    (["--reference-text-field", "body"], "quality", "text_field", "body"),
    (["--alpha", "3"], "quality", "alpha", 3.0),
    (["--num-features", "64"], "quality", "num_features", 64),
    (["--reg-param", "0.5"], "quality", "reg_param", 0.5),
    (["--negatives-per-positive", "2"], "quality", "negatives_per_positive", 2.0),
    (["--holdout-fraction", "0.3"], "quality", "holdout_fraction", 0.3),
    (["--dedup-engine", "bands"], "dedup", "engine", "bands"),
    (["--dedup-features", "shingles"], "dedup", "features", "shingles"),
    (["--dedup-shingle-size", "3"], "dedup", "shingle_size", 3),
    (["--dedup-threshold", "0.8"], "dedup", "threshold", 0.8),
    (["--dedup-bands", "20"], "dedup", "bands", 20),
    (["--dedup-rows", "5"], "dedup", "rows", 5),
    (["--dedup-tables", "4"], "dedup", "spark_ml_tables", 4),
    (["--dedup-max-bucket", "50"], "dedup", "max_bucket_size", 50),
    (["--benchmark-text-field", "q", "--benchmark-text-field", "a"], "decontam", "text_fields", ("q", "a")),
    (["--decontam-ngram", "10"], "decontam", "ngram", 10),
    (["--decontam-min-ngram", "6"], "decontam", "min_ngram", 6),
    (["--decontam-window", "100"], "decontam", "window_chars", 100),
    (["--decontam-window-total"], "decontam", "window_per_side", False),
    (["--decontam-min-piece", "50"], "decontam", "min_piece_chars", 50),
    (["--decontam-max-pieces", "3"], "decontam", "max_pieces", 3),
    (["--decontam-max-docs-per-gram", "4"], "decontam", "max_docs_per_gram", 4),
    (["--synthetic-task", "sum_*"], "decontam", "synthetic_tasks", ("sum_*",)),
    (["--vocab-size", "512"], "shards", "vocab_size", 512),
    (["--weight", "common_crawl=0.6", "--weight", "wiki=0.4"], "shards", "weights",
     (("common_crawl", 0.6), ("wiki", 0.4))),
    (["--token-budget", "1000"], "shards", "token_budget", 1000),
    (["--val-fraction", "0.1"], "shards", "val_fraction", 0.1),
    (["--shard-tokens", "4096"], "shards", "shard_tokens", 4096),
]


def configs_from(argv: list[str]) -> dict:
    return FILTER.job_configs(FILTER.parse_args(argv))


def test_every_settable_config_field_has_a_flag_with_help():
    actions = FILTER.build_parser()._option_string_actions
    settable = 0
    for section, cls in FILTER.SECTIONS.items():
        for f in fields(cls):
            if (section, f.name) in INTERNAL:
                assert f.metadata.get("cli") is False, (section, f.name)
                continue
            settable += 1
            for flag in FILTER.CLI.flags_of(section, f.name):
                assert flag in actions and actions[flag].help.strip(), (section, f.name, flag)
            assert FILTER.CLI.systematic_flag(section, f.name) in actions or f.name == "seed"
    assert settable > 60


@pytest.mark.parametrize("argv, section, name, value", LEGACY_FLAGS, ids=[case[0][0] for case in LEGACY_FLAGS])
def test_the_flags_users_type_keep_their_meaning(argv, section, name, value):
    configs = configs_from(argv)
    assert getattr(configs[section], name) == value
    untouched = configs_from([])
    assert all(configs[other] == untouched[other] for other in FILTER.SECTIONS if other != section)


def test_a_systematic_alias_sets_the_same_field():
    assert configs_from(["--dedup-spark-ml-tables", "4"]) == configs_from(["--dedup-tables", "4"])
    assert configs_from(["--quality-alpha", "3"])["quality"].alpha == 3.0
    assert configs_from(["--no-decontam-window-per-side"])["decontam"].window_per_side is False


def test_seed_reaches_every_config_that_draws():
    seeded = [section for section, cls in FILTER.SECTIONS.items() if "seed" in {f.name for f in fields(cls)}]
    assert set(seeded) == {"quality", "dedup", "shards"}
    assert {section: configs_from([])[section].seed for section in seeded} == dict.fromkeys(seeded, 0)
    assert {section: configs_from(["--seed", "7"])[section].seed for section in seeded} == dict.fromkeys(seeded, 7)


def test_bad_flag_values_are_the_configs_own_errors(capsys):
    assert FILTER.main(["--warc", str(REAL_WARC_DIR), "--dedup-rows", "0"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --dedup-bands, --dedup-rows, --dedup-shingle-size and "
                                               "--dedup-tables must be positive, --dedup-max-bucket at least 2")
    assert FILTER.main(["--warc", str(REAL_WARC_DIR), "--weight", "webtext2"]) == 2
    assert capsys.readouterr().err.strip() == "error: --weight takes DATASET=W with a number W, got 'webtext2'"


# ----------------------------------------------------------------------------------- run-config.toml

@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    (tmp_path / "wiki.jsonl").write_text(json.dumps({"text": "reference text"}) + "\n")
    (tmp_path / "qa.jsonl").write_text(json.dumps({"context": "a question", "completion": "an answer"}) + "\n")
    (tmp_path / "tokenizer.json").write_text("{}")
    return {name: tmp_path / f"{name}.{ext}" for name, ext in (("wiki", "jsonl"), ("qa", "jsonl"),
                                                                ("tokenizer", "json"))}


def written_and_read(argv: list[str], tmp_path: Path):
    """(PipelineConfig of argv, PipelineConfig of --config of the file argv's run writes, both configs)."""
    ran, cfg = FILTER.resolve(configs_from(argv))
    path = tmp_path / FILTER.RUN_CONFIG_FILE
    path.write_text(FILTER.CLI.to_toml(ran))
    again, cfg_again = FILTER.resolve(configs_from(["--config", str(path)]))
    return cfg, cfg_again, ran, again


def test_a_written_run_config_gives_back_the_same_pipeline_config(inputs, tmp_path):
    argv = ["--warc", str(REAL_WARC_DIR), "--out", str(tmp_path / "out"), "--redo", "all", "--seed", "5",
            "--reference", f"wiki={inputs['wiki']}", "--benchmarks", str(inputs["qa"]),
            "--tokenizer", str(inputs["tokenizer"]), "--weight", "common_crawl=0.7", "--weight", "wiki=0.3",
            "--alpha", "2.5", "--dedup-engine", "bands", "--decontam-window-total", "--no-extract-include-tables",
            "--quality-alpha-grid", "1", "--quality-alpha-grid", "4", "--synthetic-task", "sum_*"]
    cfg, cfg_again, ran, again = written_and_read(argv, tmp_path)
    assert cfg_again == cfg and again == ran
    assert cfg.shards.seed == cfg.dedup.seed == 5 and cfg.decontam.window_per_side is False
    assert cfg.redo == frozenset(cfg.stages) and cfg.shards.weights == (("common_crawl", 0.7), ("wiki", 0.3))
    assert cfg != FILTER.resolve(configs_from(argv[:-2]))[1]  # the comparison sees a changed setting


def test_the_demo_run_config_names_the_demo_inputs(tmp_path, monkeypatch):
    from corpus.demo import generate
    monkeypatch.chdir(tmp_path)
    generate(FILTER.DEFAULT_DEMO_DIR, pages=60, files=2)
    cfg, cfg_again, ran, _ = written_and_read([], tmp_path)
    assert cfg_again == cfg and cfg.references and cfg.benchmarks
    assert ran["job"].warc == (str(FILTER.DEFAULT_DEMO_DIR / "crawl"),)


def test_flags_override_the_config_file(inputs, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(f'warc = ["{REAL_WARC_DIR}"]\nstages = "extract,quality"\nreference = ["wiki={inputs["wiki"]}"]\n'
                    '[quality]\nalpha = 4\nseed = 3\n[dedup]\nthreshold = 0.7\n')
    configs = configs_from(["--config", str(path), "--alpha", "6", "--stages", "extract"])
    assert configs["quality"] == replace(QualityConfig(), alpha=6.0, seed=3)
    assert configs["dedup"].threshold == 0.7 and configs["job"].stages == "extract"
    assert configs["job"].reference == (("wiki", str(inputs["wiki"])),)  # a NAME=VALUE list, as the flag


@pytest.mark.parametrize("text, message", [
    ("[dedup]\nthreshold = 0\n",
     "error: --dedup-threshold is a Jaccard similarity in (0, 1], not 0.0 (set in --config {path} as "
     "[dedup] threshold)"),
    ('[dedup]\nthreshold = "high"\n', "error: --config {path}: [dedup] threshold must be a number, not 'high'"),
    ("[dedup]\ntreshold = 0.5\n", "error: --config {path} sets [dedup] treshold, which is not a setting of this job"),
    ('[extract]\ndataset = "mine"\n',
     "error: --config {path} sets [extract] dataset, which is not a setting of this job"),
    ("[shards]\nweights = [\"x\"]\n",
     "error: --weight takes DATASET=W with a number W, got 'x' (in --config {path}, [shards] weights)"),
    ("stages = [", "error: --config {path} is not a TOML file ("),  # then tomllib's own words
])
def test_a_bad_config_file_is_one_sentence_naming_the_setting(text, message, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(text)
    result = subprocess.run([sys.executable, "jobs/filter.py", "--config", str(path), "--warc", "tests/data"],
                            cwd=REPO_ROOT, env=job_env(), capture_output=True, text=True, timeout=120)
    error, message = result.stderr.strip(), message.format(path=path)
    assert result.returncode == 2 and len(error.splitlines()) == 1 and "Traceback" not in error
    assert error == message or message.endswith("(") and error.startswith(message)
    assert os.listdir(tmp_path) == ["run.toml"]  # refused before anything was written


def test_a_finished_runs_config_repeats_it(tmp_path):
    """jobs/filter.py writes OUT/run-config.toml; --config of it runs with the same settings elsewhere."""
    first, second = tmp_path / "first", tmp_path / "second"

    def run(*args):
        result = subprocess.run([sys.executable, "jobs/filter.py", "--master", "local[2]", *args], cwd=REPO_ROOT,
                                env=job_env(), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]

    run("--warc", "tests/data", "--stages", "extract", "--out", str(first), "--split-bytes", "65536",
        "--seed", "9", "--dedup-tables", "3")
    written = first / FILTER.RUN_CONFIG_FILE
    assert tomllib.loads(written.read_text())["extract"]["split_bytes"] == 65536
    run("--config", str(written), "--out", str(second))
    assert sorted(p.name for p in first.iterdir() if not p.name.startswith(".")) == \
        sorted(p.name for p in second.iterdir() if not p.name.startswith("."))
    cfg_first = FILTER.pipeline_config(FILTER.parse_args(["--config", str(written)]))
    cfg_second = FILTER.pipeline_config(FILTER.parse_args(["--config", str(second / FILTER.RUN_CONFIG_FILE)]))
    assert cfg_second == replace(cfg_first, out_dir=second)
    assert cfg_first.dedup.spark_ml_tables == 3 and cfg_first.shards.seed == 9 and cfg_first.stages == ("extract",)
    settings = [json.loads((out / "extract" / "settings.json").read_text()) for out in (first, second)]
    assert settings[0] == settings[1]  # what the stage records it was made with
