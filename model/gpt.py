"""The GPT of GPT-3 (Brown et al. 2020, §2.1): GPT-2's architecture with alternating dense and locally banded
sparse attention layers, in one file, read top-down: attention_mask, banded_attention, CausalSelfAttention, MLP,
Block, GPT, then the presets of Table 2.1.

Banded layers (GPT-3's option, `band > 0`): in every odd layer, token i attends to itself and the `band` tokens
before it, j in [i - band, i], as the Sparse Transformer's local pattern A(1) = {max(0, i - l), ..., i} (Child et
al. 2019). Even layers are dense. The paper names no band width; the presets use 256 (GPT-Neo's local window).

    model = GPT(GPTConfig(n_layer=4, n_head=4, d_model=256, n_ctx=256, vocab_size=8192))
    logits, loss = model(idx, targets)                   # idx, targets: (B, T) int64
    out = model.generate(idx, max_new_tokens=20, temperature=0)   # greedy, with a KV cache
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    n_layer: int = 12
    n_head: int = 12
    d_model: int = 768
    n_ctx: int = 2048         # GPT-3's context, all sizes (Table 2.1); GPT-2's was 1024
    vocab_size: int = 50257   # GPT-2's byte-level BPE, which GPT-3 reused; a run takes its shards' own
    band: int = 0             # 0: every layer dense; > 0: odd layers see only the previous `band` tokens (GPT-3)
    dropout: float = 0.0      # the paper names none; 0 also keeps a resumed CPU run bit-identical
    bias: bool = True         # GPT-2 has biases in Linear and LayerNorm

    def __post_init__(self):
        assert self.d_model % self.n_head == 0, f"d_model {self.d_model} is not a multiple of n_head {self.n_head}"
        assert self.band >= 0, f"band must be >= 0, got {self.band}"


def attention_mask(q_pos: torch.Tensor, k_pos: torch.Tensor, band: int) -> torch.Tensor:
    """True where a query at position q_pos may see a key at k_pos: causal, k_pos >= 0 (negative = padding),
    and with band > 0 only k_pos in [q_pos - band, q_pos]. Positions broadcast: (..., Tq) x (..., Tk) -> (..., Tq, Tk).
    A padding query (negative, distinct within its row) sees only itself: a row with no key at all would make
    attention NaN, and NaN values survive even a zero weight in the next layer."""
    q, k = q_pos.unsqueeze(-1), k_pos.unsqueeze(-2)
    allowed = (k <= q) & (k >= 0)
    if band:
        allowed &= k >= q - band
    return allowed | ((k == q) & (q < 0))


def banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, band: int) -> torch.Tensor:
    """Causal attention where token i sees keys i-band..i, in O(T * band) work instead of O(T^2).

    Queries go in blocks of `band`; a block needs only its own keys and the previous block's, so each block
    attends over 2 * band keys with a small mask. q, k, v: (B, nh, T, hs) -> (B, nh, T, hs).
    """
    B, nh, T, hs = q.shape
    if T <= band + 1:  # every window reaches back to position 0: plain causal attention
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    n = -(-T // band)  # number of blocks
    q, k, v = (F.pad(t, (0, 0, 0, n * band - T)).reshape(B * nh, n, band, hs) for t in (q, k, v))
    previous = lambda t: F.pad(t, (0, 0, 0, 0, 1, 0))[:, :-1]  # block n-1 at n, zeros at 0
    k = torch.cat([previous(k), k], dim=2)  # (B*nh, n, 2*band, hs)
    v = torch.cat([previous(v), v], dim=2)  # (B*nh, n, 2*band, hs)
    pos = torch.arange(n * band, device=q.device).view(n, band)
    mask = attention_mask(pos, torch.cat([pos - band, pos], dim=1), band)  # (n, band, 2*band)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B*nh, n, band, hs)
    return y.view(B, nh, n * band, hs)[:, :, :T]


class CausalSelfAttention(nn.Module):

    def __init__(self, config: GPTConfig, banded: bool):
        super().__init__()
        self.c_attn = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)  # q, k, v for all heads
        self.c_proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.c_proj.residual = True  # GPT-2's scaled init, see GPT._init_weights
        self.n_head, self.dropout = config.n_head, config.dropout
        self.band = config.band if banded else 0
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: dict | None = None, pos: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape  # batch, sequence length, d_model
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        dropout = self.dropout if self.training else 0.0
        if cache is not None:  # generation: keys, values and positions of the earlier tokens kept between calls
            pos = pos.expand(B, T)  # (B, T): each row's own positions, negative = left padding
            if cache:
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)  # (B, nh, past+T, hs)
            cache["k"], cache["v"] = k, v
            cache["pos"] = torch.cat([cache["pos"], pos], dim=1) if "pos" in cache else pos  # (B, past+T)
            mask = attention_mask(pos, cache["pos"], self.band).unsqueeze(1)  # (B, 1, T, past+T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        elif self.band:
            assert dropout == 0.0, "banded attention layers have no attention dropout"
            y = banded_attention(q, k, v, self.band)
        else:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.d_model, 4 * config.d_model, bias=config.bias)  # GPT-2's 4x width
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2's gelu
        self.c_proj = nn.Linear(4 * config.d_model, config.d_model, bias=config.bias)
        self.c_proj.residual = True
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm (GPT-2, kept by GPT-3): normalise the input of each sub-layer, add its output."""

    def __init__(self, config: GPTConfig, banded: bool):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.attn = CausalSelfAttention(config, banded)
        self.ln_2 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: dict | None = None, pos: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, pos)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)  # token embedding
        self.wpe = nn.Embedding(config.n_ctx, config.d_model)       # learned positions (GPT-2)
        self.drop = nn.Dropout(config.dropout)
        # GPT-3: "alternating dense and locally banded sparse attention patterns": odd layers banded.
        self.h = nn.ModuleList(Block(config, banded=config.band > 0 and i % 2 == 1) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, bias=config.bias)  # GPT-2's final LayerNorm
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied output embedding (GPT-2)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module):
        if isinstance(module, nn.Linear):
            std = 0.02
            if getattr(module, "residual", False):  # GPT-2: residual projections scaled by 1/sqrt(2 * n_layer)
                std = 0.02 / math.sqrt(2 * self.config.n_layer)
            torch.nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameters, the tied embedding counted once; non_embedding leaves out both embedding tables."""
        n = sum(p.numel() for p in self.parameters())
        return n - (self.wte.weight.numel() + self.wpe.weight.numel() if non_embedding else 0)

    def hidden(self, idx: torch.Tensor, cache: list[dict] | None = None, pos: torch.Tensor | None = None
               ) -> torch.Tensor:
        """The final-LayerNorm states (B, T, d_model) that lm_head turns into logits. The evaluator applies
        lm_head only at the positions it scores: on a small model the vocabulary projection is a large share
        of the work.

        cache: from new_cache(); the call then continues after the tokens already in it (generation).
        pos (with a cache only): (B, T) positions per row, for a batch of prompts of different lengths padded
        on the left: negative positions are padding, which no other token sees. Default: the next positions."""
        B, T = idx.shape
        start = cache[0]["k"].size(2) if cache and cache[0] else 0
        if pos is None:
            last = start + T - 1
            pos = torch.arange(start, start + T, device=idx.device)[None]  # (1, T)
        else:
            assert cache is not None, "per-row positions need a cache"
            last = int(pos.max())  # a device sync, so only on this path (batched generation), never in training
        assert last < self.config.n_ctx, f"Cannot forward position {last + 1}, n_ctx is {self.config.n_ctx}"
        x = self.drop(self.wte(idx) + self.wpe(pos.clamp(min=0)))  # (B, T, d_model)
        for i, block in enumerate(self.h):
            x = block(x, cache[i], pos) if cache is not None else block(x)
        return self.ln_f(x)  # (B, T, d_model)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, cache: list[dict] | None = None):
        """Logits (B, T, vocab) for every position and, given targets (B, T), the mean cross-entropy.

        cache: as in hidden()."""
        logits = self.lm_head(self.hidden(idx, cache))  # (B, T, vocab)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1))
        return logits, loss

    def new_cache(self) -> list[dict]:
        """An empty KV cache: one dict per layer, filled with (B, nh, positions, hs) keys and values."""
        return [{} for _ in self.h]

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Append max_new_tokens to idx (B, T); temperature 0 is greedy. Uses a KV cache until the context is
        full, then slides the window over the last n_ctx tokens (recomputed each step, like nanoGPT's)."""
        cache = None
        for _ in range(max_new_tokens):
            if cache is None or cache[0]["k"].size(2) >= self.config.n_ctx:
                cache = self.new_cache()
                logits, _ = self(idx[:, -self.config.n_ctx:], cache=cache)
            else:
                logits, _ = self(idx[:, -1:], cache=cache)
            logits = logits[:, -1, :]  # (B, vocab)
            if temperature == 0:
                next_id = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                    logits = logits.masked_fill(logits < kth, -float("inf"))
                next_id = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, next_id], dim=1)
        return idx

    def configure_optimizers(self, lr: float, weight_decay: float, betas: tuple[float, float], eps: float,
                             device_type: str) -> torch.optim.AdamW:
        """AdamW. Weight decay on every matrix (Linear weights and the two embedding tables, as nanoGPT and
        Megatron do; the tied table is also the output layer's matrix), never on biases or LayerNorm gains."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=device_type == "cuda")


@dataclass(frozen=True)
class Preset:
    config: GPTConfig
    lr: float            # peak learning rate
    batch_tokens: int    # the full batch, in tokens
    paper_params: float  # Table 2.1's parameter count (0 for our own presets)
    tokens: int          # the default training budget in tokens (the paper trained every size on 300B)


def _table_2_1(n_layer: int, d_model: int, n_head: int, batch_tokens: float, lr: float, params: float) -> Preset:
    config = GPTConfig(n_layer=n_layer, n_head=n_head, d_model=d_model, n_ctx=2048, vocab_size=50257, band=256)
    return Preset(config, lr, int(batch_tokens), params, int(300e9))


PRESETS: dict[str, Preset] = {
    # Table 2.1 (n_ctx 2048 for all). Two rows do not add up, and d_head (128) is kept in both: XL prints
    # 24 heads for d_model 2048, so 16 heads are used; 13B prints d_model 5140 for 40 heads, so 5120.
    "gpt3-small": _table_2_1(12, 768, 12, 0.5e6, 6.0e-4, 125e6),
    "gpt3-medium": _table_2_1(24, 1024, 16, 0.5e6, 3.0e-4, 350e6),
    "gpt3-large": _table_2_1(24, 1536, 16, 0.5e6, 2.5e-4, 760e6),
    "gpt3-xl": _table_2_1(24, 2048, 16, 1e6, 2.0e-4, 1.3e9),
    "gpt3-2.7b": _table_2_1(32, 2560, 32, 1e6, 1.6e-4, 2.7e9),
    "gpt3-6.7b": _table_2_1(32, 4096, 32, 2e6, 1.2e-4, 6.7e9),
    "gpt3-13b": _table_2_1(40, 5120, 40, 2e6, 1.0e-4, 13e9),
    "gpt3-175b": _table_2_1(96, 12288, 96, 3.2e6, 0.6e-4, 175e9),
    # CPU presets; vocab_size is replaced by the shards' own. tiny: 5.3M parameters at vocab 8192.
    # tiny takes Small's 6e-4: at 1e-3 a demo run spiked once (loss 6.7 -> 9.5) after warmup.
    "tiny": Preset(GPTConfig(n_layer=4, n_head=4, d_model=256, n_ctx=256, vocab_size=8192),
                   lr=6e-4, batch_tokens=8 * 256, paper_params=0, tokens=600_000),
    "tiny-sparse": Preset(GPTConfig(n_layer=4, n_head=4, d_model=256, n_ctx=256, vocab_size=8192, band=64),
                          lr=6e-4, batch_tokens=8 * 256, paper_params=0, tokens=600_000),
    "micro": Preset(GPTConfig(n_layer=2, n_head=2, d_model=64, n_ctx=64, vocab_size=1024),
                    lr=3e-3, batch_tokens=8 * 64, paper_params=0, tokens=100_000),
}
