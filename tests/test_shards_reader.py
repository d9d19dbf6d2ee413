"""model.shards: the shards contract. Good shards open; a manifest that lies is refused in one sentence."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from shard_factory import make_shards

from model.shards import FORMAT, ShardError, open_shards
from model.train import main as train_main


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return make_shards(tmp_path_factory.mktemp("shards") / "shards", vocab_size=512, train_chars=60_000,
                       val_chars=10_000, file_tokens=3000)


@pytest.fixture
def shards(good, tmp_path):
    """A private copy of the good shards, free to break."""
    return shutil.copytree(good, tmp_path / "shards")


def edit_manifest(root, change):
    manifest = json.loads((root / "manifest.json").read_text())
    change(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_good_shards_open_and_read_across_file_boundaries(good):
    shards = open_shards(good)
    assert shards.vocab_size <= 512 and shards.dtype == "uint16" and shards.eot_id == 0
    assert list(shards.datasets) == ["common_crawl", "webtext2", "wikipedia"]
    assert sum(d.weight for d in shards.datasets.values()) == pytest.approx(1)
    cc = shards.datasets["common_crawl"]
    assert len(cc.train.arrays) > 1  # several fixed-size files, the last one shorter
    files = [np.fromfile(good / f["path"], dtype="<u2") for f in
             json.loads((good / "manifest.json").read_text())["datasets"]["common_crawl"]["train"]["files"]]
    assert {len(f) for f in files[:-1]} == {3000} and len(files[-1]) <= 3000
    whole = np.concatenate(files)
    assert np.array_equal(cc.train.read(2990, 25), whole[2990:3015])
    assert np.array_equal(cc.train.read(0, len(whole)), whole)
    assert whole[-1] == shards.eot_id  # every document ends with EOT
    assert np.count_nonzero(whole == shards.eot_id) == cc.documents["train"]
    assert len(shards.datasets["wikipedia"].val) == 0  # an empty validation split is allowed
    assert open_shards(good / "manifest.json").root == good


def first_train_file(root):
    return json.loads((root / "manifest.json").read_text())["datasets"]["webtext2"]["train"]["files"][0]["path"]


def lie_wrong_size(root):
    with open(root / first_train_file(root), "ab") as f:
        f.write(b"\x00\x00")
    return first_train_file(root), "bytes, but the manifest says"


def lie_token_out_of_vocab(root):
    path = root / first_train_file(root)
    tokens = np.fromfile(path, dtype="<u2")
    tokens[7] = 600
    tokens.tofile(path)
    return first_train_file(root), "holds token id 600 at position 7, but vocab_size is"


def lie_weights(root):
    edit_manifest(root, lambda m: m["datasets"]["webtext2"].update(weight=0.5))
    return "manifest.json", "weights sum to 1.2, not 1"


def lie_missing_file(root):
    (root / first_train_file(root)).unlink()
    return first_train_file(root), "is listed in the manifest but does not exist"


def lie_split_total(root):
    edit_manifest(root, lambda m: m["datasets"]["webtext2"]["val"].update(tokens=1))
    return "manifest.json", "'webtext2' val says 1 tokens, but its files hold"


def lie_dtype(root):
    edit_manifest(root, lambda m: m.update(dtype="uint32"))
    return "manifest.json", "says dtype 'uint32' for vocab_size"


def lie_eot(root):
    edit_manifest(root, lambda m: m.update(eot_id=m["vocab_size"]))
    return "manifest.json", "eot_id"


def lie_format(root):
    edit_manifest(root, lambda m: m.update(format="shards/0"))
    return "manifest.json", f"has format 'shards/0', not '{FORMAT}'"


def lie_vocab(root):
    edit_manifest(root, lambda m: m.update(vocab_size=m["vocab_size"] + 1))
    return "tokenizer.json", "token ids, but the manifest says vocab_size"


def lie_negative_weight(root):
    edit_manifest(root, lambda m: m["datasets"]["webtext2"].update(weight=-0.1))
    return "manifest.json", "has weight -0.1; weights must be positive"


def lie_path_escape(root):
    edit_manifest(root, lambda m: m["datasets"]["webtext2"]["train"]["files"][0].update(path="../x.bin"))
    return "manifest.json", "points outside the shards directory"


def lie_not_json(root):
    (root / "manifest.json").write_text("{not json")
    return "manifest.json", "is not valid JSON"


LIES = [lie_wrong_size, lie_token_out_of_vocab, lie_weights, lie_missing_file, lie_split_total, lie_dtype,
        lie_eot, lie_format, lie_vocab, lie_negative_weight, lie_path_escape, lie_not_json]


@pytest.mark.parametrize("lie", LIES, ids=[lie.__name__ for lie in LIES])
def test_a_manifest_that_lies_is_refused_in_one_sentence(shards, lie):
    file, what = lie(shards)
    with pytest.raises(ShardError) as error:
        open_shards(shards)
    message = str(error.value)
    assert file in message and what in message, message
    assert "\n" not in message and message.endswith(".")


def test_the_cli_says_error_and_exits_2_without_a_traceback(shards, tmp_path, capsys):
    lie_token_out_of_vocab(shards)
    result = subprocess.run([sys.executable, "-m", "model.shards", str(shards)], capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert train_main(["--data", str(shards), "--preset", "micro", "--out", str(tmp_path / "run"), "--steps", "1",
                       "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {shards / first_train_file(shards)} holds token id 600")


def test_the_cli_summarises_good_shards(good):
    result = subprocess.run([sys.executable, "-m", "model.shards", str(good)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "common_crawl" in result.stdout and "weight 0.600" in result.stdout
