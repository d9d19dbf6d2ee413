"""Zero-, one- and few-shot prompts (GPT-3 §2, §2.4): text only, no model, no scoring.

    prompt = separator.join([description] + [demo.context + demo.target for demo in demonstrations] + [item.context])

The description is optional (zero-shot is the description alone, or the bare item without one). The K
demonstrations are drawn at random from the task's training split, or from its own items less the evaluated
one (and less any item with the same context, and for completion tasks the same answer, so nothing of the
evaluated item leaks into its demonstrations: a word scramble's word may come back scrambled otherwise). The draw is a pure function of (seed, task, item id), so a
prompt does not depend on --limit, on batching or on which other items were evaluated.

"As many as fit in the context window": demonstrations are dropped from the end until the prompt plus the
longest answer the task needs fits in n_ctx tokens; each prompt records how many it kept (`k`).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from collections.abc import Callable

from model.tasks import Item, Task


@dataclass(frozen=True)
class Prompt:
    text: str
    k: int  # demonstrations in it (at most the K asked for)
    tokens: int  # its length in tokens


def demonstration_pool(task: Task) -> tuple[Item, ...]:
    return task.demonstrations if task.demonstrations is not None else task.items


def draw_demonstrations(task: Task, item: Item, k: int, seed: int) -> list[Item]:
    """k demonstrations for `item`, none of them the item itself (nor, see above, a near copy of it)."""
    if k == 0:
        return []
    pool = demonstration_pool(task)
    rng = random.Random(f"{seed}:{task.name}:{item.id}")  # str seeds hash stably (SHA-512), unlike hash()
    chosen = []
    for index in _distinct_draws(rng, len(pool)):
        candidate = pool[index]
        same_item = candidate.id == item.id and task.demonstrations is None
        same_answer = task.different_target and candidate.target.strip() == item.target.strip()
        if not (same_item or same_answer or candidate.context == item.context or candidate in chosen):
            chosen.append(candidate)
        if len(chosen) == k:
            break
    return chosen


def _distinct_draws(rng: random.Random, n: int):
    """Distinct random indices below n, in random order, without shuffling all n (k is small next to n)."""
    seen = set()
    while len(seen) < n:
        index = rng.randrange(n)
        if index not in seen:
            seen.add(index)
            yield index


def prompt_text(task: Task, item: Item, demonstrations: list[Item], description: str | None) -> str:
    pieces = ([description] if description else []) + [d.context + d.target for d in demonstrations] + [item.context]
    return task.separator.join(pieces)


def build_prompt(task: Task, item: Item, k: int, seed: int, description: str | None,
                 count_tokens: Callable[[str], int], budget: int) -> Prompt:
    """The K-shot prompt for `item`, with demonstrations dropped from the end until it is at most `budget`
    tokens (n_ctx less the longest answer the task needs). Zero demonstrations may still exceed it: the scorer
    then keeps the prompt's last tokens."""
    demonstrations = draw_demonstrations(task, item, k, seed)

    def length(m: int) -> int:
        return count_tokens(prompt_text(task, item, demonstrations[:m], description))

    kept = len(demonstrations)
    if length(kept) > budget:  # the largest m that fits: a prompt only grows with m, so bisect
        low, high = 0, kept - 1
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if length(middle) <= budget else (low, middle - 1)
        kept = low
    text = prompt_text(task, item, demonstrations[:kept], description)
    return Prompt(text, kept, count_tokens(text))
