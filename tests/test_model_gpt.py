"""model.gpt: banded attention against a brute-force mask, Table 2.1's sizes, the KV cache, init and decay."""
import math

import pytest
import torch
from torch.nn import functional as F

from model.gpt import GPT, PRESETS, CausalSelfAttention, GPTConfig, attention_mask, banded_attention


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matrices gain nothing from a second thread, and OpenMP's spinning suffers on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def brute_force_mask(T: int, band: int) -> torch.Tensor:
    """Token i sees token j iff j <= i and, in a banded layer, j >= i - band: written out one pair at a time."""
    mask = torch.zeros(T, T, dtype=torch.bool)
    for i in range(T):
        for j in range(T):
            mask[i, j] = j <= i and (band == 0 or i - band <= j)
    return mask


def reference_attention(q, k, v, mask):
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (B, nh, T, T)
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v


@pytest.mark.parametrize("T,band", [(1, 4), (7, 3), (16, 4), (17, 4), (33, 8), (64, 16), (64, 1), (10, 64)])
def test_attention_mask_is_the_brute_force_mask(T, band):
    pos = torch.arange(T)
    assert torch.equal(attention_mask(pos, pos, band), brute_force_mask(T, band))
    assert torch.equal(attention_mask(pos, pos, 0), brute_force_mask(T, 0))


@pytest.mark.parametrize("T,band", [(7, 3), (16, 4), (17, 4), (33, 8), (64, 16), (65, 16), (64, 1), (10, 64)])
def test_blocked_banded_attention_equals_attention_under_the_brute_force_mask(T, band):
    torch.manual_seed(T * 100 + band)
    q, k, v = (torch.randn(2, 3, T, 8) for _ in range(3))
    expected = reference_attention(q, k, v, brute_force_mask(T, band))
    torch.testing.assert_close(banded_attention(q, k, v, band), expected, atol=1e-5, rtol=1e-5)


def test_a_banded_layer_attends_exactly_to_the_previous_band_tokens():
    """The gradient of output i with respect to input j is non-zero exactly for j in [i - band, i]."""
    torch.manual_seed(0)
    config = GPTConfig(n_layer=2, n_head=2, d_model=16, n_ctx=32, vocab_size=10, band=5)
    layer = CausalSelfAttention(config, banded=True)
    x = torch.randn(1, 23, 16, requires_grad=True)
    y = layer(x)
    reached = torch.zeros(23, 23, dtype=torch.bool)
    for i in range(23):
        (grad,) = torch.autograd.grad(y[0, i].sum(), x, retain_graph=True)
        reached[i] = grad[0].abs().sum(dim=-1) > 0
    assert torch.equal(reached, brute_force_mask(23, 5))


def test_gpt3_alternates_dense_and_banded_layers():
    model = GPT(GPTConfig(n_layer=4, n_head=2, d_model=16, n_ctx=32, vocab_size=10, band=4))
    assert [block.attn.band for block in model.h] == [0, 4, 0, 4]
    assert [block.attn.band for block in GPT(GPTConfig(n_layer=2, n_head=2, d_model=16, n_ctx=32,
                                                       vocab_size=10)).h] == [0, 0]


@pytest.mark.parametrize("name", [n for n, p in PRESETS.items() if p.paper_params])
def test_table_2_1_parameter_counts_within_two_percent(name):
    preset = PRESETS[name]
    with torch.device("meta"):  # shapes only: 175B parameters would need 700 GB
        model = GPT(preset.config)
    assert preset.config.n_ctx == 2048 and preset.config.vocab_size == 50257
    n = model.num_params()
    c = preset.config  # the same count by hand: embeddings, 12 d^2 + 13 d per layer, final LayerNorm
    assert n == (c.vocab_size + c.n_ctx) * c.d_model + c.n_layer * (12 * c.d_model**2 + 13 * c.d_model) + 2 * c.d_model
    assert abs(n / preset.paper_params - 1) < 0.02, f"{name}: {n / 1e9:.3f}B vs {preset.paper_params / 1e9}B"


def test_eight_paper_presets_and_the_tiny_preset_size():
    assert len([p for p in PRESETS.values() if p.paper_params]) == 8
    assert {p.config.n_ctx for p in PRESETS.values() if p.paper_params} == {2048}
    assert PRESETS["gpt3-175b"].config.n_layer == 96 and PRESETS["gpt3-175b"].lr == 0.6e-4
    assert round(GPT(PRESETS["tiny"].config).num_params() / 1e6, 1) == 5.3  # the 5.3M reference model


def test_tied_embedding_and_scaled_residual_init():
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=8, n_head=4, d_model=256, n_ctx=16, vocab_size=1000))
    assert model.lm_head.weight is model.wte.weight
    assert model.h[0].attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.05)
    scaled = 0.02 / math.sqrt(2 * 8)
    assert model.h[3].attn.c_proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
    assert model.h[3].mlp.c_proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
    assert model.h[0].attn.c_attn.bias.abs().sum() == 0


def test_weight_decay_on_matrices_only():
    model = GPT(GPTConfig(n_layer=1, n_head=2, d_model=16, n_ctx=8, vocab_size=10))
    decayed, plain = model.configure_optimizers(1e-3, 0.1, (0.9, 0.95), 1e-8, "cpu").param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decayed["params"]) and all(p.dim() == 1 for p in plain["params"])
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in decayed["params"]} >= {"wte.weight", "wpe.weight", "h.0.attn.c_attn.weight"}
    assert len(decayed["params"]) + len(plain["params"]) == len(list(model.parameters()))


@pytest.mark.parametrize("band", [0, 3])
def test_kv_cache_gives_the_logits_of_a_full_forward(band):
    torch.manual_seed(1)
    model = GPT(GPTConfig(n_layer=2, n_head=2, d_model=16, n_ctx=24, vocab_size=50, band=band)).eval()
    idx = torch.randint(0, 50, (2, 20))
    full, _ = model(idx)
    cache = model.new_cache()
    first, _ = model(idx[:, :9], cache=cache)
    rest = [model(idx[:, t:t + 1], cache=cache)[0] for t in range(9, 20)]
    torch.testing.assert_close(torch.cat([first, *rest], dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("band", [0, 3])
def test_generate_with_cache_matches_generation_without_it_past_the_context(band):
    torch.manual_seed(2)
    model = GPT(GPTConfig(n_layer=2, n_head=2, d_model=16, n_ctx=12, vocab_size=30, band=band)).eval()
    idx = torch.randint(0, 30, (2, 5))
    out = model.generate(idx, max_new_tokens=15, temperature=0)  # runs 8 tokens past n_ctx
    expected = idx
    for _ in range(15):  # no cache: the whole (cropped) window every step, nanoGPT's way
        logits, _ = model(expected[:, -12:])
        expected = torch.cat([expected, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, expected)
    sampled = model.generate(idx, 4, temperature=1.0, top_k=5, generator=torch.Generator().manual_seed(0))
    assert sampled.shape == (2, 9) and torch.equal(sampled[:, :5], idx)


def test_forward_refuses_a_sequence_longer_than_the_context():
    model = GPT(GPTConfig(n_layer=1, n_head=1, d_model=8, n_ctx=4, vocab_size=10))
    with pytest.raises(AssertionError, match="n_ctx is 4"):
        model(torch.zeros(1, 5, dtype=torch.long))


def test_loss_is_cross_entropy_of_the_logits():
    torch.manual_seed(3)
    model = GPT(GPTConfig(n_layer=1, n_head=2, d_model=16, n_ctx=8, vocab_size=20, band=2))
    idx, targets = torch.randint(0, 20, (3, 8)), torch.randint(0, 20, (3, 8))
    logits, loss = model(idx, targets)
    assert logits.shape == (3, 8, 20)
    assert loss.item() == pytest.approx(F.cross_entropy(logits.reshape(-1, 20), targets.reshape(-1)).item())
    assert loss.item() == pytest.approx(math.log(20), abs=0.2)  # near-uniform at initialisation
