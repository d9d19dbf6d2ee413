"""Benchmarks that print side-by-side figures, each run from the repository root as `python -m bench.NAME`
(`make bench` runs the main ones). A package so the benches share `bench.common` and the tests' data factories
(`tests.shard_factory`, `tests.warc_factory`) by import, with `corpus` and `model` from the installed package."""
