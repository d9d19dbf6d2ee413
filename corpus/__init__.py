"""GPT-3's data pipeline (Brown et al. 2020, §2.2, Appendices A and C) as Spark stages.

Pure record functions live beside the Spark wrappers that count and write them; `jobs/` only parses
arguments and calls in here.

Shared building blocks. These modules are what corpus/ and model/ (and every stage) share, and they are
dependency-free: the standard library and numpy, no Spark, no pyarrow, no tokenizer library, no torch, and no
other corpus module except one another. model/ imports no other corpus module, so training and evaluation run
without Spark; and corpus/ does not import model/ (the run report alone draws the model's own figures, importing
them inside its plotting functions). tests/test_layout.py enforces these rules.

    corpus/errors.py      UserError: a user's mistake, printed as one sentence (jobs exit 2)
    corpus/jsonl.py       bounded, never-fatal reading of JSON lines nobody vouches for
    corpus/benchmarks.py  benchmark JSONL files: names, formats, example ids, file digests
    corpus/shards.py      the shards format's names (FORMAT, EOT, MANIFEST_FILE, dtype_for); model/shards.py reads it
    corpus/hashing.py     the stable hashes whose values the outputs depend on (splitmix64, word and gram hashes)

No module imports another module's `_private` name: what two modules share is public in one of them.
"""
