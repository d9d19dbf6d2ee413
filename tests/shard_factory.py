"""Shards in exactly the format model/shards.py documents, made from English prose that ships with Python.

A small byte-level BPE is trained with HF `tokenizers` on the training text; documents are a few sentences
each, sampled from `corpus.prose.stdlib_sentences()`. Validation documents come from sentences no training
document uses, so validation loss measures more than recall.

    root = make_shards(tmp_path / "shards", train_chars=300_000)
    python tests/shard_factory.py OUT/shards [--train-chars N]     # the same from the command line
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from corpus.prose import stdlib_sentences
from model.shards import EOT, FORMAT, dtype_for

MIX = {"common_crawl": 0.6, "webtext2": 0.3, "wikipedia": 0.1}  # wikipedia gets an empty val split


def train_tokenizer(texts: list[str], vocab_size: int) -> Tokenizer:
    """GPT-2-style byte-level BPE with <|endoftext|> as id 0."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def documents(sentences: list[str], chars: int, rng: random.Random) -> list[str]:
    """Documents of 2-8 sentences drawn from `sentences` until they hold about `chars` characters."""
    docs, total = [], 0
    while total < chars:
        doc = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 8)))
        docs.append(doc)
        total += len(doc)
    return docs


def write_split(root: Path, dataset: str, split: str, ids: list[list[int]], eot_id: int, dtype: str,
                file_tokens: int) -> dict:
    """Documents joined with EOT, cut into files of file_tokens; the manifest entry of the split."""
    tokens = np.array([t for doc in ids for t in (*doc, eot_id)], dtype=dtype)
    (root / dataset).mkdir(parents=True, exist_ok=True)
    files = []
    for i, start in enumerate(range(0, len(tokens), file_tokens)):
        rel = f"{dataset}/{split}-{i:05d}.bin"
        piece = tokens[start:start + file_tokens]
        piece.astype(np.dtype(dtype).newbyteorder("<")).tofile(root / rel)
        files.append({"path": rel, "tokens": len(piece)})
    return {"tokens": len(tokens), "documents": len(ids), "files": files}


def make_shards(root: str | Path, *, seed: int = 0, vocab_size: int = 1024, train_chars: int = 200_000,
                val_chars: int = 20_000, file_tokens: int = 16_384, mix: dict[str, float] = MIX,
                empty_val: tuple[str, ...] = ("wikipedia",)) -> Path:
    """Write a shards directory (manifest.json, tokenizer.json, <dataset>/<split>-NNNNN.bin); returns root."""
    rng = random.Random(seed)
    pool = list(stdlib_sentences())
    rng.shuffle(pool)
    val_pool, train_pool = pool[:len(pool) // 5], pool[len(pool) // 5:]
    total = sum(mix.values())
    texts = {name: {"train": documents(train_pool, int(train_chars * w / total), rng),
                    "val": [] if name in empty_val else documents(val_pool, int(val_chars * w / total), rng)}
             for name, w in mix.items()}
    return write_shards(root, texts, mix, vocab_size=vocab_size, file_tokens=file_tokens)


def write_shards(root: str | Path, texts: dict[str, dict[str, list[str]]], weights: dict[str, float] | None = None,
                 *, vocab_size: int = 1024, file_tokens: int = 16_384) -> Path:
    """Shards of the given documents: texts[dataset]["train" | "val"] = list of document texts. A tokenizer of
    vocab_size is trained on the training documents; weights default to equal. Returns root."""
    root = Path(root)
    weights = weights or {name: 1.0 for name in texts}
    total = sum(weights[name] for name in texts)
    tokenizer = train_tokenizer([doc for t in texts.values() for doc in t["train"]], vocab_size)
    vocab, eot_id = tokenizer.get_vocab_size(), tokenizer.token_to_id(EOT)
    root.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(root / "tokenizer.json"))
    dtype = dtype_for(vocab)
    datasets = {}
    for name, splits in texts.items():
        entry = {split: write_split(root, name, split, [e.ids for e in tokenizer.encode_batch(splits.get(split, []))],
                                    eot_id, dtype, file_tokens) for split in ("train", "val")}
        datasets[name] = {"weight": weights[name] / total, **entry}
    budget = sum(d["train"]["tokens"] for d in datasets.values())
    for d in datasets.values():
        d["epochs"] = d["weight"] * budget / d["train"]["tokens"]
    manifest = {"format": FORMAT, "tokenizer": "tokenizer.json", "vocab_size": vocab, "dtype": dtype,
                "eot_id": eot_id, "budget_tokens": budget, "datasets": datasets}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return root


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--train-chars", type=int, default=2_000_000)
    parser.add_argument("--val-chars", type=int, default=100_000)
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    print(make_shards(a.out, seed=a.seed, vocab_size=a.vocab_size, train_chars=a.train_chars,
                      val_chars=a.val_chars, file_tokens=1 << 18))
