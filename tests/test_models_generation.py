"""Generation models learn and decode deterministically (tiny sizes, a few optimisation steps)."""

from __future__ import annotations

import torch

from kinmo_core.models.length_estimator import LengthEstimator, LengthEstimatorConfig
from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig
from kinmo_core.models.residual_transformer import ResidualTransformer, ResidualTransformerConfig
from kinmo_core.models.rvq import RVQVAE, RVQConfig, rvq_loss


def _tiny_rvq() -> RVQVAE:
    return RVQVAE(RVQConfig(width=32, code_dim=16, num_quantizers=3, codebook_size=32, depth=1))


def test_rvq_shapes_and_residual_layers_reduce_error() -> None:
    torch.manual_seed(0)
    model = _tiny_rvq()
    x = torch.randn(6, 32, 263)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    first = None
    for _ in range(60):
        out = model(x)
        loss = rvq_loss(out, x, model.cfg)["loss"]
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.8 * first
    model.eval()
    codes = model.encode(x)
    assert codes.shape == (6, 8, 3) and int(codes.min()) >= 0 and int(codes.max()) < 32
    assert model.decode(codes).shape == x.shape
    # Each added residual layer codes what the previous ones left: the latent error can only shrink.
    z = model.encoder(x.transpose(1, 2))
    errs = [float((model.quantizer.decode_codes(codes[..., : q + 1]) - z).pow(2).mean()) for q in range(3)]
    assert errs[0] >= errs[1] >= errs[2]


def test_mask_transformer_learns_condition_and_generates_deterministically() -> None:
    torch.manual_seed(0)
    cfg = MaskTransformerConfig(codebook_size=16, cond_dim=8, d_model=32, n_layers=2, n_heads=2, max_tokens=12,
                                dropout=0.0)
    model = MaskTransformer(cfg)
    # Two conditions, each with its own fixed token sequence.
    cond = torch.randn(2, 3, 8)
    seqs = torch.stack([torch.arange(12) % 16, (torch.arange(12) * 3 + 5) % 16])
    lengths = torch.tensor([12, 12])
    present = torch.ones(2, 3, dtype=torch.bool)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        out = model.training_loss(seqs.repeat(8, 1), lengths.repeat(8), cond.repeat(8, 1, 1), present.repeat(8, 1))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    model.eval()
    ids, conf = model.generate(cond, present, lengths, steps=6, guidance=2.0, temperature=0.0)
    assert (ids == seqs).float().mean() > 0.9
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, _ = model.generate(cond, present, lengths, generator=g1)
    b, _ = model.generate(cond, present, lengths, generator=g2)
    assert torch.equal(a, b)
    refined, _ = model.generate(cond, present, lengths, init_ids=ids, remask_ratio=0.5, steps=4, temperature=0.0)
    assert refined.shape == ids.shape


def test_residual_transformer_predicts_layers_from_base() -> None:
    torch.manual_seed(0)
    cfg = ResidualTransformerConfig(codebook_size=16, num_quantizers=3, cond_dim=8, d_model=32, n_layers=2,
                                    n_heads=2, max_tokens=10, dropout=0.0, cond_drop_prob=0.0)
    model = ResidualTransformer(cfg)
    base = torch.randint(0, 16, (4, 10))
    codes = torch.stack([base, (base + 1) % 16, (base * 2) % 16], dim=-1)
    lengths = torch.tensor([10, 10, 8, 6])
    cond = torch.randn(4, 3, 8)
    present = torch.ones(4, 3, dtype=torch.bool)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(200):
        out = model.training_loss(codes, lengths, cond, present)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    model.eval()
    full = model.generate(base, lengths, cond, present, guidance=1.0, temperature=0.0)
    valid = torch.arange(10)[None] < lengths[:, None]
    assert (full[valid] == codes[valid]).float().mean() > 0.9
    assert (full[~valid] == -1).all()


def test_length_estimator_samples_in_range() -> None:
    torch.manual_seed(0)
    model = LengthEstimator(LengthEstimatorConfig(text_dim=8, hidden=16, max_tokens=20))
    text = torch.randn(5, 8)
    n = model.sample(text, generator=torch.Generator().manual_seed(0), min_tokens=4)
    assert n.shape == (5,) and int(n.min()) >= 4 and int(n.max()) <= 20
