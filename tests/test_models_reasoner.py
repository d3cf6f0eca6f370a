"""The reasoner's decoder: cached generation equals full decoding, and it learns caption-dependent fields."""

from __future__ import annotations

import torch

from kinmo_core.models.description_decoder import BOS, EOS, PAD, ReasonerConfig, ReasonerModel


def _cfg() -> ReasonerConfig:
    return ReasonerConfig(vocab_size=24, text_dim=6, num_fields=3, d_model=32, n_layers=2, n_heads=2, dropout=0.0,
                          max_len=8)


def test_cached_generation_matches_full_forward() -> None:
    torch.manual_seed(0)
    model = ReasonerModel(_cfg()).eval()
    text = torch.randn(2, 5, 6)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    out = model.generate(text, mask, max_len=6)
    assert out.shape[:2] == (2, 3)
    for b in range(2):
        ids = torch.cat([torch.full((3, 1), BOS), out[b]], dim=1)
        full = model(ids[:, :-1], torch.arange(3), text[b : b + 1].repeat(3, 1, 1), mask[b : b + 1].repeat(3, 1))
        full[..., [PAD, BOS]] = float("-inf")  # generation never writes these
        greedy = full.argmax(-1)
        alive = torch.ones_like(greedy, dtype=torch.bool)
        alive[:, 1:] = (out[b, :, :-1] != EOS).cumprod(1).bool()
        assert torch.equal(greedy[alive], out[b][alive])


def test_learns_field_sequences_that_depend_on_the_caption() -> None:
    torch.manual_seed(0)
    model = ReasonerModel(_cfg())
    text = torch.randn(2, 4, 6)
    mask = torch.ones(2, 4, dtype=torch.bool)
    # Caption 0 writes "5 6 7" in every field, caption 1 writes field-specific words.
    targets = torch.tensor(
        [
            [[BOS, 5, 6, 7, EOS, PAD], [BOS, 5, 6, 7, EOS, PAD], [BOS, 5, 6, 7, EOS, PAD]],
            [[BOS, 10, EOS, PAD, PAD, PAD], [BOS, 11, 12, EOS, PAD, PAD], [BOS, 13, 14, 15, 16, EOS]],
        ]
    )
    fields = torch.arange(3).repeat(2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = model.loss(targets.reshape(6, -1), fields, text.repeat_interleave(3, 0), mask.repeat_interleave(3, 0))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    out = model.generate(text, mask, max_len=6)
    assert out[0, 0, :4].tolist() == [5, 6, 7, EOS]
    assert out[1, 1, :3].tolist() == [11, 12, EOS]
    assert out[1, 2, :5].tolist() == [13, 14, 15, 16, EOS]
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(model.generate(text, mask, 1.0, g1), model.generate(text, mask, 1.0, g2))
    some = model.generate(text, mask, max_len=6, fields=[2, 0])
    assert some.shape[:2] == (2, 2) and some[1, 0, :5].tolist() == [13, 14, 15, 16, EOS]
    assert some[0, 1, :4].tolist() == [5, 6, 7, EOS]
