"""Training batches of the token generators: crops in token space, padding, and the --levels switch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinmo_core.errors import KinmoInputError
from training.generator_data import MAX_TRAIN_TOKENS, TokenBatches


def _batches(levels: int, seed: int = 0) -> TokenBatches:
    rng = np.random.default_rng(1)
    codes = [rng.integers(0, 32, size=(n, 3)).astype(np.int16) for n in (3, 20, 80)]
    cond = {"cond": rng.normal(size=(6, 3, 8)).astype(np.float32),
            "present": np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0]] * 2, dtype=bool),
            "item": np.array([0, 0, 1, 1, 2, 2])}
    return TokenBatches(codes, cond, levels=levels, seed=seed)


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_levels_switch_off_the_finer_conditions(levels):
    b = _batches(levels).sample(64)
    assert not b["present"][:, levels:].any()
    assert b["present"][:, 0].all()
    if levels == 3:
        assert b["present"][:, 2].any()


def test_crops_are_real_codes_padded_with_minus_one():
    tb = _batches(3)
    b = tb.sample(64)
    assert b["codes"].shape[0] == 64 and b["codes"].shape[2] == 3
    assert int(b["lengths"].max()) <= MAX_TRAIN_TOKENS and int(b["lengths"].min()) >= 1
    for i in range(64):
        n = int(b["lengths"][i])
        assert (b["codes"][i, n:] == -1).all() and (b["codes"][i, :n] >= 0).all()
        # every crop is a contiguous window of one of the items' codes
        crop = b["codes"][i, :n].numpy()
        assert any(any(np.array_equal(crop, c[o:o + n]) for o in range(len(c) - n + 1)) for c in tb.codes)


def test_same_seed_same_batches():
    a, b = _batches(3, seed=5).sample(16), _batches(3, seed=5).sample(16)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = _batches(3, seed=6).sample(16)
    assert not torch.equal(a["codes"], c["codes"]) or not torch.equal(a["cond"], c["cond"])


def test_model_losses_accept_the_batches():
    from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig
    from kinmo_core.models.residual_transformer import ResidualTransformer, ResidualTransformerConfig

    b = _batches(3).sample(8)
    mt = MaskTransformer(MaskTransformerConfig(codebook_size=32, cond_dim=8, d_model=16, n_layers=1, n_heads=2))
    rt = ResidualTransformer(ResidualTransformerConfig(codebook_size=32, num_quantizers=3, cond_dim=8, d_model=16,
                                                       n_layers=1, n_heads=2))
    g = torch.Generator().manual_seed(0)
    for loss in (mt.training_loss(b["codes"][..., 0], b["lengths"], b["cond"], b["present"], generator=g)["loss"],
                 rt.training_loss(b["codes"], b["lengths"], b["cond"], b["present"], generator=g)["loss"]):
        assert torch.isfinite(loss)
        loss.backward()


def test_spliced_crops_pose_an_edit_with_context_from_another_item():
    """--splice: a stretch of the item inside another item's tokens, the context kept and never predicted."""
    from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig
    from training.generator_data import SPLICE_TOKENS

    rng = np.random.default_rng(1)
    codes = [rng.integers(0, 16, size=(40, 2)).astype(np.int16), rng.integers(16, 32, size=(40, 2)).astype(np.int16)]
    cond = {"cond": rng.normal(size=(2, 3, 8)).astype(np.float32), "present": np.ones((2, 3), bool),
            "item": np.array([0, 1])}
    tb = TokenBatches(codes, cond, seed=0, splice=1.0)
    b = tb.sample(32)
    assert "keep" in b
    for i in range(32):
        n, keep = int(b["lengths"][i]), b["keep"][i]
        assert n <= MAX_TRAIN_TOKENS and not keep[n:].any()
        mid = b["codes"][i, :n][~keep[:n]].numpy()
        assert SPLICE_TOKENS[0] <= len(mid) <= SPLICE_TOKENS[1]
        own = int(b["cond"][i, 0, 0] == torch.from_numpy(cond["cond"][1, 0, :1])[0])  # the crop's item: its text
        assert ((mid[:, 0] >= 16) == bool(own)).all()  # the stretch comes from the item whose text it has
    assert (b["keep"].sum(1) > 0).float().mean() > 0.5  # mostly with context from another item (here: 1 of 2)
    mt = MaskTransformer(MaskTransformerConfig(codebook_size=32, cond_dim=8, d_model=16, n_layers=1, n_heads=2))
    seen = torch.zeros_like(b["keep"])
    real = mt.forward

    def spy(ids, *args, **kwargs):
        seen.copy_(ids == mt.cfg.mask_id)
        return real(ids, *args, **kwargs)

    mt.forward = spy
    mt.training_loss(b["codes"][..., 0], b["lengths"], b["cond"], b["present"], keep=b["keep"],
                     generator=torch.Generator().manual_seed(0))
    assert seen.any() and not (seen & b["keep"]).any()  # context tokens are never masked
    assert _batches(3, seed=5).sample(16).keys() == {"codes", "lengths", "cond", "present"}  # no splice: as before
    from training.generator_data import ControlBatches

    with pytest.raises(KinmoInputError, match="cannot be spliced"):
        ControlBatches(codes, cond, {"joints": [None, None], "angle": [None, None]}, 4, splice=0.5)
