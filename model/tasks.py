"""Tasks for the few-shot evaluator: what is asked and what counts as right, never how a model answers it
(lm-evaluation-harness's split: a task makes requests, model/scoring.py answers them).

A task is its evaluated items, where its demonstrations come from, a kind and a separator:

    generate         {"context", "completion"}: the model writes until a stop sequence (a newline); right if
                     the text equals the completion after stripping whitespace (GPT-3's exact match)
    last_word        LAMBADA-style {"context", "completion"}: the completion is the passage's last word; right
                     if it is the model's greedy continuation, token by token
    multiple_choice  {"context" or "question", "choices", "label"}: the choice the model finds most likely

Task names (`--tasks`, comma-separated):

    arithmetic                 the ten arithmetic tasks of GPT-3 §3.9.1 (2D+ 2D- 3D+ 3D- 4D+ 4D- 5D+ 5D- 2Dx 1DC)
    wordscramble               the five word scrambles of §3.9.2 (CL A1 A2 RI RW)
    arithmetic_2d_plus, 2D+    one synthetic task, by model/synthetic.py's name or the paper's short name
    PATH.jsonl, PATH.jsonl.gz  a benchmark file (the kind is read from its fields; `last_word:PATH` for a cloze
                               file, and files named *lambada* or *cloze* are last_word without it)
    DIR                        every benchmark file directly in DIR, as the decontam stage's --benchmarks reads it

Ids match corpus/benchmarks.py's (the `id` field, else the 0-based line index) and each item keeps its JSON
line, so the decontam stage's clean/dirty subsets find the same examples (model/contamination.py).
Synthetic tasks are the first SYNTHETIC_ITEMS examples of `synthetic.generate(task, n, SYNTHETIC_SEED)`: the
demo's benchmark files are the first 300 of the same stream, so their ids and lines are the same.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from corpus.benchmarks import benchmark_name, list_benchmark_files, load_benchmark
from corpus.errors import UserError
from model import synthetic

GENERATE, LAST_WORD, MULTIPLE_CHOICE = "generate", "last_word", "multiple_choice"
SYNTHETIC_SEED = 0          # the demo's benchmarks use seed 0, so ids and lines agree
SYNTHETIC_ITEMS = 1000      # evaluated items per synthetic task (the paper used 2,000; the word list has ~1,860)
SYNTHETIC_DEMONSTRATIONS = 200  # the stream's next items: a training split no evaluated item is in
DEFAULT_SEPARATOR = "\n\n"  # between demonstrations when the file's contexts carry none (lm-evaluation-harness's)

ARITHMETIC = ["arithmetic_2d_plus", "arithmetic_2d_minus", "arithmetic_3d_plus", "arithmetic_3d_minus",
              "arithmetic_4d_plus", "arithmetic_4d_minus", "arithmetic_5d_plus", "arithmetic_5d_minus",
              "arithmetic_2dx", "arithmetic_1dc"]
WORDSCRAMBLE = ["cycle_letters", "mid_word_1_anagrams", "mid_word_2_anagrams", "random_insertion", "reversed_words"]
GROUPS = {"arithmetic": ARITHMETIC, "wordscramble": WORDSCRAMBLE}
PAPER_NAMES = dict(zip(["2D+", "2D-", "3D+", "3D-", "4D+", "4D-", "5D+", "5D-", "2Dx", "1DC"], ARITHMETIC)) | \
    dict(zip(["CL", "A1", "A2", "RI", "RW"], WORDSCRAMBLE))


@dataclass(frozen=True)
class Item:
    id: str                       # as corpus/benchmarks.py ids it
    context: str                  # the prompt, without the leading newlines that separate it from what precedes
    target: str                   # the completion (leading space kept), or the correct choice's continuation
    choices: tuple[str, ...] = ()  # multiple choice: every choice as a continuation (leading space)
    label: int = -1               # multiple choice: index of the correct choice
    line: str = ""                # the example's JSON line as in its file: the clean/dirty files hold these


@dataclass(frozen=True)
class Task:
    name: str
    kind: str
    items: tuple[Item, ...]                  # in file order; --limit evaluates the first N
    demonstrations: tuple[Item, ...] | None  # a training/dev split; None: the items, less the one evaluated
    separator: str                           # between description, demonstrations and the evaluated item
    stop: str = "\n"                         # generation ends at the first one (GPT-3: a newline)
    different_target: bool = False           # no demonstration has the item's answer (completions: another
    #                                          scramble of the same word would give it away; never multiple
    #                                          choice, where that would hint which choice is not the answer)


def _separator(contexts: list[str]) -> str:
    """GPT-3's files carry the delimiter as the context's leading newlines ("\\n\\nQ: ...", "\\nasinoc ="):
    one or two, the same on every line. Files without them get DEFAULT_SEPARATOR."""
    leading = {len(c) - len(c.lstrip("\n")) for c in contexts}
    return "\n" * leading.pop() if len(leading) == 1 and leading != {0} else DEFAULT_SEPARATOR


def _continuation(text: str) -> str:
    """A choice as the continuation of its context: with one leading space, as GPT-3's completions have."""
    return text if text[:1].isspace() else " " + text


def parse_record(record: dict, example_id: str, line: str) -> tuple[str, Item] | None:
    """(kind, item) of one JSON object, or None if it is in neither format."""
    context = record.get("context", record.get("question"))
    if isinstance(record.get("choices"), list) and isinstance(context, str):
        choices = tuple(_continuation(str(c)) for c in record["choices"])
        label = record.get("label")
        if isinstance(label, str) and _continuation(label) in choices:
            label = choices.index(_continuation(label))
        if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < len(choices):
            return None
        return MULTIPLE_CHOICE, Item(example_id, context.lstrip("\n"), choices[label], choices, label, line)
    if isinstance(record.get("context"), str) and isinstance(record.get("completion"), str) and \
            record["completion"].strip():
        return GENERATE, Item(example_id, record["context"].lstrip("\n"), record["completion"], line=line)
    return None


def _file_items(path: str) -> tuple[list[str], list[tuple[str, Item]], int]:
    """(raw contexts, (kind, item) per usable line, lines skipped) of one benchmark file."""
    benchmark = load_benchmark(path)
    contexts, parsed = [], []
    for example in benchmark.examples:
        record = json.loads(example.line)
        item = parse_record(record, example.id, example.line)
        if item:
            parsed.append(item)
            contexts.append(record.get("context", record.get("question")))
    return contexts, parsed, sum(benchmark.skipped.values()) + len(benchmark.examples) - len(parsed)


def _split_file(path: str) -> str | None:
    """A training or dev split beside a test file: NAME.train.jsonl or NAME.dev.jsonl (gzipped or not)."""
    p = Path(path)
    for split in ("train", "dev"):
        for suffix in (".jsonl", ".jsonl.gz"):
            candidate = p.with_name(f"{benchmark_name(p)}.{split}{suffix}")
            if candidate.is_file() and candidate != p:
                return str(candidate)
    return None


def file_task(path: str, kind: str | None = None) -> Task:
    """A task from a benchmark file; its kind read from the fields unless given (last_word)."""
    contexts, parsed, skipped = _file_items(path)
    if not parsed:
        raise UserError(f"{path} holds no example in the {{\"context\", \"completion\"}} or multiple-choice format")
    kinds = {k for k, _ in parsed}
    if len(kinds) > 1:
        raise UserError(f"{path} mixes completion and multiple-choice examples; a task has one kind")
    found = kinds.pop()
    name = benchmark_name(path)
    if kind is None and found == GENERATE and ("lambada" in name.lower() or "cloze" in name.lower()):
        kind = LAST_WORD
    if kind == LAST_WORD and found != GENERATE:
        raise UserError(f"{path}: last_word needs {{\"context\", \"completion\"}} examples")
    split = _split_file(path)
    demonstrations = tuple(item for _, item in _file_items(split)[1]) if split else None
    kind = kind or found
    return Task(name, kind, tuple(item for _, item in parsed), demonstrations, _separator(contexts),
                different_target=kind != MULTIPLE_CHOICE)


def synthetic_task(name: str) -> Task:
    """A GPT-3 synthetic task generated locally: SYNTHETIC_ITEMS evaluated, the next ones its training split."""
    examples = synthetic.generate(name, SYNTHETIC_ITEMS + SYNTHETIC_DEMONSTRATIONS, SYNTHETIC_SEED)
    items = [Item(str(i), e["context"].lstrip("\n"), e["completion"], line=json.dumps(e, ensure_ascii=False))
             for i, e in enumerate(examples)]
    return Task(name, GENERATE, tuple(items[:SYNTHETIC_ITEMS]), tuple(items[SYNTHETIC_ITEMS:]),
                _separator([e["context"] for e in examples]), different_target=True)


def resolve_tasks(spec: str) -> list[Task]:
    """The tasks a --tasks value names, in the order given (see the module docstring)."""
    tasks = []
    for name in (part.strip() for part in spec.split(",")):
        if not name:
            continue
        kind = None
        if name.startswith(f"{LAST_WORD}:"):
            kind, name = LAST_WORD, name[len(LAST_WORD) + 1:]
        if name in GROUPS:
            tasks += [synthetic_task(t) for t in GROUPS[name]]
        elif PAPER_NAMES.get(name, name) in synthetic.TASKS and kind is None:
            tasks.append(synthetic_task(PAPER_NAMES.get(name, name)))
        elif Path(name).exists():
            files = [name] if Path(name).is_file() else [  # a directory's splits are demonstrations, not tasks
                f for f in list_benchmark_files(name) if benchmark_name(f).rpartition(".")[2] not in ("train", "dev")]
            tasks += [file_task(f, kind) for f in files]
        else:
            known = ", ".join([*GROUPS, *PAPER_NAMES, *synthetic.TASKS])
            raise UserError(f"--tasks: {name!r} is neither a task ({known}) nor an existing file or directory")
    names = [t.name for t in tasks]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"--tasks names the task {repeated[0]!r} twice")
    return tasks
