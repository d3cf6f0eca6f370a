"""Guo's text-motion evaluator and the shared save/load helper (kinmo_core.models.io)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.eval.generation_metrics import r_precision
from kinmo_core.models import io
from kinmo_core.models.evaluator import MOTION_INPUT_DIM, EvaluatorConfig, TextMotionEvaluator


def tiny(**kw) -> EvaluatorConfig:
    base = dict(movement_hidden=32, movement_latent=32, motion_hidden=48, text_hidden=32, embed_dim=16, text_dim=24)
    base.update(kw)
    return EvaluatorConfig(**base)


def test_full_size_shapes():
    torch.manual_seed(0)
    model = TextMotionEvaluator().eval()
    assert model.cfg.motion_dim == MOTION_INPUT_DIM == 259
    feats = torch.randn(3, 48, 263)
    tokens = torch.randn(3, 9, 384)
    text, motion = model(feats, torch.tensor([48, 20, 4]), tokens, torch.tensor([9, 3, 1]))
    assert text.shape == motion.shape == (3, 512)
    # The contact channels are not read.
    changed = feats.clone()
    changed[..., 259:] = 5.0
    torch.testing.assert_close(model.embed_motion(changed, torch.tensor([48, 20, 4])), motion)


def test_padding_and_batching_do_not_change_embeddings():
    torch.manual_seed(1)
    model = TextMotionEvaluator(tiny()).eval()
    tokens = torch.randn(2, 10, 24)
    alone = model.embed_text(tokens[1:, :4], torch.tensor([4]))
    padded = tokens.clone()
    padded[1, 4:] = 100.0  # garbage after the valid tokens
    together = model.embed_text(padded, torch.tensor([10, 4]))
    torch.testing.assert_close(together[1:], alone, atol=1e-5, rtol=1e-5)
    feats = torch.randn(3, 32, 263)
    lengths = torch.tensor([32, 18, 24])
    feats[1, 18:] = 50.0  # garbage after the clip's end
    batch = model.embed_motion(feats, lengths)
    for i in range(3):
        n = int(lengths[i])
        torch.testing.assert_close(model.embed_motion(feats[i:i + 1, :n], lengths[i:i + 1]), batch[i:i + 1],
                                   atol=1e-5, rtol=1e-5)


def test_normalization_statistics():
    model = TextMotionEvaluator(tiny()).eval()
    feats = torch.randn(2, 16, 263) * 3 + 1
    lengths = torch.tensor([16, 16])
    raw = model.embed_motion((feats - 1) / 3, lengths)
    model.set_normalization(torch.ones(263), torch.full((263,), 3.0))
    torch.testing.assert_close(model.embed_motion(feats, lengths), raw, atol=1e-5, rtol=1e-5)
    with pytest.raises(KinmoInputError, match="channels"):
        model.set_normalization(torch.zeros(100), torch.ones(100))


def _toy_batch(gen: torch.Generator, protos_m, protos_t, n: int = 32):
    cls = torch.randint(0, len(protos_m), (n,), generator=gen)
    t_frames = 24
    motion = protos_m[cls][:, None, :].expand(n, t_frames, -1) + 0.3 * torch.randn(n, t_frames, 263, generator=gen)
    tokens = protos_t[cls] + 0.3 * torch.randn(n, 6, protos_t.shape[-1], generator=gen)
    return {"motion": motion, "motion_lengths": torch.full((n,), t_frames), "tokens": tokens,
            "token_lengths": torch.randint(3, 7, (n,), generator=gen)}


@pytest.fixture()
def one_thread():
    # Tiny models gain nothing from intra-op threads, and on a busy 2-core machine the thread handoffs dominate.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("loss", ["hinge", "infonce"])
def test_learns_a_toy_matching(loss, one_thread):
    torch.manual_seed(2)
    gen = torch.Generator().manual_seed(2)
    protos_m = torch.randn(8, 263, generator=gen)
    protos_t = torch.randn(8, 6, 24, generator=gen)
    model = TextMotionEvaluator(tiny(loss=loss, margin=3.0, dropout=0.0))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(25):
        out = model.losses(_toy_batch(gen, protos_m, protos_t, n=16), generator=gen)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else float(out["loss"].detach())
    assert float(out["loss"].detach()) < 0.5 * first
    model.eval()
    test = _toy_batch(torch.Generator().manual_seed(99), protos_m, protos_t, n=64)
    with torch.no_grad():
        t, m = model(test["motion"], test["motion_lengths"], test["tokens"], test["token_lengths"])
    # Pairs of one class look alike, so top-1 in a batch of 32 is capped near 1/4; top-3 shows the match (chance 0.09).
    assert r_precision(t.numpy(), m.numpy(), top_k=3)["R-precision top-3"] > 0.4


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(3)
    model = TextMotionEvaluator(tiny()).eval()
    model.set_normalization(torch.randn(263), torch.rand(263) + 0.5)
    model.save_pretrained(tmp_path / "ev", extra_meta={"trained_on": "toy"})
    meta = json.loads((tmp_path / "ev" / "config.json").read_text())
    assert meta["model"] == "TextMotionEvaluator" and meta["meta"] == {"trained_on": "toy"}
    loaded = TextMotionEvaluator.from_pretrained(tmp_path / "ev")
    assert loaded.cfg == model.cfg and not loaded.training
    feats, tokens = torch.randn(2, 16, 263), torch.randn(2, 5, 24)
    args = (feats, torch.tensor([16, 8]), tokens, torch.tensor([5, 2]))
    for a, b in zip(model(*args), loaded(*args), strict=True):
        torch.testing.assert_close(a, b)
    assert io.model_version(model, model.cfg) == io.model_version(loaded, loaded.cfg)
    with pytest.raises(KinmoInputError, match="already holds"):
        model.save_pretrained(tmp_path / "ev")
    with torch.no_grad():
        model.text_encoder.inp.weight[0, 0] += 1.0
    assert io.model_version(model, model.cfg) != io.model_version(loaded, loaded.cfg)
    model.save_pretrained(tmp_path / "ev", overwrite=True)
    assert not list((tmp_path / "ev").glob(".tmp-*"))


def test_corrupt_and_mismatched_checkpoints(tmp_path):
    model = TextMotionEvaluator(tiny())
    model.save_pretrained(tmp_path / "ok")
    broken = tmp_path / "broken"
    model.save_pretrained(broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(KinmoModelError, match="damaged"):
        TextMotionEvaluator.from_pretrained(broken)
    # A config that promises other sizes than the stored weights.
    wrong = tmp_path / "wrong"
    model.save_pretrained(wrong)
    meta = json.loads((wrong / "config.json").read_text())
    meta["config"]["embed_dim"] = 8
    (wrong / "config.json").write_text(json.dumps(meta))
    with pytest.raises(KinmoModelError, match="wrong shapes"):
        TextMotionEvaluator.from_pretrained(wrong)
    meta["config"]["not_a_field"] = 1
    (wrong / "config.json").write_text(json.dumps(meta))
    with pytest.raises(KinmoModelError, match="not_a_field"):
        TextMotionEvaluator.from_pretrained(wrong)
    (wrong / "config.json").write_text("{")
    with pytest.raises(KinmoModelError, match="damaged"):
        TextMotionEvaluator.from_pretrained(wrong)
    with pytest.raises(KinmoModelError, match="not a saved KinMo model"):
        TextMotionEvaluator.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "ok" / "model.safetensors").unlink()
    with pytest.raises(KinmoModelError, match="no model.safetensors"):
        TextMotionEvaluator.from_pretrained(tmp_path / "ok")


def test_bad_inputs():
    model = TextMotionEvaluator(tiny())
    with pytest.raises(KinmoInputError, match="features"):
        model.embed_motion(torch.randn(2, 16, 100), torch.tensor([16, 16]))
    with pytest.raises(KinmoInputError, match="lengths"):
        model.embed_motion(torch.randn(2, 16, 263), torch.tensor([16, 2]))
    with pytest.raises(KinmoInputError, match="lengths"):
        model.embed_text(torch.randn(2, 5, 24), torch.tensor([6, 1]))
    with pytest.raises(KinmoInputError, match="loss"):
        TextMotionEvaluator(tiny(loss="mse"))


class Tied(nn.Module):
    """A model with tied input and output embeddings, like a language-model head."""

    def __init__(self, cfg: EvaluatorConfig) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, cfg.embed_dim)
        self.head = nn.Linear(cfg.embed_dim, 10, bias=False)
        self.head.weight = self.emb.weight


def test_tied_weights_are_stored_once_and_stay_tied(tmp_path):
    torch.manual_seed(4)
    model = Tied(tiny())
    io.save_pretrained(model, tiny(), tmp_path / "tied")
    meta = json.loads((tmp_path / "tied" / "config.json").read_text())
    assert meta["tied"] == {"head.weight": "emb.weight"}
    loaded = io.load_pretrained(Tied, EvaluatorConfig, tmp_path / "tied")
    torch.testing.assert_close(loaded.head.weight, model.emb.weight)
    assert loaded.head.weight is loaded.emb.weight
    stored, tied = io.split_tied(model.state_dict())
    assert set(stored) == {"emb.weight"} and tied == {"head.weight": "emb.weight"}


def test_model_version_is_stable_across_processes_of_the_same_weights():
    torch.manual_seed(5)
    a = TextMotionEvaluator(tiny())
    torch.manual_seed(5)
    b = TextMotionEvaluator(tiny())
    assert io.model_version(a, a.cfg) == io.model_version(b, b.cfg)
    assert len(io.model_version(a, a.cfg)) == 64
    assert io.model_version(a, tiny(margin=1.0)) != io.model_version(a, a.cfg)
    assert np.all(np.isfinite(a.mean.numpy()))


@pytest.mark.parametrize("module, cls_name, cfg_name", [
    ("htma", "HTMA", "HTMAConfig"),
    ("length_estimator", "LengthEstimator", "LengthEstimatorConfig"),
    ("masked_transformer", "MaskTransformer", "MaskTransformerConfig"),
    ("description_decoder", "ReasonerModel", "ReasonerConfig"),
    ("residual_transformer", "ResidualTransformer", "ResidualTransformerConfig"),
    ("rvq", "RVQVAE", "RVQConfig"),
])
def test_io_round_trips_every_kinmo_model(tmp_path, module, cls_name, cfg_name):
    import importlib

    mod = importlib.import_module(f"kinmo_core.models.{module}")
    cls, cfg_cls = getattr(mod, cls_name), getattr(mod, cfg_name)
    torch.manual_seed(6)
    model = cls(cfg_cls())
    io.save_pretrained(model, model.cfg, tmp_path / module)
    loaded = io.load_pretrained(cls, cfg_cls, tmp_path / module)
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)
    assert io.model_version(model, model.cfg) == io.model_version(loaded, loaded.cfg)


def test_embed_lists_of_clips_and_captions(fixture_features, fixture_features_612):
    torch.manual_seed(7)
    model = TextMotionEvaluator(tiny()).train()
    clips = [fixture_features, fixture_features_612[:50], fixture_features[:9]]
    emb = model.embed_motions(clips, batch_size=2)
    assert emb.shape == (3, 16) and emb.dtype == np.float32 and model.training  # mode restored
    model.eval()
    for clip, e in zip(clips, emb, strict=True):
        n = len(clip) // 4 * 4
        alone = model.embed_motion(torch.as_tensor(clip[None, :n], dtype=torch.float32), torch.tensor([n]))
        np.testing.assert_allclose(alone[0].detach().numpy(), e, atol=1e-5)
    texts = model.embed_texts([np.ones((3, 24)), np.zeros((7, 24))])
    assert texts.shape == (2, 16)
    with pytest.raises(KinmoInputError, match="nothing"):
        model.embed_texts([])
