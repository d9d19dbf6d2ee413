"""The main job: Common Crawl WARCs → GPT-3-style corpus (DESIGN.md). Thin glue: arguments → corpus.

    spark-submit jobs/filter.py                       # the embedded demo crawl → ./out
    spark-submit jobs/filter.py --warc 'crawl/*.warc.gz' --out out
    spark-submit jobs/filter.py --warc warc.paths.gz --warc-prefix https://data.commoncrawl.org/
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's corpus/, even uninstalled

from corpus.config import ExtractConfig  # noqa: E402
from corpus.errors import UserError  # noqa: E402
from corpus.inputs import resolve_warc_inputs  # noqa: E402
from corpus.pipeline import IMPLEMENTED_STAGES, PipelineConfig, parse_stage_list  # noqa: E402

DEFAULT_DEMO_DIR = Path("demo-data")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="spark-submit jobs/filter.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--warc", action="append", default=[], metavar="PATH|GLOB|DIR|warc.paths.gz|URL",
                        help="WARC input (repeatable); without it, the embedded demo crawl")
    parser.add_argument("--warc-prefix", help="prefix for a manifest's relative paths: a local directory, "
                                              "https://data.commoncrawl.org/ or s3://commoncrawl/")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output directory")
    parser.add_argument("--stages", default=",".join(IMPLEMENTED_STAGES), help="comma-separated stages to run")
    parser.add_argument("--redo", action="append", default=[], metavar="STAGE",
                        help="remake a completed stage (repeatable, or 'all')")
    parser.add_argument("--demo-dir", type=Path, default=DEFAULT_DEMO_DIR,
                        help="where the demo crawl is generated when no --warc is given")
    parser.add_argument("--master", help="Spark master when run with plain python (spark-submit has its own)")
    extract = ExtractConfig()
    parser.add_argument("--max-payload-bytes", type=int, default=extract.max_payload_bytes,
                        help="HTTP payloads over this are dropped as over_size_cap")
    parser.add_argument("--extract-timeout", type=float, default=extract.extract_timeout_s,
                        help="seconds trafilatura may spend on one page")
    return parser.parse_args(argv)


def pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    stages = parse_stage_list(args.stages)
    redo = frozenset(stages if "all" in args.redo else parse_stage_list(",".join(args.redo)) if args.redo else ())
    if args.max_payload_bytes <= 0 or args.extract_timeout <= 0:
        raise UserError("--max-payload-bytes and --extract-timeout must be positive")
    specs = args.warc
    if not specs:
        from corpus.demo import generate
        if not (args.demo_dir / "truth.json").exists():
            print(f"generating the demo crawl in {args.demo_dir} ...")
            generate(args.demo_dir)
        specs = [str(args.demo_dir / "crawl")]
    warcs = tuple(resolve_warc_inputs(specs, args.warc_prefix))
    extract = ExtractConfig(max_payload_bytes=args.max_payload_bytes, extract_timeout_s=args.extract_timeout)
    return PipelineConfig(out_dir=args.out, warcs=warcs, stages=stages, redo=redo, extract=extract)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = pipeline_config(args)  # user errors surface before the 7-second Spark start
        from corpus.pipeline import run_pipeline
        from corpus.spark import build_session
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
