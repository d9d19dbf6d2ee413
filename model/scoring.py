"""How the model answers the evaluator's requests: log-likelihoods, generation and held-out loss. Knows the
model and the tokenizer, never a task (lm-evaluation-harness's `LM`).

    lm = LM(model, tokenizer)
    lm.loglikelihood([("Q: 2 plus 2?\\nA:", " 4")])   # [(sum of log P(continuation token), all greedy?, tokens)]
    lm.generate("Q: 2 plus 2?\\nA:", stop="\\n", max_new_tokens=8)            # greedy, KV cache
    lm.generate_greedy([prompt, ...], stop="\\n", max_new_tokens=8)        # a batch, padded on the left
    lm.generate(..., beam=4, length_penalty=0.6)                           # GPT-3's beam search
    lm.text_loss(text)                                                      # nats, tokens, bytes

Context and continuation are encoded separately, so the continuation's tokens are exactly those of its own
text (GPT-3's completions start with a space, which GPT-2's byte-level BPE keeps at the start of a word's
token). An empty context is the end-of-text token, as a document's start is in training. A pair longer than
n_ctx + 1 tokens loses its context's first tokens.

Log-likelihoods run in batches: pairs sorted by length, right-padded. With causal attention and positions
counted from 0, padding after a sequence changes none of its logits, so a batch scores exactly what one
pair at a time does (tests/test_evaluate.py checks both against one token at a time).
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from model.gpt import GPT
from model.shards import EOT



class LM:

    def __init__(self, model: GPT, tokenizer, batch_size: int = 16):
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        self.tokenizer.encode_special_tokens = True  # as in training: "<|endoftext|>" in a text is just text
        self.eot = tokenizer.token_to_id(EOT)
        assert self.eot is not None, f"the tokenizer has no {EOT} token"
        self.n_ctx = model.config.n_ctx
        self.device = next(model.parameters()).device

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    # ---------------------------------------------------------------------------------------- log-likelihood

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[tuple[float, bool, int]]:
        """For each (context, continuation): the summed log-probability of the continuation's tokens, whether
        every one of them is the model's most likely next token, and how many there are."""
        return self.loglikelihood_tokens([(self.encode(c), self.encode(x)) for c, x in requests])

    @torch.no_grad()
    def loglikelihood_tokens(self, pairs: list[tuple[list[int], list[int]]],
                             batch_size: int | None = None) -> list[tuple[float, bool, int]]:
        batch_size = batch_size or self.batch_size
        rows = []
        for context, continuation in pairs:
            assert 0 < len(continuation) <= self.n_ctx, f"a continuation of {len(continuation)} tokens"
            rows.append(((context or [self.eot]) + continuation)[-(self.n_ctx + 1):])
        order = sorted(range(len(pairs)), key=lambda i: -len(rows[i]))  # similar lengths share a batch
        results: list = [None] * len(pairs)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            T = max(len(rows[i]) for i in batch) - 1
            idx = torch.zeros(len(batch), T, dtype=torch.long)  # right padding: id 0 after each sequence
            row_of, position, target = [], [], []
            for b, i in enumerate(batch):
                length, n = len(rows[i]) - 1, len(pairs[i][1])
                idx[b, :length] = torch.tensor(rows[i][:-1])
                row_of += [b] * n
                position += range(length - n, length)  # the positions that predict the continuation
                target += rows[i][-n:]
            hidden = self.model.hidden(idx.to(self.device))  # (B, T, d_model)
            picked = hidden[torch.tensor(row_of), torch.tensor(position)]  # (N, d_model): only what is scored
            logprobs = F.log_softmax(self.model.lm_head(picked).float(), dim=-1)  # (N, vocab)
            target_t = torch.tensor(target, device=logprobs.device)
            token_logprob = logprobs.gather(1, target_t[:, None]).squeeze(1)  # (N,)
            greedy = logprobs.argmax(dim=-1) == target_t  # (N,)
            at = 0
            for i in batch:
                n = len(pairs[i][1])
                results[i] = (token_logprob[at:at + n].sum().item(), bool(greedy[at:at + n].all()), n)
                at += n
        return results

    # ---------------------------------------------------------------------------------------- generation

    def _start(self, prompts: list[str], max_new_tokens: int) -> tuple[list[dict], torch.Tensor, torch.Tensor]:
        """A KV cache holding the prompts (each its last n_ctx - max_new_tokens tokens), padded on the left to
        one length; the next-token log-probabilities (B, vocab) and each row's next position (B, 1)."""
        rows = [(self.encode(p) or [self.eot])[-(self.n_ctx - max_new_tokens):] for p in prompts]
        T = max(len(r) for r in rows)
        idx = torch.zeros(len(rows), T, dtype=torch.long)
        pos = torch.arange(T).repeat(len(rows), 1)  # (B, T)
        for b, r in enumerate(rows):
            idx[b, T - len(r):] = torch.tensor(r)
            pos[b] -= T - len(r)  # padding gets negative positions: attended by nothing
        cache = self.model.new_cache()
        hidden = self.model.hidden(idx.to(self.device), cache, pos.to(self.device))[:, -1]  # (B, d_model)
        return cache, F.log_softmax(self.model.lm_head(hidden).float(), dim=-1), pos[:, -1:].to(self.device) + 1

    def _step(self, cache: list[dict], tokens: list[int], pos: torch.Tensor) -> torch.Tensor:
        """Feed one token per cached row at its position pos (B, 1); the next-token log-probabilities (B, vocab)."""
        hidden = self.model.hidden(torch.tensor(tokens, device=self.device)[:, None], cache, pos)[:, -1]
        return F.log_softmax(self.model.lm_head(hidden).float(), dim=-1)

    @torch.no_grad()
    def generate(self, prompt: str, stop: str = "\n", max_new_tokens: int = 32, beam: int = 1,
                 length_penalty: float = 0.6) -> str:
        """The model's continuation of `prompt` up to (not including) the first `stop`, or max_new_tokens.
        beam 1 is greedy; beam > 1 is beam search ranked by log P / ((5 + length) / 6) ** length_penalty
        (GNMT's penalty, as GPT-3 §2.4 names: width 4, penalty 0.6)."""
        assert 0 < max_new_tokens < self.n_ctx, f"max_new_tokens {max_new_tokens} with n_ctx {self.n_ctx}"
        if beam > 1:
            return self._beam_search(prompt, stop, max_new_tokens, beam, length_penalty)
        return self.generate_greedy([prompt], stop, max_new_tokens)[0]

    @torch.no_grad()
    def generate_greedy(self, prompts: list[str], stop: str = "\n", max_new_tokens: int = 32) -> list[str]:
        """Greedy continuations of several prompts at once (one forward pass per new token for all of them);
        the same texts as one prompt at a time, since padding is invisible to every real token."""
        assert 0 < max_new_tokens < self.n_ctx, f"max_new_tokens {max_new_tokens} with n_ctx {self.n_ctx}"
        cache, logprobs, pos = self._start(prompts, max_new_tokens)
        out: list[list[int]] = [[] for _ in prompts]
        texts: list[str | None] = [None] * len(prompts)  # set once a row has met its stop
        for step in range(max_new_tokens):
            for b, token in enumerate(logprobs.argmax(dim=-1).tolist()):
                if texts[b] is None:
                    out[b].append(token)
                    text = self.decode(out[b])
                    if stop and stop in text:
                        texts[b] = text[:text.index(stop)]
            if all(t is not None for t in texts) or step == max_new_tokens - 1:
                break
            # finished rows keep stepping (their tokens are ignored): the batch stays one tensor
            logprobs = self._step(cache, [o[-1] for o in out], pos + step)
        return [t if t is not None else self.decode(o) for t, o in zip(texts, out)]

    def _beam_search(self, prompt: str, stop: str, max_new_tokens: int, width: int, alpha: float) -> str:
        def penalised(logprob: float, length: int) -> float:
            return logprob / ((5 + length) / 6) ** alpha

        cache, logprobs, pos = self._start([prompt], max_new_tokens)
        beams: list[tuple[list[int], float]] = [([], 0.0)]  # (tokens, summed log-probability), alive
        finished: list[tuple[float, str]] = []  # (penalised score, text up to the stop)
        for step in range(max_new_tokens):
            top = logprobs.topk(width, dim=-1)  # each beam's `width` best next tokens suffice
            candidates = sorted(((beams[b][1] + top.values[b, j].item(), b, int(top.indices[b, j]))
                                 for b in range(len(beams)) for j in range(width)), reverse=True)
            alive, parents = [], []
            for logprob, b, token in candidates:
                tokens = beams[b][0] + [token]
                text = self.decode(tokens)
                if stop and stop in text:
                    finished.append((penalised(logprob, len(tokens)), text[:text.index(stop)]))
                else:
                    alive.append((tokens, logprob))
                    parents.append(b)
                if len(alive) == width:
                    break
            beams = alive
            if len(finished) >= width or not beams:
                break
            for layer in cache:  # each surviving beam continues its parent's keys, values and positions
                layer["k"], layer["v"], layer["pos"] = layer["k"][parents], layer["v"][parents], layer["pos"][parents]
            logprobs = self._step(cache, [tokens[-1] for tokens, _ in beams], pos + step)
        finished += [(penalised(logprob, len(tokens)), self.decode(tokens)) for tokens, logprob in beams]
        return max(finished)[1]

    # ---------------------------------------------------------------------------------------- held-out text

    @torch.no_grad()
    def text_loss(self, text: str) -> dict:
        """Loss of a held-out text: end-of-text then its tokens, in consecutive windows of n_ctx predictions
        (each window sees only its own tokens, as training did). Bits per byte do not depend on the
        tokenizer, so models with different vocabularies compare."""
        ids = [self.eot] + self.encode(text)
        # window: the token before `start` as context, then up to n_ctx tokens to predict
        pairs = [(ids[start - 1:start], ids[start:start + self.n_ctx]) for start in range(1, len(ids), self.n_ctx)]
        nats = -sum(logprob for logprob, _, _ in self.loglikelihood_tokens(pairs))
        tokens, size = len(ids) - 1, len(text.encode("utf-8"))
        return {"tokens": tokens, "bytes": size, "loss": nats / tokens, "bits_per_byte": nats / math.log(2) / size}
