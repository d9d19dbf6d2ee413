"""GPT-3's synthetic tasks (Brown et al. 2020, §3.9), generated locally in the paper's JSONL format.

The paper's files (openai/gpt-3, `data/`) hold one `{"context": ..., "completion": ...}` object per line:

    {"context": "\\n\\nQ: What is 98 plus 45?\\n\\nA:", "completion": " 143"}     arithmetic
    {"context": "\\nasinoc =", "completion": " casino"}                        word scrambles

The completion always starts with a space (the paper scores it by exact match after greedy decoding).
Numbers are drawn uniformly from [0, 10**N), as §3.9.1 says, so "2D" operands may have one digit and
subtraction may go negative. Word scrambles use words of 4-15 letters (§3.9.2) taken from the English
reference text that ships with Python (`pydoc_data.topics`), so nothing is downloaded.

Everything is a pure function of (task, n, seed): each task draws from its own `random.Random`, never the
global one, so adding a task or changing `n` elsewhere never shifts another task's examples.

    python -m model.synthetic --out data/synthetic --n 100 --seed 0 [--tasks arithmetic_2d_plus ...] [--gzip]
"""
from __future__ import annotations

import argparse
import functools
import gzip
import io
import json
import random
import re
import string
import sys
from collections import Counter
from pathlib import Path
from collections.abc import Callable, Iterable

Example = dict[str, str]

# --------------------------------------------------------------------------------------------- arithmetic

_OPERATION_WORDS = {"+": "plus", "-": "minus", "*": "times"}


def _question(question: str, answer: int) -> Example:
    """The paper's arithmetic framing: a blank line, "Q: ...", a blank line, "A:"; answer after a space."""
    return {"context": f"\n\nQ: What is {question}?\n\nA:", "completion": f" {answer}"}


def _apply(left: int, operator: str, right: int) -> int:
    """Evaluate one binary operation without eval(): the answer must not depend on parsing text."""
    if operator == "+":
        return left + right
    if operator == "-":
        return left - right
    if operator == "*":
        return left * right
    raise ValueError(f"Unknown operator {operator!r}; expected one of + - *.")


def _two_operand_task(digits: int, operator: str) -> Callable[[random.Random], Example]:
    """nD+, nD-, 2Dx: two integers drawn uniformly from [0, 10**digits)."""

    def make(rng: random.Random) -> Example:
        left, right = rng.randrange(10**digits), rng.randrange(10**digits)
        return _question(f"{left} {_OPERATION_WORDS[operator]} {right}", _apply(left, operator, right))

    make.__doc__ = f"{digits}-digit '{_OPERATION_WORDS[operator]}' question."
    return make


def _one_digit_composite(rng: random.Random) -> Example:
    """1DC: three single digits, two operations from + - *, parentheses around the first or last pair.

    Rendered as in the paper's Figure G.42, e.g. "What is (2 * 4) * 6?" or "What is 6 + (5 * 8)?".
    """
    a, b, c = (rng.randrange(10) for _ in range(3))
    first, second = rng.choice("+-*"), rng.choice("+-*")
    if rng.random() < 0.5:
        question, answer = f"({a} {first} {b}) {second} {c}", _apply(_apply(a, first, b), second, c)
    else:
        question, answer = f"{a} {first} ({b} {second} {c})", _apply(a, first, _apply(b, second, c))
    return _question(question, answer)


# ----------------------------------------------------------------------------------------- word scrambles

WORD_MIN_LETTERS, WORD_MAX_LETTERS = 4, 15  # §3.9.2: "words between 4 and 15 letters"
_INSERTED_CHARACTERS = string.punctuation + " "  # random insertion: "a random punctuation or space character"


@functools.lru_cache(maxsize=1)
def word_list() -> tuple[str, ...]:
    """Lowercase alphabetic words of 4-15 letters from Python's own reference text, sorted.

    Words must occur at least twice, which keeps out one-off identifiers and typos. The list is a pure
    function of the Python version, so a seed reproduces the same examples on every machine with it.
    """
    from pydoc_data.topics import topics  # stdlib: the language reference that `help()` shows

    counts: Counter[str] = Counter()
    for text in topics.values():
        for token in text.split():
            word = token.strip(string.punctuation + "“”‘’")
            if re.fullmatch(f"[a-z]{{{WORD_MIN_LETTERS},{WORD_MAX_LETTERS}}}", word):
                counts[word] += 1
    return tuple(sorted(word for word, count in counts.items() if count >= 2))


def _scramble_example(scrambled: str, word: str) -> Example:
    """Scrambles are framed as a line break, the scrambled letters and " ="; the answer is the word."""
    return {"context": f"\n{scrambled} =", "completion": f" {word}"}


def _shuffled_differently(letters: str, rng: random.Random) -> str:
    """A permutation of `letters` that differs from it (caller guarantees one exists)."""
    while True:
        shuffled = "".join(rng.sample(letters, len(letters)))
        if shuffled != letters:
            return shuffled


def _can_shuffle(letters: str) -> bool:
    """A differing permutation exists iff at least two distinct letters are present."""
    return len(set(letters)) >= 2


@functools.cache
def _words(eligible: Callable[[str], bool]) -> tuple[str, ...]:
    """The words a scramble can change (cached per eligibility rule; rules are module-level functions)."""
    return tuple(word for word in word_list() if eligible(word))


def _is_not_palindrome(word: str) -> bool:
    return word != word[::-1]


def _cycle_letters(rng: random.Random) -> Example:
    """CL: the word's letters rotated by a random non-trivial offset ("casino" -> "asinoc")."""
    word = rng.choice(_words(_can_shuffle))
    offsets = [k for k in range(1, len(word)) if word[k:] + word[:k] != word]
    k = rng.choice(offsets)
    return _scramble_example(word[k:] + word[:k], word)


_MIDDLE_SHUFFLABLE = {
    1: lambda word: _can_shuffle(word[1:-1]),
    2: lambda word: _can_shuffle(word[2:-2]),
}


def _mid_word_anagram(kept: int) -> Callable[[random.Random], Example]:
    """A1 (kept=1) / A2 (kept=2): shuffle all letters except the first and last `kept` ones."""

    def make(rng: random.Random) -> Example:
        word = rng.choice(_words(_MIDDLE_SHUFFLABLE[kept]))
        middle = _shuffled_differently(word[kept:-kept], rng)
        return _scramble_example(word[:kept] + middle + word[-kept:], word)

    make.__doc__ = f"Anagram keeping the first and last {kept} letter(s) in place."
    return make


def _random_insertion(rng: random.Random) -> Example:
    """RI: a random punctuation or space character between every pair of letters ("s.u!c/c!e.s s i/o/n")."""
    word = rng.choice(word_list())
    scrambled = word[0] + "".join(rng.choice(_INSERTED_CHARACTERS) + letter for letter in word[1:])
    return _scramble_example(scrambled, word)


def _reversed_word(rng: random.Random) -> Example:
    """RW: the word spelled backwards ("stcejbo" -> "objects"); palindromes are skipped."""
    word = rng.choice(_words(_is_not_palindrome))
    return _scramble_example(word[::-1], word)

# ------------------------------------------------------------------------------------------------ registry

TASKS: dict[str, Callable[[random.Random], Example]] = {
    "arithmetic_2d_plus": _two_operand_task(2, "+"),
    "arithmetic_2d_minus": _two_operand_task(2, "-"),
    "arithmetic_3d_plus": _two_operand_task(3, "+"),
    "arithmetic_3d_minus": _two_operand_task(3, "-"),
    "arithmetic_4d_plus": _two_operand_task(4, "+"),
    "arithmetic_4d_minus": _two_operand_task(4, "-"),
    "arithmetic_5d_plus": _two_operand_task(5, "+"),
    "arithmetic_5d_minus": _two_operand_task(5, "-"),
    "arithmetic_2dx": _two_operand_task(2, "*"),
    "arithmetic_1dc": _one_digit_composite,
    "cycle_letters": _cycle_letters,
    "mid_word_1_anagrams": _mid_word_anagram(1),
    "mid_word_2_anagrams": _mid_word_anagram(2),
    "random_insertion": _random_insertion,
    "reversed_words": _reversed_word,
}

# Consecutive draws without a new example before concluding the task cannot supply that many unique ones.
_MAX_FRUITLESS_DRAWS = 10_000


def _check_task(task: str) -> Callable[[random.Random], Example]:
    if task not in TASKS:
        raise ValueError(f"Unknown synthetic task {task!r}; valid tasks are: {', '.join(TASKS)}.")
    return TASKS[task]


def generate(task: str, n: int, seed: int) -> list[Example]:
    """`n` distinct examples of `task`, a pure function of (task, n, seed).

    The task's generator gets its own `random.Random(f"{seed}:{task}")` (string seeds hash with SHA-512,
    so they are stable across processes, unlike `hash()`). Duplicates are redrawn; the first `m` examples
    of `generate(task, n, seed)` equal `generate(task, m, seed)` for any m <= n. ValueError if the task
    stops producing new examples before `n` (e.g. 1DC has at most 10**3 * 3**2 * 2 distinct questions).
    """
    make = _check_task(task)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}.")
    rng = random.Random(f"{seed}:{task}")
    examples: list[Example] = []
    seen: set[tuple[str, str]] = set()
    fruitless = 0
    while len(examples) < n and fruitless < _MAX_FRUITLESS_DRAWS:
        example = make(rng)
        key = (example["context"], example["completion"])
        if key in seen:
            fruitless += 1
            continue
        seen.add(key)
        examples.append(example)
        fruitless = 0
    if len(examples) < n:
        raise ValueError(f"Task {task!r} yielded only {len(examples)} distinct examples; asked for {n}.")
    return examples


def write_jsonl(path: str | Path, examples: Iterable[Example]) -> Path:
    """One JSON object per line (UTF-8, keys in context/completion order); gzip if `path` ends in .gz.

    The gzip header's mtime is fixed at 0 and no file name is stored, so equal examples give equal bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(example, ensure_ascii=False) + "\n" for example in examples).encode("utf-8")
    if path.name.endswith(".gz"):
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as compressed:
            compressed.write(payload)
        payload = buffer.getvalue()
    path.write_bytes(payload)
    return path


def read_jsonl(path: str | Path) -> list[Example]:
    """Read a file written by `write_jsonl` (or one of the paper's own files), gzipped or not."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory to write <task>.jsonl files into")
    parser.add_argument("--n", type=int, default=100, help="examples per task (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), metavar="TASK", help="default: all tasks")
    parser.add_argument("--gzip", action="store_true", help="write <task>.jsonl.gz, as the paper distributes them")
    args = parser.parse_args(argv)
    try:
        for task in args.tasks:
            _check_task(task)
        suffix = ".jsonl.gz" if args.gzip else ".jsonl"
        for task in args.tasks:
            path = write_jsonl(Path(args.out) / f"{task}{suffix}", generate(task, args.n, args.seed))
            print(f"{path}: {args.n} examples")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
