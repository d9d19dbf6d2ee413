"""The main job: Common Crawl WARCs → GPT-3-style corpus. Thin glue: arguments → corpus.

    spark-submit jobs/filter.py                       # the embedded demo crawl → ./out
    spark-submit jobs/filter.py --warc 'crawl/*.warc.gz' --out out
    spark-submit jobs/filter.py --warc warc.paths.gz --warc-prefix https://data.commoncrawl.org/ \
        --reference webtext2=webtext2.jsonl --reference wikipedia=wiki.parquet
    spark-submit jobs/filter.py --warc more-crawl/ --classifier out/models/quality --out out2
    spark-submit jobs/filter.py --warc crawl/ --reference ... --benchmarks evals/ --benchmarks extra/lambada.jsonl
    spark-submit jobs/filter.py --config out/run-config.toml --out out3   # out's settings again, into out3

The flags come from the configs' fields (corpus.config, corpus.cli); each run writes the settings it ran with to
OUT/run-config.toml.
"""
import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's corpus/, even uninstalled

from corpus.benchmarks import list_benchmark_files
from corpus.cli import ConfigCli
from corpus.config import (DecontamConfig, DedupConfig, ExtractConfig, JobConfig, QualityConfig,
                           ShardsConfig)
from corpus.errors import UserError
from corpus.inputs import is_remote, resolve_warc_inputs
from corpus.out_dir import owned_out_dir, refuse_out_holding_inputs
from corpus.references import list_reference_files
from corpus.stage_output import STAGES, parse_stage_list, write_text_atomic
from corpus.pipeline import PipelineConfig, input_paths

SECTIONS = {"job": JobConfig, "extract": ExtractConfig, "quality": QualityConfig, "dedup": DedupConfig,
            "decontam": DecontamConfig, "shards": ShardsConfig}  # the [section] tables of a config file
CLI = ConfigCli(SECTIONS, top="job")
RUN_CONFIG_FILE = "run-config.toml"
DEFAULT_DEMO_DIR = JobConfig().demo_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spark-submit jobs/filter.py", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, metavar="FILE.toml",
                        help="the settings of a whole run, such as a finished run's OUT/run-config.toml; flags "
                             "given with it override its values")
    parser.add_argument("--master", help="Spark master when run with plain python (spark-submit has its own)")
    CLI.add_to(parser)
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def job_configs(args: argparse.Namespace) -> dict[str, object]:
    """section → config: the defaults, then --config's file, then the flags; each config checks itself."""
    return CLI.configs(args, args.config)


def reference_specs(job: JobConfig, demo_dir: Path | None, stages: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    specs = job.reference
    if not specs and demo_dir is not None and not job.classifier:
        specs = tuple((path.stem, str(path)) for path in sorted((demo_dir / "reference").glob("*.jsonl")))
    for name, path in specs:
        list_reference_files(name, path)  # a missing or empty PATH fails now, before Spark starts
    if "quality" in stages and not specs and not job.classifier:
        raise UserError("the quality stage needs reference corpora to train on (--reference NAME=PATH) "
                        "or a trained model (--classifier PATH)")
    return specs


def benchmark_specs(job: JobConfig, demo_dir: Path | None, stages: tuple[str, ...]) -> tuple[str, ...]:
    specs = list(job.benchmarks)
    if not specs and demo_dir is not None:
        specs = [str(demo_dir / "benchmarks")]
    for spec in specs:
        list_benchmark_files(spec)  # a missing or empty PATH fails now, before Spark starts
    if "decontam" in stages and not specs:
        raise UserError("the decontam stage needs benchmarks to remove (--benchmarks DIR|FILE), "
                        "or leave it out with --stages")
    return tuple(str(Path(spec).resolve()) for spec in specs)


def resolve(configs: dict[str, object]) -> tuple[dict[str, object], PipelineConfig]:
    """(the configs with what was resolved spelled out, as run-config.toml records them; the PipelineConfig).
    Resolving reads the inputs: the demo crawl is generated when no --warc is given, and a missing input fails."""
    job = configs["job"]
    stages = parse_stage_list(job.stages)
    redo = frozenset(stages if "all" in job.redo else parse_stage_list(",".join(job.redo)) if job.redo else ())
    warc, demo_dir = job.warc, None
    if not warc:
        from corpus_demo import generate
        demo_dir = job.demo_dir
        if not (demo_dir / "truth.json").exists():
            print(f"generating the demo crawl in {demo_dir} ...")
            generate(demo_dir)
        warc = (str(demo_dir / "crawl"),)
    warcs = tuple(resolve_warc_inputs(list(warc), job.warc_prefix))
    if job.classifier and not Path(job.classifier).exists():
        raise UserError(f"--classifier {job.classifier} does not exist")
    if job.classifier:  # PySpark imports the modules a model folder names: check it before Spark starts
        from corpus.quality import check_classifier_folder
        check_classifier_folder(job.classifier)
    classifier = str(Path(job.classifier).resolve()) if job.classifier else None
    shards = configs["shards"]
    if shards.tokenizer:
        shards = replace(shards, tokenizer=str(Path(shards.tokenizer).resolve()))
    references, benchmarks = reference_specs(job, demo_dir, stages), benchmark_specs(job, demo_dir, stages)
    cfg = PipelineConfig(out_dir=job.out, warcs=warcs, stages=stages, redo=redo, extract=configs["extract"],
                         quality=configs["quality"], references=references, classifier=classifier,
                         dedup=configs["dedup"], shards=shards, decontam=configs["decontam"], benchmarks=benchmarks)
    check_out_outside_inputs(job, cfg)
    ran = replace(job, warc=warc, stages=",".join(stages), redo=tuple(s for s in STAGES if s in redo),
                  reference=references, classifier=classifier, benchmarks=benchmarks)
    return {**configs, "job": ran, "shards": shards}, cfg


def pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    return resolve(job_configs(args))[1]


def check_out_outside_inputs(job: JobConfig, cfg: PipelineConfig) -> None:
    """--out may not be or hold an input: not the WARC files, nor a manifest or folder as given, nor a local
    --warc-prefix (corpus.pipeline.input_paths lists the rest)."""
    given = [("--warc ", spec, False) for spec in job.warc if not is_remote(spec) and os.path.exists(spec)]
    if job.warc_prefix and not is_remote(job.warc_prefix):
        given.append(("--warc-prefix ", job.warc_prefix, False))
    refuse_out_holding_inputs(cfg.out_dir, input_paths(cfg) + given)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ran, cfg = resolve(job_configs(args))  # user errors surface before the 7-second Spark start
        from corpus.pipeline import run_pipeline
        from corpus.spark import build_session
        with owned_out_dir(cfg.out_dir):  # so is a foreign --out, or another run writing into it
            write_text_atomic(cfg.out_dir / RUN_CONFIG_FILE, "# spark-submit jobs/filter.py --config this-file "
                                                             "repeats the run\n" + CLI.to_toml(ran))
            spark = build_session("gpt3-corpus filter", master=args.master)
            try:
                funnel = run_pipeline(spark, cfg)
            finally:
                spark.stop()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    last = funnel[-1]
    print(f"output: {cfg.out_dir.resolve()}  reports: {(cfg.out_dir / 'reports').resolve()}")
    if last["out"] == 0:
        print(f"error: no usable document remains after the {last['stage']} stage; see {cfg.out_dir}/"
              f"{last['stage']}/fate for why", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
