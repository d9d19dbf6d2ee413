"""Evaluator throughput on the tiny preset: examples/s of batched log-likelihood against one example at a
time, 0-shot and 8-shot, and of greedy generation batched (prompts padded on the left, KV cache) against one
prompt at a time (KV cache) and against recomputing the whole sequence at every token (no cache).

    python -m bench.evaluate [--examples 64] [--rounds 3] [--batch-size 16]

All in this one process, side by side (the machine is noisy, so only figures of one run are compared), each
measurement repeated --rounds times, best kept. The model is the tiny preset as initialised: speed does not
depend on the weights. The requests are arithmetic_2d_plus prompts built by the evaluator itself, so 8-shot
prompts are as long as the evaluator makes them. "one at a time" is the same scorer with batch size 1 (one
forward pass per example, no padding), so its ratio is what batching alone buys; "naive" is one example at a
time through model.forward, logits at every position, as a first version would score.
"""
import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from tokenizers import Tokenizer

from model.gpt import GPT, PRESETS, GPTConfig
from model.prompts import build_prompt
from model.scoring import LM
from model.tasks import synthetic_task
from tests.shard_factory import make_shards


def best_rate(action, count: int, rounds: int) -> float:
    """count / the fastest of `rounds` runs of action()."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return count / best


def naive_loglikelihood(lm: LM, requests: list[tuple[str, str]]) -> list[float]:
    """One example at a time with logits at every position (model.forward), as a first version would."""
    scores = []
    with torch.no_grad():
        for context, continuation in requests:
            ids, n = lm.encode(context) + lm.encode(continuation), len(lm.encode(continuation))
            logits, _ = lm.model(torch.tensor([ids[:-1]]))
            logprobs = torch.log_softmax(logits[0, -n:], dim=-1)  # (n, vocab)
            scores.append(logprobs.gather(1, torch.tensor(ids[-n:])[:, None]).sum().item())
    return scores


def generate_without_cache(lm: LM, prompt: str, max_new_tokens: int) -> str:
    """Greedy, the whole sequence through the model for every new token: the baseline the cache saves."""
    ids = lm.encode(prompt)
    start = len(ids)
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits, _ = lm.model(torch.tensor([ids[-lm.n_ctx:]]))
            ids.append(int(logits[0, -1].argmax()))
            if "\n" in lm.decode(ids[start:]):
                break
    return lm.decode(ids[start:]).split("\n")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shards = make_shards(Path(tmp) / "shards", vocab_size=8192, train_chars=400_000)
        tokenizer = Tokenizer.from_file(str(shards / "tokenizer.json"))
    torch.manual_seed(0)
    config = GPTConfig(**{**PRESETS["tiny"].config.__dict__, "vocab_size": tokenizer.get_vocab_size()})
    model = GPT(config).eval()
    batched, single = LM(model, tokenizer, args.batch_size), LM(model, tokenizer, 1)
    task = synthetic_task("arithmetic_2d_plus")
    items = task.items[:args.examples]
    print(f"tiny preset ({model.num_params() / 1e6:.1f}M parameters, n_ctx {config.n_ctx}), torch threads "
          f"{torch.get_num_threads()}, {args.examples} examples, batch size {args.batch_size}, best of {args.rounds}")
    print(f"{'requests':<24}{'tokens/example':>16}{'batched ex/s':>14}{'one at a time':>15}{'ratio':>8}"
          f"{'naive':>9}{'ratio':>8}")
    for k in (0, 8):
        prompts = [build_prompt(task, item, k, 0, None, lambda t: len(batched.encode(t)), config.n_ctx - 8).text
                   for item in items]
        requests = [(p, item.target) for p, item in zip(prompts, items)]
        assert batched.loglikelihood(requests) is not None  # warm-up
        fast = best_rate(partial(batched.loglikelihood, requests), len(requests), args.rounds)
        slow = best_rate(partial(single.loglikelihood, requests), len(requests), args.rounds)
        naive = best_rate(partial(naive_loglikelihood, batched, requests), len(requests), args.rounds)
        tokens = sum(len(batched.encode(p + t)) for p, t in requests) / len(requests)
        print(f"{f'log-likelihood {k}-shot':<24}{tokens:>16.0f}{fast:>14.1f}{slow:>15.1f}{fast / slow:>7.2f}x"
              f"{naive:>9.1f}{fast / naive:>7.2f}x")
    prompts = [build_prompt(task, item, 8, 0, None, lambda t: len(batched.encode(t)), config.n_ctx - 8).text
               for item in items]
    batch = best_rate(lambda: [batched.generate_greedy(prompts[i:i + args.batch_size], "\n", 6)
                               for i in range(0, len(prompts), args.batch_size)], len(prompts), args.rounds)
    cached = best_rate(lambda: [batched.generate(p, "\n", 6) for p in prompts], len(prompts), args.rounds)
    uncached = best_rate(lambda: [generate_without_cache(batched, p, 6) for p in prompts[:16]], 16, args.rounds)
    same = batched.generate_greedy(prompts[:16], "\n", 6) == [generate_without_cache(batched, p, 6)
                                                              for p in prompts[:16]]
    print(f"{'greedy, 8-shot, 6 tokens':<24}{'':>16}{'batched ex/s':>14}{'one at a time':>15}{'ratio':>8}"
          f"{'no cache':>9}{'ratio':>8}")
    print(f"{'':<24}{'':>16}{batch:>14.1f}{cached:>15.1f}{batch / cached:>7.2f}x{uncached:>9.1f}"
          f"{batch / uncached:>7.2f}x  same text: {same}")

if __name__ == "__main__":
    main()
