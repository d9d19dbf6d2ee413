"""The shards format's names, shared by the stage that writes it (corpus/shards_stage.py) and the reader that
checks it (model/shards.py, whose docstring is the format's specification); and a look at what the model will see:

    python -m corpus.shards inspect OUT/shards [--samples 3] [--tokens 64] [--seed 0]

prints the manifest as a table (Table 2.2 for this run) and decodes a few sequences sampled from the
training files, so a user can eyeball the token stream (documents are separated by <|endoftext|>).

Dependency-free (standard library and numpy; the tokenizer library only once `inspect` decodes), so model/
imports these names instead of copying them (corpus/__init__.py).
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

FORMAT = "gpt3-corpus-shards/1"  # manifest.json's "format": a reader refuses any other
MANIFEST_FILE = "manifest.json"
TOKENIZER_FILE = "tokenizer.json"  # the manifest names it; this is the name the stage gives it
EOT = "<|endoftext|>"  # the special token that ends every document
SPLITS = ("train", "val")


def dtype_for(vocab_size: int) -> str:
    """The token dtype of the format: uint16 while every id fits, else uint32."""
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


def manifest_table(manifest: dict) -> str:
    lines = [f"{'dataset':<16}{'weight':>8}{'epochs':>9}{'train tokens':>14}{'val tokens':>12}{'documents':>11}"
             f"{'files':>7}"]
    for name, entry in manifest["datasets"].items():
        epochs = "-" if entry["epochs"] is None else f"{entry['epochs']:.2f}"
        lines.append(f"{name:<16}{entry['weight']:>8.1%}{epochs:>9}{entry['train']['tokens']:>14,}"
                     f"{entry['val']['tokens']:>12,}{entry['train']['documents'] + entry['val']['documents']:>11,}"
                     f"{len(entry['train']['files']) + len(entry['val']['files']):>7}")
    lines.append(f"vocab {manifest['vocab_size']}, {manifest['dtype']}, EOT id {manifest['eot_id']}, "
                 f"budget {manifest['budget_tokens']:,} tokens")
    return "\n".join(lines)


def sample_sequences(shards_dir: Path, manifest: dict, samples: int, length: int, seed: int) -> list[tuple[str, str]]:
    """(where, decoded text) of `samples` random windows of `length` tokens from the training files."""
    from corpus.tokenizer import load_tokenizer  # the tokenizer library: only to decode, not for the names above

    tokenizer = load_tokenizer(str(shards_dir / manifest["tokenizer"]))
    rng = np.random.default_rng(seed)
    files = [f for entry in manifest["datasets"].values() for f in entry["train"]["files"] if f["tokens"] > 0]
    found = []
    for _ in range(samples if files else 0):
        chosen = files[rng.integers(len(files))]
        tokens = np.memmap(shards_dir / chosen["path"], dtype=manifest["dtype"], mode="r")
        start = int(rng.integers(max(1, len(tokens) - length)))
        window = tokens[start:start + length].tolist()
        text = tokenizer.decode(window, skip_special_tokens=False)
        found.append((f"{chosen['path']} @ {start}", text))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.shards", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser("inspect", help="print the manifest and decode sampled sequences")
    inspect.add_argument("shards_dir", type=Path)
    inspect.add_argument("--samples", type=int, default=3)
    inspect.add_argument("--tokens", type=int, default=64)
    inspect.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    manifest_path = args.shards_dir / MANIFEST_FILE
    if not manifest_path.exists():
        print(f"error: {manifest_path} does not exist (run the shards stage first)", file=sys.stderr)
        return 2
    manifest = json.loads(manifest_path.read_text())
    print(manifest_table(manifest))
    for where, text in sample_sequences(args.shards_dir, manifest, args.samples, args.tokens, args.seed):
        print(f"\n--- {where}\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
