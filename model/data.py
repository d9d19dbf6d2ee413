"""Training sequences from shards: each dataset at its manifest weight, without replacement within a dataset.

The stream is a pure function of (seed, k), k the global count of sequences drawn so far, so a step's batch is
a pure function of (seed, step, rank) and a resumed run reads exactly what the uninterrupted one would:

1. Which dataset the k-th sequence comes from: chunks of CHUNK draws, chunk c drawn from
   `default_rng([seed, 0, c])` with the manifest's weights (the paper's "fraction of training examples drawn").
2. Which sequence of that dataset: its m-th draw (m counted over the earlier draws) takes position m % n of
   epoch m // n, where n = (tokens - 1) // n_ctx windows of n_ctx + 1 tokens (window i starts at i * n_ctx) and
   each epoch is a permutation from `default_rng([seed, 1, dataset index, epoch])`: no window repeats before
   every window of the dataset has been read once.

A batch of `count` sequences starting at k is split between ranks as contiguous, disjoint ranges.
"""
from __future__ import annotations

import numpy as np
import torch

from model.shards import ShardError, Shards, TokenFiles

CHUNK = 4096  # dataset draws per random chunk


class Sampler:

    def __init__(self, shards: Shards, n_ctx: int, seed: int):
        self.datasets = list(shards.datasets.values())
        self.n_ctx, self.seed = n_ctx, seed
        self.weights = np.array([d.weight for d in self.datasets])
        self.windows = np.array([(len(d.train) - 1) // n_ctx for d in self.datasets])  # (datasets,)
        for d, n in zip(self.datasets, self.windows):
            if n < 1:
                raise ShardError(f"{shards.root}: dataset {d.name!r} has {len(d.train)} training tokens, fewer "
                                 f"than one sequence of n_ctx + 1 = {n_ctx + 1}.")
        self._counts = [np.zeros(len(self.datasets), dtype=np.int64)]  # draws per dataset before chunk c
        self._chunks: dict[int, np.ndarray] = {}
        self._perms: dict[tuple[int, int], np.ndarray] = {}

    def _chunk(self, c: int) -> np.ndarray:
        """Dataset index of each draw of chunk c: (CHUNK,)."""
        if c not in self._chunks:
            self._chunks = {c: np.random.default_rng([self.seed, 0, c]).choice(
                len(self.datasets), size=CHUNK, p=self.weights / self.weights.sum())} | \
                {k: v for k, v in self._chunks.items() if k >= c - 1}
        return self._chunks[c]

    def _draws_before(self, c: int) -> np.ndarray:
        while len(self._counts) <= c:
            last = len(self._counts) - 1
            self._counts.append(self._counts[last] + np.bincount(self._chunk(last), minlength=len(self.datasets)))
        return self._counts[c]

    def _perm(self, d: int, epoch: int) -> np.ndarray:
        if (d, epoch) not in self._perms:
            perm = np.random.default_rng([self.seed, 1, d, epoch]).permutation(self.windows[d])
            self._perms = {key: p for key, p in self._perms.items() if key[0] != d} | {(d, epoch): perm}
        return self._perms[(d, epoch)]

    def locate(self, k: int) -> tuple[int, int]:
        """(dataset index, window index) of the k-th sequence of the stream."""
        c, offset = divmod(k, CHUNK)
        chunk = self._chunk(c)
        d = int(chunk[offset])
        m = int(self._draws_before(c)[d] + np.count_nonzero(chunk[:offset] == d))  # earlier draws of d
        epoch, position = divmod(m, int(self.windows[d]))
        return d, int(self._perm(d, epoch)[position])

    def batch(self, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sequences start .. start+count-1 of the stream: inputs and targets, (count, n_ctx) int64 each."""
        rows = np.empty((count, self.n_ctx + 1), dtype=np.int64)
        for i in range(count):
            d, window = self.locate(start + i)
            rows[i] = self.datasets[d].train.read(window * self.n_ctx, self.n_ctx + 1)
        rows = torch.from_numpy(rows)
        return rows[:, :-1], rows[:, 1:]



def val_windows(split: TokenFiles, n_ctx: int, limit: int) -> np.ndarray:
    """Up to `limit` validation windows of n_ctx + 1 tokens, evenly spread over the split: (n, n_ctx + 1)."""
    n = (len(split) - 1) // n_ctx
    starts = np.linspace(0, n - 1, num=min(n, limit)).round().astype(np.int64) * n_ctx if n > 0 else []
    return np.stack([split.read(int(s), n_ctx + 1) for s in starts]) if n > 0 else np.zeros((0, n_ctx + 1), np.int64)


def unigram_entropy(splits: list[TokenFiles], vocab_size: int) -> float:
    """Entropy in nats of the token frequencies over the given splits: the loss of the best context-free model."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for split in splits:
        for array in split.arrays:
            counts += np.bincount(array, minlength=vocab_size)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())
