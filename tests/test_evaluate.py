"""model.evaluate and its parts: log-likelihoods against one token at a time, batching, the KV cache, pinned
prompt texts, GPT-3-format files, clean vs dirty, and a trained model against an untrained one."""
import gzip
import json
import math
import random
import shutil

import pytest
import torch
from shard_factory import write_shards
from torch.nn import functional as F

from corpus.benchmarks import load_benchmark
from model.evaluate import main as evaluate_main
from model.gpt import GPT, GPTConfig
from model.prompts import build_prompt, draw_demonstrations
from model.scoring import LM
from model.tasks import GENERATE, LAST_WORD, MULTIPLE_CHOICE, Item, Task, resolve_tasks, synthetic_task
from model.train import (CHECKPOINT, CHECKPOINT_FORMAT, TOKENIZER, parse_args, read_checkpoint, resolve_settings,
                         save_checkpoint)
from model.train import main as train_main

pytestmark = pytest.mark.usefixtures("one_thread")

SEEN = 24  # reversed-word items whose lines the trained model's shards hold


@pytest.fixture(scope="module")
def shards(tmp_path_factory, one_thread):
    """Shards of documents made of the first SEEN reversed-word items, one per line, as GPT-3's files format them."""
    task = synthetic_task("reversed_words")
    lines = [item.context + item.target for item in task.items[:SEEN]]
    rng = random.Random(0)
    docs = {split: ["\n".join(rng.choice(lines) for _ in range(8)) for _ in range(count)]
            for split, count in (("train", 600), ("val", 20))}
    return write_shards(tmp_path_factory.mktemp("shards") / "shards", {"scrambles": docs}, vocab_size=300,
                        file_tokens=8192)


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "trained"
    assert train_main(["--data", str(shards), "--preset", "micro", "--out", str(out), "--steps", "300",
                       "--eval-every", "300", "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def untrained(shards, tmp_path_factory):
    """A run folder holding the micro model as initialised, in the trainer's checkpoint format: no step taken."""
    out = tmp_path_factory.mktemp("runs") / "untrained"
    out.mkdir()
    vocab = json.loads((shards / "manifest.json").read_text())["vocab_size"]
    settings = resolve_settings(parse_args(["--data", str(shards), "--preset", "micro", "--out", str(out)]), vocab)
    torch.manual_seed(0)
    model = GPT(GPTConfig(**settings["model"]))
    save_checkpoint(out / CHECKPOINT, {"format": CHECKPOINT_FORMAT, "settings": settings,
                                       "model": model.state_dict(), "step": 0, "tokens": 0})
    shutil.copyfile(shards / "tokenizer.json", out / TOKENIZER)
    return out


def load_lm(run, batch_size=16) -> LM:
    from tokenizers import Tokenizer
    return LM(read_checkpoint(run)[0], Tokenizer.from_file(str(run / TOKENIZER)), batch_size)


def one_token_at_a_time(lm: LM, context: list[int], continuation: list[int]) -> float:
    """log P(continuation | context), one forward pass per continuation token, full logits, no batching."""
    row = ((context or [lm.eot]) + continuation)[-(lm.n_ctx + 1):]
    total = 0.0
    for position in range(len(row) - len(continuation), len(row)):
        logits, _ = lm.model(torch.tensor([row[:position]]))
        total += F.log_softmax(logits[0, -1].double(), dim=-1)[row[position]].item()
    return total


REQUESTS = [("edulcni =", " include"), ("", "elbatummi = immutable"), ("Q: What is 2 plus 2?\n\nA:", " 4"),
            ("edulcni = include\n" * 12 + "ecnatsni =", " instance"),  # longer than n_ctx: the context is cut
            ("x", " y"), ("\n", " a b c d e f g")]


# ------------------------------------------------------------------------------------------------ scoring

def test_loglikelihood_is_the_sum_of_log_probs_computed_one_token_at_a_time(trained):
    lm = load_lm(trained)
    pairs = [(lm.encode(c), lm.encode(x)) for c, x in REQUESTS]
    assert len(pairs[3][0]) + len(pairs[3][1]) > lm.n_ctx + 1
    scores = lm.loglikelihood(REQUESTS)
    for (context, continuation), (logprob, _, n) in zip(pairs, scores):
        assert n == len(continuation)
        assert logprob == pytest.approx(one_token_at_a_time(lm, context, continuation), abs=1e-4)
    assert scores[0][0] > -1.0 and scores[0][1]  # a seen line is likely and greedy; a random one is not
    assert scores[5][0] < -10.0 and not scores[5][1]


def test_batching_and_padding_change_no_score(trained):
    alone = load_lm(trained, batch_size=1).loglikelihood(REQUESTS)
    order = [3, 0, 5, 1, 4, 2]
    together = load_lm(trained, batch_size=len(REQUESTS)).loglikelihood([REQUESTS[i] for i in order])
    pairs = load_lm(trained, batch_size=4).loglikelihood(REQUESTS)
    for i, j in enumerate(order):
        assert together[i][0] == pytest.approx(alone[j][0], abs=1e-5) and together[i][1:] == alone[j][1:]
    for a, b in zip(alone, pairs):
        assert a[0] == pytest.approx(b[0], abs=1e-5) and a[1:] == b[1:]


def test_greedy_generation_with_the_kv_cache_is_the_argmax_of_full_forward_passes(trained):
    lm = load_lm(trained)
    for prompt in ("\nstcejbo = objects\nedulcni =", "Q: What is"):
        ids = lm.encode(prompt)
        for _ in range(12):
            logits, _ = lm.model(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
        expected = lm.decode(ids[len(lm.encode(prompt)):])
        assert lm.generate(prompt, stop="", max_new_tokens=12) == expected
        assert lm.generate(prompt, stop="\n", max_new_tokens=12) == expected.split("\n")[0]
    assert lm.generate("\nstcejbo = objects\nedulcni =", max_new_tokens=12, beam=1) == " include"


@pytest.mark.parametrize("band", [0, 4])
def test_left_padding_changes_no_hidden_state_of_a_real_token(band):
    """Rows of 3, 17 and 9 tokens padded on the left to 17, through the cache path, then one more token each:
    every real token's state is the one it has alone (a banded model's layers included)."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, d_model=32, n_ctx=32, vocab_size=50, band=band)).eval()
    rows = [torch.randint(50, (n,)) for n in (3, 17, 9)]
    idx, pos = torch.zeros(3, 17, dtype=torch.long), torch.arange(17).repeat(3, 1)
    for b, row in enumerate(rows):
        idx[b, 17 - len(row):] = row
        pos[b] -= 17 - len(row)
    following = torch.randint(50, (3, 1))
    with torch.no_grad():
        cache = model.new_cache()
        padded = model.hidden(idx, cache, pos)
        step = model.hidden(following, cache, pos[:, -1:] + 1)
        for b, row in enumerate(rows):
            alone = model.hidden(torch.cat([row, following[b]])[None])[0]  # (len + 1, d_model)
            torch.testing.assert_close(padded[b, 17 - len(row):], alone[:-1], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(step[b, 0], alone[-1], atol=1e-5, rtol=1e-5)


def test_held_out_loss_and_bits_per_byte(trained, untrained, shards):
    text = "\n".join(line for line in ["edulcni = include", "ecnatsni = instance"] * 20)
    trained_lm, untrained_lm = load_lm(trained), load_lm(untrained)
    short = "ecnatsni = instance"
    result = trained_lm.text_loss(short)
    nats = -trained_lm.loglikelihood([("", short)])[0][0]
    assert result["tokens"] == len(trained_lm.encode(short)) and result["bytes"] == len(short)
    assert result["loss"] == pytest.approx(nats / result["tokens"], rel=1e-5)
    assert result["bits_per_byte"] == pytest.approx(nats / math.log(2) / len(short), rel=1e-5)
    long = trained_lm.text_loss(text)
    assert long["tokens"] > 2 * trained_lm.n_ctx  # several windows
    untrained_loss = untrained_lm.text_loss(text)
    vocab = trained_lm.tokenizer.get_vocab_size()
    assert abs(untrained_loss["loss"] - math.log(vocab)) < 0.3  # an untrained model is near uniform
    assert long["bits_per_byte"] < untrained_loss["bits_per_byte"] / 3


# ------------------------------------------------------------------------------------------------ prompts

def toy_task(demonstrations=None, different_target=False) -> Task:
    items = (Item("0", "Q: a?\n\nA:", " 1"), Item("1", "Q: b?\n\nA:", " 2"), Item("2", "Q: c?\n\nA:", " 3"),
             Item("3", "Q: a?\n\nA:", " 1"))  # item 3 repeats item 0: it must never show item 0 its answer
    return Task("toy", GENERATE, items, demonstrations, "\n\n", different_target=different_target)


def prompt(task, item, k, description=None, budget=10_000, seed=0):
    return build_prompt(task, item, k, seed, description, len, budget)  # tokens = characters here


def test_zero_one_and_k_shot_prompts_are_exactly_these_texts():
    task = toy_task()
    a = task.items[0]
    assert prompt(task, a, 0).text == "Q: a?\n\nA:"
    assert prompt(task, a, 0, "Answer the question.").text == "Answer the question.\n\nQ: a?\n\nA:"
    assert prompt(task, a, 1, "Answer the question.").text == "Answer the question.\n\nQ: c?\n\nA: 3\n\nQ: a?\n\nA:"
    two = prompt(task, a, 2)
    assert two.text == "Q: c?\n\nA: 3\n\nQ: b?\n\nA: 2\n\nQ: a?\n\nA:" and two.k == 2
    assert prompt(task, a, 8).text == two.text and prompt(task, a, 8).k == 2  # only two others exist
    arithmetic = synthetic_task("arithmetic_2d_plus")
    assert prompt(arithmetic, arithmetic.items[0], 2).text == (
        "Q: What is 31 plus 10?\n\nA: 41\n\nQ: What is 46 plus 78?\n\nA: 124\n\nQ: What is 5 plus 66?\n\nA:")
    scrambles = synthetic_task("cycle_letters")
    assert scrambles.separator == "\n"
    assert prompt(scrambles, scrambles.items[0], 1, "Please unscramble the letters into a word, and write that "
                  "word:").text == ("Please unscramble the letters into a word, and write that word:\n"
                                    "aloct = octal\ntailsde =")


def test_no_demonstration_is_the_evaluated_item_or_gives_its_answer_away():
    task = toy_task()
    for item in task.items:
        for seed in range(20):
            shown = draw_demonstrations(task, item, 3, seed)
            assert item not in shown and all(d.context != item.context for d in shown)
    scrambles = synthetic_task("mid_word_1_anagrams")
    train_targets = {d.target for d in scrambles.demonstrations}
    item = next(i for i in scrambles.items if i.target in train_targets)  # another scramble of its word is there
    assert all(d.target != item.target for d in draw_demonstrations(scrambles, item, 150, 0))
    assert all(int(d.id) >= len(scrambles.items) for d in draw_demonstrations(scrambles, item, 8, 0))


def test_k_is_capped_at_the_most_demonstrations_that_fit_and_reported():
    task = synthetic_task("arithmetic_3d_plus")
    item = task.items[5]
    full = prompt(task, item, 50)
    assert full.k == 50
    budget = len(full.text) // 3
    capped = prompt(task, item, 50, budget=budget)
    assert 0 < capped.k < 50 and capped.tokens == len(capped.text) <= budget
    assert capped.text == prompt(task, item, capped.k).text  # the first k of the same draw
    assert len(prompt(task, item, capped.k + 1).text) > budget  # and one more would not fit


# ------------------------------------------------------------------------------------------------ files

PAPER_LINES = [  # field names, order and whitespace as in openai/gpt-3's data/ files
    '{"context": "\\n\\nQ: What is 98 plus 45?\\n\\nA:", "completion": " 143"}',
    "",
    '{"context": "\\n\\nQ: What is 12 plus 30?\\n\\nA:", "completion": " 42"}',
    '{"context": "\\n\\nQ: What is 7 plus 7?\\n\\nA:", "completion": " 14"}',
]


def write_gz(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def test_gpt3_format_files_not_made_here_are_read_with_the_decontam_stages_ids(tmp_path):
    path = write_gz(tmp_path / "two_digit_addition.jsonl.gz", PAPER_LINES)
    scramble = tmp_path / "cycle_letters_paper.jsonl"
    scramble.write_text('{"context": "\\nasinoc =", "completion": " casino"}\n'
                        '{"context": "\\nelbat =", "completion": " table"}\n'
                        '{"context": "\\nnocasi =", "completion": " casino"}\n')  # the same word scrambled again
    arithmetic, letters = resolve_tasks(f"{path},{scramble}")
    assert (arithmetic.name, arithmetic.kind, arithmetic.separator) == ("two_digit_addition", GENERATE, "\n\n")
    assert [i.id for i in arithmetic.items] == [e.id for e in load_benchmark(str(path)).examples] == ["0", "2", "3"]
    assert prompt(arithmetic, arithmetic.items[0], 2).text == (
        "Q: What is 12 plus 30?\n\nA: 42\n\nQ: What is 7 plus 7?\n\nA: 14\n\nQ: What is 98 plus 45?\n\nA:")
    assert arithmetic.items[0].target == " 143" and arithmetic.items[0].line == PAPER_LINES[0]
    assert letters.separator == "\n" and prompt(letters, letters.items[1], 1).text == "nocasi = casino\nelbat ="
    assert all(prompt(letters, letters.items[0], 2, seed=seed).text == "elbat = table\nasinoc =" for seed in range(5))


def test_multiple_choice_and_cloze_files_and_a_training_split_beside_the_file(tmp_path):
    mc = tmp_path / "quiz.jsonl"
    mc.write_text(json.dumps({"question": "Is ice cold?", "choices": ["yes", "no"], "label": 0}) + "\n"
                  + json.dumps({"context": "Is fire cold?", "choices": [" yes", " no"], "label": "no", "id": "q2"})
                  + "\n" + "not json\n")
    (tmp_path / "quiz.train.jsonl").write_text(json.dumps({"question": "Is snow white?", "choices": ["yes", "no"],
                                                           "label": 0}) + "\n")
    cloze = tmp_path / "prose_cloze.jsonl"
    cloze.write_text(json.dumps({"context": "The cat sat on the", "completion": " mat"}) + "\n")
    tasks = resolve_tasks(str(tmp_path))  # a directory: its splits are demonstrations, not tasks
    assert [(t.name, t.kind) for t in tasks] == [("prose_cloze", LAST_WORD), ("quiz", MULTIPLE_CHOICE)]
    quiz = tasks[1]
    assert [(i.id, i.choices, i.label) for i in quiz.items] == [("0", (" yes", " no"), 0), ("q2", (" yes", " no"), 1)]
    assert prompt(quiz, quiz.items[1], 1).text == "Is snow white? yes\n\nIs fire cold?"


# ------------------------------------------------------------------------------------------------ the CLI

def mc_file(path, items, rng):
    """4-choice questions on reversed words: the right word and three other words of the task."""
    words = [i.target.strip() for i in items]
    lines = []
    for item in items:
        choices = [item.target.strip()] + rng.sample([w for w in words if w != item.target.strip()], 3)
        rng.shuffle(choices)
        lines.append(json.dumps({"context": "\n" + item.context, "choices": choices,
                                 "label": choices.index(item.target.strip())}))
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def rows(out, **match):
    results = json.loads((out / "results.json").read_text())["results"]
    return [r for r in results if all(r[k] == v for k, v in match.items())]


def test_a_model_trained_on_the_answer_format_beats_chance_and_an_untrained_one_is_at_chance(
        trained, untrained, tmp_path, capsys):
    items = synthetic_task("reversed_words").items
    mc = mc_file(tmp_path / "reversed_choice.jsonl", items[:SEEN], random.Random(1))
    untrained_mc = mc_file(tmp_path / "wide" / "reversed_choice.jsonl", items[:200], random.Random(2))
    out = tmp_path / "eval"
    assert evaluate_main(["--checkpoint", str(trained), str(untrained), "--tasks", f"RW,{mc}",
                          "--shots", "0,1", "--limit", str(SEEN), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed == (out / "table.md").read_text() and "| trained | reversed_words | 0 | exact_match |" in printed
    for name, r in (("trained", rows(out, checkpoint="trained", task="reversed_words", shots=0)[0]),
                    ("untrained", rows(out, checkpoint="untrained", task="reversed_words", shots=0)[0])):
        assert r["n_all"] == SEEN and r["metric"] == "exact_match"
        assert r["accuracy_all"] >= 0.9 if name == "trained" else r["accuracy_all"] == 0.0
    trained_mc = rows(out, checkpoint="trained", task="reversed_choice", shots=0)
    assert {r["metric"] for r in trained_mc} == {"acc", "acc_norm", "acc_norm_chars", "acc_uncond"}
    assert all(r["accuracy_all"] >= 0.75 and r["chance"] == 0.25 for r in trained_mc)
    for f in ("accuracy_vs_shots.png", "accuracy_vs_params.png"):
        assert (out / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    first = next(s for s in samples if s["checkpoint"] == "trained" and s["task"] == "reversed_words")
    assert first["prompt"] == items[0].context and first["prediction"] == items[0].target
    # chance, on questions enough to tell: 200 items, chance 25%, binomial sd 3%
    out = tmp_path / "untrained-eval"
    assert evaluate_main(["--checkpoint", str(untrained), "--tasks", str(untrained_mc), "--shots", "0",
                          "--out", str(out)]) == 0
    for r in rows(out):
        assert r["n_all"] == 200 and 0.16 <= r["accuracy_all"] <= 0.34, r


def test_beam_search_finds_the_seen_answers_too_and_text_gets_bits_per_byte(trained, tmp_path):
    out = tmp_path / "beam"
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("edulcni = include\necnatsni = instance\n")
    assert evaluate_main(["--checkpoint", str(trained), "--tasks", "RW", "--shots", "0", "--limit", str(SEEN),
                          "--beam", "--text", str(held_out), "--out", str(out)]) == 0
    r = rows(out)[0]
    assert r["accuracy_all"] >= 0.8
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["beam"] == 4
    assert results["text"] == [{"checkpoint": "trained", "path": str(held_out),
                                **load_lm(trained).text_loss(held_out.read_text())}]
    assert "| bits per byte |" in (out / "table.md").read_text()


def contamination_out(root, task, dirty_count):
    """OUT/ as the decontam stage leaves it for one benchmark: contamination.json and the clean/dirty files."""
    lines = [item.line for item in task.items[:300]]  # the demo's benchmark holds the stream's first 300
    (root / "benchmarks").mkdir(parents=True)
    (root / "reports").mkdir()
    (root / "benchmarks" / f"{task.name}.dirty.jsonl").write_text("".join(line + "\n" for line in lines[:dirty_count]))
    (root / "benchmarks" / f"{task.name}.clean.jsonl").write_text("".join(line + "\n" for line in lines[dirty_count:]))
    report = {"benchmarks": {task.name: {"examples": 300, "dirty_ids": [str(i) for i in range(dirty_count)],
                                         "clean_file": f"benchmarks/{task.name}.clean.jsonl",
                                         "dirty_file": f"benchmarks/{task.name}.dirty.jsonl"}}}
    (root / "reports" / "contamination.json").write_text(json.dumps(report))
    return root / "reports" / "contamination.json"


def test_clean_and_dirty_accuracy_from_the_decontam_stages_files_or_ids(trained, tmp_path):
    task = synthetic_task("reversed_words")
    report = contamination_out(tmp_path / "OUT", task, dirty_count=6)
    results = {}
    for label, spec in (("json", report), ("dir", tmp_path / "OUT" / "benchmarks")):
        out = tmp_path / label
        assert evaluate_main(["--checkpoint", str(trained), "--tasks", "RW,2D+", "--shots", "0", "--limit",
                              str(SEEN), "--contamination", str(spec), "--out", str(out)]) == 0
        results[label] = rows(out)
    shutil.rmtree(tmp_path / "OUT" / "benchmarks")  # only contamination.json's dirty_ids left
    out = tmp_path / "ids"
    assert evaluate_main(["--checkpoint", str(trained), "--tasks", "RW,2D+", "--shots", "0", "--limit", "310",
                          "--contamination", str(report), "--out", str(out)]) == 0
    results["ids"] = rows(out)
    for label, (words, arithmetic) in results.items():
        assert (words["n_dirty"], words["n_all"] - words["n_dirty"] - words["n_clean"]) == \
            ((6, 0) if label != "ids" else (6, 10))  # items past the benchmark's 300 are in neither subset
        assert arithmetic["n_clean"] == arithmetic["n_dirty"] == 0 and arithmetic["accuracy_clean"] is None
    samples = [json.loads(line) for line in (tmp_path / "json" / "samples.jsonl").read_text().splitlines()]
    right = [s["correct"]["exact_match"] for s in samples if s["task"] == "reversed_words"]
    words = results["json"][0]
    assert words["accuracy_dirty"] == sum(right[:6]) / 6 and words["accuracy_clean"] == sum(right[6:]) / 18


def test_user_mistakes_are_one_sentence(trained, tmp_path, capsys):
    for argv, expected in (
            (["--checkpoint", str(tmp_path / "none"), "--tasks", "RW"], "holds no checkpoint"),
            (["--checkpoint", str(trained), "--tasks", "nonsense"], "--tasks: 'nonsense' is neither a task"),
            (["--checkpoint", str(trained), "--shots", "one"], "--shots takes comma-separated K values"),
            (["--checkpoint", str(trained), "--tasks", "RW", "--contamination", str(tmp_path / "x.json")],
             "does not exist"),
            (["--checkpoint", str(trained), "--tasks", "RW", "--text", str(tmp_path / "none.txt")], "--text:")):
        assert evaluate_main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and expected in err and err.count("\n") == 1, err


def test_the_html_report_shows_the_evaluation_after_the_training_section(trained, tmp_path):
    import base64
    import re

    from corpus.report import write_report
    out = tmp_path / "OUT"
    shutil.copytree(trained, out / "runs" / "tiny")
    contamination_out(tmp_path / "decontam", synthetic_task("reversed_words"), dirty_count=6)
    assert evaluate_main(["--checkpoint", str(out / "runs" / "tiny"), "--tasks", "RW,2D+", "--shots", "0,2",
                          "--limit", str(SEEN), "--contamination", str(tmp_path / "decontam" / "benchmarks")]) == 0
    assert (out / "runs" / "tiny" / "eval" / "results.json").exists()  # the default --out
    page = write_report(out).read_text()
    assert page.index('<section id="training">') < page.index('<section id="evaluation">')
    section = page[page.index('<section id="evaluation">'):]
    section = section[:section.index("</section>")]
    assert "<h2>Evaluation</h2>" in section
    cells = re.findall(r"<tr>(.*?)</tr>", section)
    table = [re.findall(r"<td>(.*?)</td>", row) for row in cells[1:]]
    assert [row[:4] for row in table] == [["tiny", "reversed_words", "0", "exact_match"],
                                         ["tiny", "reversed_words", "2", "exact_match"],
                                         ["tiny", "arithmetic_2d_plus", "0", "exact_match"],
                                         ["tiny", "arithmetic_2d_plus", "2 (min 1 fit)", "exact_match"]]  # n_ctx 64
    words = rows(out / "runs" / "tiny" / "eval", task="reversed_words", shots=0)[0]
    assert table[0][4:] == [f"{100 * words['accuracy_all']:.1f}% (24)", f"{100 * words['accuracy_clean']:.1f}% (18)",
                            f"{100 * words['accuracy_dirty']:.1f}% (6)"]
    assert table[2][5:] == ["–", "–"]  # arithmetic was not measured by the decontam stage
    images = re.findall(r'<img alt="" src="data:image/png;base64,([^"]+)">', section)
    assert len(images) == 1 and base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_evaluator_imports_no_spark():
    """model/ reads benchmark files with corpus/benchmarks.py (plain Python) for the decontam stage's ids."""
    import subprocess
    import sys
    code = "import sys, model.evaluate; print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_a_batch_of_prompts_padded_on_the_left_generates_what_each_prompt_does_alone(trained):
    lm = load_lm(trained, batch_size=4)
    items = synthetic_task("reversed_words").items
    prompts = [items[0].context, "\n".join(i.context + i.target for i in items[1:6]) + "\n" + items[6].context,
               "x", items[7].context + items[7].target + "\n" + items[8].context]
    alone = [lm.generate(p, max_new_tokens=8) for p in prompts]
    assert lm.generate_greedy(prompts, max_new_tokens=8) == alone
    assert alone[0] == items[0].target and alone[1] == items[6].target  # seen lines: real answers, not noise
