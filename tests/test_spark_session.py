"""The session: spark-defaults.conf read, and the corpus package shipped to executors as a zip."""
import zipfile

from corpus.spark import DEFAULTS_FILE, package_zip, read_spark_defaults


def test_executors_import_the_shipped_package(spark):
    """Here an editable install also provides `corpus`; on a cluster's workers the zip is the only copy,
    so check that every executor has it on sys.path and can import the package from it alone."""
    def import_from_shipped_zip(_):  # local, so cloudpickle ships it by value
        import importlib.util
        import sys
        import zipimport
        [shipped] = [p for p in sys.path if p.endswith("corpus.zip")]
        spec = zipimport.zipimporter(shipped).find_spec("corpus")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module.__file__

    paths = spark.sparkContext.parallelize(range(2), 2).mapPartitions(import_from_shipped_zip).collect()
    assert len(paths) == 2 and all(path.endswith("corpus.zip/corpus/__init__.py") for path in paths), paths


def test_package_zip_holds_every_module():
    names = zipfile.ZipFile(package_zip()).namelist()
    assert "corpus/warc.py" in names and "corpus/extract_stage.py" in names
    assert not any("__pycache__" in name for name in names)


def test_defaults_file_is_sized_for_this_machine(spark):
    settings = read_spark_defaults(DEFAULTS_FILE)
    assert settings["spark.master"] == "local[2]" and settings["spark.sql.session.timeZone"] == "UTC"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"  # applied by build_session
