"""The SparkSession: ./spark-defaults.conf applied, and the `corpus` package shipped to executors."""
import os
import sys
import tempfile
import zipfile
from pathlib import Path

from pyspark.sql import SparkSession

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = REPO_ROOT / "spark-defaults.conf"
PACKAGE_DIR = Path(__file__).resolve().parent
# Read when the driver JVM starts: under spark-submit they come only from --properties-file,
# SPARK_CONF_DIR or --conf; a plain `python jobs/filter.py` launches the JVM itself and applies them.
JVM_LAUNCH_KEYS = ("spark.driver.memory", "spark.driver.extraJavaOptions", "spark.driver.extraClassPath",
                   "spark.driver.cores")


def read_spark_defaults(path: Path = DEFAULTS_FILE) -> dict[str, str]:
    """key → value from a spark-defaults.conf (whitespace-separated; '#' starts a comment line)."""
    settings = {}
    if not path.exists():
        return settings
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        settings[key.strip()] = value.strip()
    return settings


def _settings_already_given() -> dict[str, str]:
    """The conf spark-submit started the JVM with; empty when Python launches the JVM itself."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return {}
    from pyspark import SparkConf
    return dict(SparkConf().getAll())


def build_session(app_name: str, master: str | None = None, conf: dict[str, str] | None = None,
                  defaults_file: Path = DEFAULTS_FILE) -> SparkSession:
    """A session with spark-defaults.conf under whatever spark-submit or the caller already set."""
    given = _settings_already_given()
    settings = {k: v for k, v in read_spark_defaults(defaults_file).items() if k not in given}
    if given:
        skipped = [k for k in JVM_LAUNCH_KEYS if k in settings]
        for key in skipped:
            settings.pop(key)
        if skipped:
            print(f"note: {', '.join(skipped)} from {defaults_file.name} apply only at JVM start; run "
                  f"spark-submit --properties-file {defaults_file.name} (or SPARK_CONF_DIR=.) to use them",
                  file=sys.stderr)
    settings.update(conf or {})
    if master:
        settings["spark.master"] = master
    if settings.get("spark.master", given.get("spark.master", "local")).startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only; no network needed locally
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run the driver's interpreter
    builder = SparkSession.builder.appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    ship_package(spark)
    return spark


def package_zip(directory: Path = PACKAGE_DIR) -> Path:
    """A zip of the `corpus` package, files in sorted order, so executors import the driver's code."""
    target = Path(tempfile.mkdtemp(prefix="corpus-pkg-")) / f"{directory.name}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*.py")):
            archive.write(path, Path(directory.name) / path.relative_to(directory))
    return target


def ship_package(spark: SparkSession) -> None:
    """addPyFile the package once per SparkContext: the same job then runs on `--master spark://...`,
    where executors have the dependencies installed but not this checkout."""
    context = spark.sparkContext
    if getattr(context, "_corpus_shipped", False):
        return
    context.addPyFile(str(package_zip()))
    context._corpus_shipped = True
