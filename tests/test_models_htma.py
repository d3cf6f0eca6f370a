"""HTMA: shapes, the hierarchy's dependencies, filtered InfoNCE, and learning on a toy batch."""

from __future__ import annotations

import torch

from kinmo_core.models.htma import HTMA, HTMAConfig, info_nce


def _tiny(**kw) -> HTMA:
    cfg = HTMAConfig(motion_dim=12, text_dim=10, latent_dim=16, ff_dim=32, n_layers=1, n_heads=2, dropout=0.0, **kw)
    return HTMA(cfg)


def _batch(b: int = 6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "motion": torch.randn(b, 20, 12, generator=g),
        "mask": torch.arange(20)[None] < torch.tensor([20, 18, 15, 20, 12, 20])[:b, None],
        "tokens": torch.randn(b, 7, 10, generator=g),
        "token_mask": torch.ones(b, 7, dtype=torch.bool),
        "groups": torch.randn(b, 6, 10, generator=g),
        "pairs": torch.randn(b, 15, 10, generator=g),
    }


def test_levels_depend_on_coarser_levels_only_through_cross_attention() -> None:
    torch.manual_seed(0)
    model = _tiny().eval()
    batch = _batch()
    mu, logvar = model.encode_text(batch["tokens"], batch["token_mask"], batch["groups"], batch["pairs"])
    assert mu.shape == (6, 3, 16) and logvar.shape == (6, 3, 16)
    changed = dict(batch, tokens=batch["tokens"] + 1.0)
    mu2, _ = model.encode_text(changed["tokens"], changed["token_mask"], changed["groups"], changed["pairs"])
    # The global caption reaches the group and interaction levels through cross-attention.
    assert (mu2[:, 1] - mu[:, 1]).abs().max() > 1e-4 and (mu2[:, 2] - mu[:, 2]).abs().max() > 1e-4
    flat = _tiny(cross_attention=False).eval()
    a, _ = flat.encode_text(batch["tokens"], batch["token_mask"], batch["groups"], batch["pairs"])
    b, _ = flat.encode_text(changed["tokens"], changed["token_mask"], changed["groups"], changed["pairs"])
    assert torch.allclose(a[:, 1:], b[:, 1:], atol=1e-6)
    emb = HTMA.retrieval_embedding(mu)
    assert emb.shape == (6, 48) and torch.allclose(emb.norm(dim=-1), torch.ones(6))


def test_info_nce_leaves_out_near_duplicate_negatives() -> None:
    text = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    motion = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    plain = info_nce(text, motion, 0.1)
    sim = torch.tensor([[1.0, 0.9, 0.1], [0.9, 1.0, 0.1], [0.1, 0.1, 1.0]])
    filtered = info_nce(text, motion, 0.1, sim, 0.8)
    # Items 0 and 1 have near-identical captions: as negatives they made the loss large; filtered, it is small.
    assert float(plain) > 0.4 and float(filtered) < 0.01


def test_losses_decrease_on_a_toy_batch() -> None:
    torch.manual_seed(0)
    model = _tiny()
    batch = _batch()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = float(model.losses(batch)["loss"].detach())
    for _ in range(40):
        loss = model.losses(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.7 * first
