"""model.synthetic: GPT-3's synthetic tasks in the paper's exact JSONL format (openai/gpt-3, data/)."""
import gzip
import json
import re

import pytest

from model import synthetic

ARITHMETIC = re.compile(r"\n\nQ: What is (?P<question>.+)\?\n\nA:")
TWO_OPERANDS = re.compile(r"(?P<left>\d+) (?P<operation>plus|minus|times) (?P<right>\d+)")
ONE_DIGIT_COMPOSITE = re.compile(r"\((\d) ([-+*]) (\d)\) ([-+*]) (\d)|(\d) ([-+*]) \((\d) ([-+*]) (\d)\)")
SCRAMBLE = re.compile(r"\n(?P<scrambled>[^\n]+) =")
COMPLETION = re.compile(r" -?\d+")
WORD_COMPLETION = re.compile(r" [a-z]{4,15}")

TWO_OPERAND_TASKS = {  # task -> (digits, operation word)
    "arithmetic_2d_plus": (2, "plus"), "arithmetic_2d_minus": (2, "minus"),
    "arithmetic_3d_plus": (3, "plus"), "arithmetic_3d_minus": (3, "minus"),
    "arithmetic_4d_plus": (4, "plus"), "arithmetic_4d_minus": (4, "minus"),
    "arithmetic_5d_plus": (5, "plus"), "arithmetic_5d_minus": (5, "minus"),
    "arithmetic_2dx": (2, "times"),
}
SCRAMBLE_TASKS = ("cycle_letters", "mid_word_1_anagrams", "mid_word_2_anagrams", "random_insertion",
                  "reversed_words")


def test_registry_names_every_task_of_the_paper():
    assert set(synthetic.TASKS) == {*TWO_OPERAND_TASKS, "arithmetic_1dc", *SCRAMBLE_TASKS}


def test_the_papers_own_examples_have_our_format():
    # The first lines of openai/gpt-3 data/two_digit_addition.jsonl and cycle_letters_in_word.jsonl.gz.
    assert ARITHMETIC.fullmatch("\n\nQ: What is 98 plus 45?\n\nA:")
    assert SCRAMBLE.fullmatch("\nasinoc =")
    assert synthetic._question("98 plus 45", 143) == {"context": "\n\nQ: What is 98 plus 45?\n\nA:",
                                                       "completion": " 143"}


@pytest.mark.parametrize("task", TWO_OPERAND_TASKS)
def test_two_operand_arithmetic_is_formatted_and_correct(task):
    digits, operation = TWO_OPERAND_TASKS[task]
    for example in synthetic.generate(task, 200, seed=0):
        assert list(example) == ["context", "completion"]
        question = ARITHMETIC.fullmatch(example["context"])["question"]
        match = TWO_OPERANDS.fullmatch(question)
        assert match and match["operation"] == operation
        left, right = int(match["left"]), int(match["right"])
        assert 0 <= left < 10**digits and 0 <= right < 10**digits  # uniform on [0, 10**N), as §3.9.1 says
        assert str(left) == match["left"]  # no zero padding
        expected = {"plus": left + right, "minus": left - right, "times": left * right}[operation]
        assert COMPLETION.fullmatch(example["completion"])
        assert int(example["completion"]) == expected


def test_two_digit_operands_span_the_whole_range():
    operands = [int(n) for e in synthetic.generate("arithmetic_2d_plus", 500, 0)
                for n in re.findall(r"\d+", e["context"])]
    assert min(operands) < 10 and max(operands) > 89


def test_one_digit_composite_is_formatted_and_correct():
    forms = set()
    for example in synthetic.generate("arithmetic_1dc", 300, seed=0):
        question = ARITHMETIC.fullmatch(example["context"])["question"]
        assert ONE_DIGIT_COMPOSITE.fullmatch(question), question
        forms.add(question.startswith("("))
        # eval is safe here: the regex above admits only digits, + - *, spaces and parentheses.
        assert int(example["completion"]) == eval(question)
        assert COMPLETION.fullmatch(example["completion"])
    assert forms == {True, False}  # both "(2 * 4) * 6" and "6 + (5 * 8)"


def _scrambles(task, n=300):
    for example in synthetic.generate(task, n, seed=0):
        assert list(example) == ["context", "completion"]
        assert WORD_COMPLETION.fullmatch(example["completion"]), example
        yield SCRAMBLE.fullmatch(example["context"])["scrambled"], example["completion"][1:]


def test_cycled_letters_are_a_rotation_of_the_word():
    for scrambled, word in _scrambles("cycle_letters"):
        assert scrambled != word and scrambled in word + word and len(scrambled) == len(word)


@pytest.mark.parametrize("task,kept", [("mid_word_1_anagrams", 1), ("mid_word_2_anagrams", 2)])
def test_mid_word_anagrams_keep_the_ends_and_permute_the_middle(task, kept):
    for scrambled, word in _scrambles(task):
        assert scrambled != word
        assert scrambled[:kept] == word[:kept] and scrambled[-kept:] == word[-kept:]
        assert sorted(scrambled) == sorted(word)


def test_random_insertion_puts_one_punctuation_or_space_between_letters():
    for scrambled, word in _scrambles("random_insertion"):
        assert scrambled[0::2] == word
        assert len(scrambled) == 2 * len(word) - 1
        assert all(c in synthetic._INSERTED_CHARACTERS for c in scrambled[1::2])


def test_reversed_words_are_reversed():
    for scrambled, word in _scrambles("reversed_words"):
        assert scrambled == word[::-1] and scrambled != word


def test_word_list_is_lowercase_4_to_15_letters_sorted_and_unique():
    words = synthetic.word_list()
    assert len(words) > 1000
    assert list(words) == sorted(set(words))
    assert all(re.fullmatch(r"[a-z]{4,15}", w) for w in words)


@pytest.mark.parametrize("task", list(synthetic.TASKS))
def test_generation_is_deterministic_unique_and_seeded(task):
    first = synthetic.generate(task, 100, seed=7)
    assert first == synthetic.generate(task, 100, seed=7)
    assert first != synthetic.generate(task, 100, seed=8)
    assert len({(e["context"], e["completion"]) for e in first}) == 100
    assert synthetic.generate(task, 10, seed=7) == first[:10]


def test_generation_ignores_and_leaves_the_global_random_state(monkeypatch):
    import random
    random.seed(1)
    state = random.getstate()
    examples = synthetic.generate("arithmetic_2d_plus", 20, seed=0)
    assert random.getstate() == state
    random.seed(2)
    assert synthetic.generate("arithmetic_2d_plus", 20, seed=0) == examples


def test_unknown_task_is_one_clear_sentence():
    with pytest.raises(ValueError, match=r"Unknown synthetic task 'sorting'; valid tasks are: arithmetic_2d_plus"):
        synthetic.generate("sorting", 5, seed=0)


def test_asking_for_more_unique_examples_than_exist_fails_clearly():
    with pytest.raises(ValueError, match="distinct examples"):
        synthetic.generate("arithmetic_1dc", 10**5, seed=0)  # at most 10**3 * 9 * 2 exist


def test_write_jsonl_plain_and_gzip_are_deterministic(tmp_path):
    examples = synthetic.generate("reversed_words", 50, seed=0)
    plain = synthetic.write_jsonl(tmp_path / "a" / "reversed_words.jsonl", examples)
    lines = plain.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == examples
    assert lines[0].startswith('{"context": "\\n')  # one object per line, context first, as the paper's
    first = synthetic.write_jsonl(tmp_path / "b.jsonl.gz", examples).read_bytes()
    second = synthetic.write_jsonl(tmp_path / "c.jsonl.gz", examples).read_bytes()
    assert first == second  # mtime 0 and no file name in the gzip header
    assert gzip.decompress(first) == plain.read_bytes()
    assert synthetic.read_jsonl(tmp_path / "b.jsonl.gz") == examples


def test_cli_writes_one_file_per_task(tmp_path, capsys):
    assert synthetic.main(["--out", str(tmp_path), "--n", "5", "--tasks", "arithmetic_2dx", "cycle_letters"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arithmetic_2dx.jsonl", "cycle_letters.jsonl"]
    assert synthetic.read_jsonl(tmp_path / "arithmetic_2dx.jsonl") == synthetic.generate("arithmetic_2dx", 5, 0)
    assert synthetic.main(["--out", str(tmp_path), "--tasks", "nope"]) == 2
    assert "Unknown synthetic task 'nope'" in capsys.readouterr().err
