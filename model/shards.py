"""Reader and validator of the shards the `shards` stage writes: the contract between corpus/ and model/.

A shards directory (`OUT/shards/`) holds:

    manifest.json                  the manifest below
    tokenizer.json                 a HF `tokenizers` byte-level BPE file; `<|endoftext|>` is the EOT token
    <dataset>/train-00000.bin      raw token files, per dataset and split, numbered from 00000
    <dataset>/train-00001.bin ...
    <dataset>/val-00000.bin ...

Each `.bin` is a bare little-endian array of token ids, no header: dtype `uint16` if vocab_size <= 65536, else
`uint32`, so `np.memmap(path, dtype, mode="r")` reads it. Documents are concatenated, each followed by the EOT
token. Files are fixed-size, except that the last one of each split may be shorter.

manifest.json:

    {
      "format": "gpt3-corpus-shards/1",
      "tokenizer": "tokenizer.json",            # relative to the shards directory
      "vocab_size": 8192, "dtype": "uint16", "eot_id": 0,
      "budget_tokens": 1000000,                 # the mixture's token budget
      "datasets": {
        "common_crawl": {
          "weight": 0.6, "epochs": 0.44,        # weights over datasets are normalised: they sum to 1
          "train": {"tokens": 123, "documents": 4, "files": [{"path": "common_crawl/train-00000.bin", "tokens": 123}]},
          "val":   {"tokens": 45,  "documents": 1, "files": [{"path": "common_crawl/val-00000.bin", "tokens": 45}]}
        },
        "webtext2": {...}
      }
    }

A dataset may have an empty validation split (`"tokens": 0, "files": []`), not an empty training split.
`open_shards` checks the manifest against the files: the format string; that every file exists inside the
directory and holds exactly `tokens * itemsize` bytes; split totals equal the sum of their files; the dtype
fits vocab_size; every token id (read in chunks through the memmap) and eot_id are below vocab_size; the
tokenizer has vocab_size ids and `<|endoftext|>` is eot_id; weights are positive and sum to 1 within 1e-6.
Every path the manifest names (files, tokenizer) is relative and resolves, symlinks followed, inside the
directory. A manifest that lies raises ShardError, whose message is one sentence naming the file and what is wrong.

    python -m model.shards OUT/shards      # validate and print a summary; "error: ..." and exit 2 if it lies

The format's names (FORMAT, EOT, MANIFEST_FILE, SPLITS, dtype_for) are corpus/shards.py's, shared with the stage
that writes the format; like every corpus module model/ imports, it is dependency-free (corpus/__init__.py).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.shards import EOT, FORMAT, MANIFEST_FILE, SPLITS, dtype_for

CHECK_CHUNK = 1 << 24  # tokens per vectorised range check (32 MiB of uint16)
MANIFEST_CAP_BYTES = 64 << 20  # a real manifest is a few KB per dataset; a crafted one cannot fill memory


class ShardError(Exception):
    """The shards directory does not match its manifest; the message is one sentence naming the file."""


class TokenFiles:
    """One split of one dataset: its files, memory-mapped, read as one array of `len(self)` tokens."""

    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = [a for a in arrays if len(a)]
        self.starts = np.cumsum([0] + [len(a) for a in self.arrays])  # (files + 1,) token offsets

    def __len__(self) -> int:
        return int(self.starts[-1])

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start + length), stitched across file boundaries; int64."""
        assert 0 <= start and start + length <= len(self), f"read [{start}, {start + length}) outside {len(self)}"
        out, i = np.empty(length, dtype=np.int64), int(np.searchsorted(self.starts, start, side="right")) - 1
        done = 0
        while done < length:
            begin = start + done - self.starts[i]
            piece = self.arrays[i][begin:begin + length - done]
            out[done:done + len(piece)] = piece
            done, i = done + len(piece), i + 1
        return out


@dataclass
class Dataset:
    name: str
    weight: float
    epochs: float
    documents: dict[str, int]  # split -> documents
    train: TokenFiles
    val: TokenFiles


@dataclass
class Shards:
    root: Path
    vocab_size: int
    dtype: str
    eot_id: int
    budget_tokens: int
    tokenizer_path: Path
    datasets: dict[str, Dataset]


def _field(obj: dict, key: str, kind: type | tuple, where: str):
    """obj[key], which must be of `kind` (bool is never a number here)."""
    if not isinstance(obj, dict) or key not in obj:
        raise ShardError(f"{where} has no {key!r} field.")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ShardError(f"{where}: {key!r} is {value!r}, which is not a {getattr(kind, '__name__', 'number')}.")
    return value


def path_inside(root: Path, relative: str) -> Path | None:
    """root / relative with symlinks followed, if `relative` is a relative path that stays under root; None
    for an absolute path, a climb out with "..", or a symlink out of the folder."""
    if Path(relative).is_absolute() or "\0" in relative:
        return None
    path = (root / relative).resolve()
    return path if path.is_relative_to(root.resolve()) else None


def _inside(root: Path, relative: str, what: str, where: str) -> Path:
    path = path_inside(root, relative)
    if path is None:
        raise ShardError(f"{where}: {what} path {relative!r} points outside the shards directory {root}.")
    return path


def _open_file(root: Path, entry: dict, dtype: str, where: str) -> np.ndarray:
    """Memory-map one token file after checking it is inside root and holds exactly its tokens."""
    rel, tokens = _field(entry, "path", str, where), _field(entry, "tokens", int, where)
    path = _inside(root, rel, "file", where)
    if not path.is_file():
        raise ShardError(f"{root / rel} is listed in the manifest but does not exist.")
    itemsize, size = np.dtype(dtype).itemsize, path.stat().st_size
    if tokens < 0 or size != tokens * itemsize:
        raise ShardError(f"{root / rel} holds {size} bytes, but the manifest says {tokens} {dtype} tokens "
                         f"({tokens * itemsize} bytes).")
    return np.memmap(path, dtype=np.dtype(dtype).newbyteorder("<"), mode="r") if tokens else np.zeros(0, dtype)


def _check_ids(array: np.ndarray, vocab_size: int, path: Path):
    """Every token id below vocab_size, checked CHECK_CHUNK tokens at a time."""
    for start in range(0, len(array), CHECK_CHUNK):
        chunk = array[start:start + CHECK_CHUNK]
        if int(chunk.max()) >= vocab_size:
            at = start + int(np.argmax(chunk >= vocab_size))
            raise ShardError(f"{path} holds token id {int(array[at])} at position {at}, "
                             f"but vocab_size is {vocab_size}.")


def _open_split(root: Path, spec: dict, dtype: str, vocab_size: int, where: str, check_ids: bool) -> TokenFiles:
    total, files = _field(spec, "tokens", int, where), _field(spec, "files", list, where)
    _field(spec, "documents", int, where)
    arrays = []
    for i, entry in enumerate(files):
        array = _open_file(root, entry, dtype, f"{where} file {i}")
        if check_ids:
            _check_ids(array, vocab_size, root / entry["path"])
        arrays.append(array)
    if sum(len(a) for a in arrays) != total:
        raise ShardError(f"{where} says {total} tokens, but its files hold {sum(len(a) for a in arrays)}.")
    return TokenFiles(arrays)


def _check_tokenizer(path: Path, vocab_size: int, eot_id: int):
    from tokenizers import Tokenizer  # only here: the trainer needs no tokenizer otherwise

    if not path.is_file():
        raise ShardError(f"{path} (the manifest's tokenizer) does not exist.")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises its own Exception subclass with a long serde message
        raise ShardError(f"{path} is not a tokenizers file ({str(error).splitlines()[0][:120]}).") from None
    if tokenizer.get_vocab_size() != vocab_size:
        raise ShardError(f"{path} has {tokenizer.get_vocab_size()} token ids, but the manifest says vocab_size "
                         f"{vocab_size}.")
    if tokenizer.token_to_id(EOT) != eot_id:
        raise ShardError(f"{path} gives {EOT} id {tokenizer.token_to_id(EOT)}, but the manifest says eot_id {eot_id}.")


def open_shards(path: str | Path, check_ids: bool = True) -> Shards:
    """Open and validate a shards directory (or its manifest.json); ShardError if the manifest lies."""
    root = Path(path)
    root = root.parent if root.name == MANIFEST_FILE else root
    manifest_path = root / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ShardError(f"{manifest_path} does not exist; --data takes the shards directory OUT/shards.")
    _inside(root, manifest_path.name, "manifest", str(manifest_path))  # a symlink out of the folder
    if manifest_path.stat().st_size > MANIFEST_CAP_BYTES:
        raise ShardError(f"{manifest_path} is larger than {MANIFEST_CAP_BYTES >> 20} MiB; it is not a manifest.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ShardError(f"{manifest_path} is not valid JSON ({error}).") from None
    except RecursionError:
        raise ShardError(f"{manifest_path} is nested too deeply to be a manifest.") from None
    where = str(manifest_path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ShardError(f"{manifest_path} has format {found!r}, not {FORMAT!r}.")
    vocab_size, dtype = _field(manifest, "vocab_size", int, where), _field(manifest, "dtype", str, where)
    eot_id, budget = _field(manifest, "eot_id", int, where), _field(manifest, "budget_tokens", int, where)
    if vocab_size < 1 or dtype != dtype_for(vocab_size):
        raise ShardError(f"{manifest_path} says dtype {dtype!r} for vocab_size {vocab_size}; the format "
                         f"needs {dtype_for(max(vocab_size, 1))!r}.")
    if not 0 <= eot_id < vocab_size:
        raise ShardError(f"{manifest_path} says eot_id {eot_id}, outside vocab_size {vocab_size}.")
    tokenizer_name = _field(manifest, "tokenizer", str, where)
    _inside(root, tokenizer_name, "tokenizer", where)
    tokenizer_path = root / tokenizer_name
    _check_tokenizer(tokenizer_path, vocab_size, eot_id)
    specs = _field(manifest, "datasets", dict, where)
    if not specs:
        raise ShardError(f"{manifest_path} lists no datasets.")
    datasets = {}
    for name, spec in specs.items():
        at = f"{manifest_path} dataset {name!r}"
        weight, epochs = _field(spec, "weight", (int, float), at), _field(spec, "epochs", (int, float), at)
        if not weight > 0 or not math.isfinite(weight):
            raise ShardError(f"{at} has weight {weight}; weights must be positive.")
        train = _open_split(root, _field(spec, "train", dict, at), dtype, vocab_size, f"{at} train", check_ids)
        val = _open_split(root, _field(spec, "val", dict, at), dtype, vocab_size, f"{at} val", check_ids)
        if not len(train):
            raise ShardError(f"{at} has no training tokens.")
        documents = {split: spec[split]["documents"] for split in SPLITS}
        datasets[name] = Dataset(name, float(weight), float(epochs), documents, train, val)
    total = sum(d.weight for d in datasets.values())
    if abs(total - 1) > 1e-6:
        raise ShardError(f"{manifest_path}: dataset weights sum to {total:.6g}, not 1.")
    return Shards(root, vocab_size, dtype, eot_id, budget, tokenizer_path, datasets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.shards", description=__doc__.splitlines()[0])
    parser.add_argument("shards", help="the shards directory (OUT/shards) or its manifest.json")
    args = parser.parse_args(argv)
    try:
        shards = open_shards(args.shards)
    except ShardError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{shards.root}: vocab {shards.vocab_size} ({shards.dtype}), eot {shards.eot_id}, "
          f"budget {shards.budget_tokens:,} tokens")
    for d in shards.datasets.values():
        print(f"  {d.name:<16} weight {d.weight:.3f}  epochs {d.epochs:.2f}  "
              f"train {len(d.train):,} tokens / {d.documents['train']:,} docs  "
              f"val {len(d.val):,} tokens / {d.documents['val']:,} docs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
