"""KinMoPipeline: file contract, determinism, coarse-to-fine levels, loading checks, bad input (tiny random models)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.motion.file import Motion
from kinmo_core.motion.kinematic import GROUPS, PAIRS
from kinmo_core.pipeline import (
    DEFAULT_PATH,
    MAX_TEXT_WORDS,
    PIPELINE_FILE,
    KinMoPipeline,
    clean_text,
    frames_for,
    random_pipeline,
    resolve_device,
)

DESCRIPTIONS = {
    "groups": {g: f"the {g.replace('_', ' ')} moves slowly" for g in GROUPS} | {"left_arm": "the left arm waves"},
    "interactions": {p: "both parts move together" for p in PAIRS},
}


class FakeReasoner:
    """Duck-typed Motion Reasoner: deterministic descriptions naming the text (records its calls)."""

    def __init__(self) -> None:
        self.calls = []

    def reason(self, texts, seed=0, temperature=0.0):
        self.calls.append((list(texts), seed))
        return [{"groups": {g: f"{t}: {g}" for g in GROUPS}, "interactions": {p: f"{t}: {p}" for p in PAIRS}}
                for t in texts]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pipe")
    random_pipeline("tiny", seed=3).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pipe(tiny_dir) -> KinMoPipeline:
    return KinMoPipeline.from_pretrained(tiny_dir)


def test_generates_the_motion_contract(pipe, tmp_path):
    m = pipe("a person waves with the left hand", seconds=2, seed=1, descriptions=DESCRIPTIONS)
    assert isinstance(m, Motion)
    assert m.features.shape == (40, 263) and m.joints.shape == (40, 22, 3) and m.rotations.shape == (40, 22, 4)
    assert m.text == "a person waves with the left hand"
    assert m.descriptions["groups"]["left_arm"] == "the left arm waves"
    back = Motion.load(m.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(back.features, m.features)
    assert back.descriptions == m.descriptions


def test_frames_are_exact_even_off_the_token_grid(pipe):
    assert pipe("a person jumps", frames=43, seed=0, levels=1).num_frames == 43


def test_same_seed_same_motion_bit_for_bit(pipe, tiny_dir):
    a = pipe("a person kicks", seconds=3, seed=7, descriptions=DESCRIPTIONS)
    b = pipe("a person kicks", seconds=3, seed=7, descriptions=DESCRIPTIONS)
    c = KinMoPipeline.from_pretrained(tiny_dir)("a person kicks", seconds=3, seed=7, descriptions=DESCRIPTIONS)
    d = pipe("a person kicks", seconds=3, seed=8, descriptions=DESCRIPTIONS)
    assert np.array_equal(a.features, b.features) and np.array_equal(a.features, c.features)
    assert not np.array_equal(a.features, d.features)


def test_levels_use_the_descriptions_only_above_level_one(pipe):
    one_with = pipe("a person walks", seconds=2, seed=2, levels=1, descriptions=DESCRIPTIONS)
    one_without = pipe("a person walks", seconds=2, seed=2, levels=1)
    three = pipe("a person walks", seconds=2, seed=2, levels=3, descriptions=DESCRIPTIONS)
    other = {"groups": {g: "it stays still" for g in GROUPS}, "interactions": {p: "no contact" for p in PAIRS}}
    three_other = pipe("a person walks", seconds=2, seed=2, levels=3, descriptions=other)
    assert np.array_equal(one_with.features, one_without.features)
    assert not np.array_equal(one_with.features, three.features)
    assert not np.array_equal(three.features, three_other.features)


def test_one_pass_under_all_levels_differs_from_coarse_to_fine_only_above_level_one(tiny_dir, tmp_path):
    import dataclasses

    direct = KinMoPipeline.from_pretrained(tiny_dir)
    direct.settings = dataclasses.replace(direct.settings, coarse_to_fine=False)
    c2f = KinMoPipeline.from_pretrained(tiny_dir)
    for levels, same in ((1, True), (3, False)):
        a = c2f("a person walks", seconds=2, seed=2, levels=levels, descriptions=DESCRIPTIONS)
        b = direct("a person walks", seconds=2, seed=2, levels=levels, descriptions=DESCRIPTIONS)
        assert np.array_equal(a.features, b.features) == same
    direct.save_pretrained(tmp_path / "d")
    assert KinMoPipeline.from_pretrained(tmp_path / "d").settings.coarse_to_fine is False


def test_num_gives_distinct_samples(pipe):
    ms = pipe("a person spins", seconds=1, seed=0, num=3, levels=1)
    assert len(ms) == 3 and all(m.num_frames == 20 for m in ms)
    assert not np.array_equal(ms[0].features, ms[1].features)


def test_length_estimator_chooses_a_length_when_none_given(pipe):
    for seed in range(3):
        n = pipe("a person runs", seed=seed, levels=1).num_frames
        assert 20 <= n <= 200 and n % 4 == 0


def test_reasoner_writes_the_descriptions_when_none_given(tiny_dir):
    p = KinMoPipeline.from_pretrained(tiny_dir)
    p.parts.reasoner = FakeReasoner()
    m = p("a person bows", seconds=2, seed=5)
    assert m.descriptions["groups"]["neck"] == "a person bows: neck"
    assert p.parts.reasoner.calls == [(["a person bows"], 5)]
    assert p.expand("a person bows", seed=5) == [m.descriptions]


def test_no_reasoner_falls_back_to_the_global_level_with_a_warning(pipe):
    with pytest.warns(UserWarning, match="global text only"):
        a = pipe("a person sits", seconds=2, seed=1, levels=3)
    b = pipe("a person sits", seconds=2, seed=1, levels=1)
    assert np.array_equal(a.features, b.features)
    with pytest.raises(KinmoModelError, match="no Motion Reasoner"):
        pipe.expand("a person sits")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_refused(pipe, text):
    with pytest.raises(KinmoInputError, match="empty"):
        pipe(text, seconds=2)


def test_overlong_text_is_truncated_with_a_warning():
    long = " ".join(["walk"] * (MAX_TEXT_WORDS + 15))
    with pytest.warns(UserWarning, match="first 60"):
        assert len(clean_text(long).split()) == MAX_TEXT_WORDS


@pytest.mark.parametrize("kwargs", [{"seconds": 0.5}, {"seconds": 10.5}, {"seconds": float("nan")},
                                    {"frames": 19}, {"frames": 201}])
def test_lengths_outside_one_to_ten_seconds_name_the_range(pipe, kwargs):
    with pytest.raises(KinmoInputError, match="between 1 and 10 seconds|between 20 and 200 frames"):
        pipe("a person jumps", **kwargs)


def test_length_arguments():
    assert frames_for(seconds=1) == 20 and frames_for(seconds=10) == 200 and frames_for(frames=77) == 77
    assert frames_for() is None
    with pytest.raises(KinmoInputError, match="not both"):
        frames_for(seconds=2, frames=40)


def test_unknown_device_is_one_clear_error(tiny_dir):
    for bad in ("gpu0", "tpu", "banana"):
        with pytest.raises(KinmoInputError, match="device"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(KinmoInputError, match="no CUDA"):
            KinMoPipeline.from_pretrained(tiny_dir, device="cuda")


def test_wrong_shape_checkpoint_is_refused(tiny_dir, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_dir, bad)
    cfg_path = bad / "mask_transformer" / "config.json"
    meta = json.loads(cfg_path.read_text())
    meta["config"]["d_model"] = 64  # the weights were saved at 32
    cfg_path.write_text(json.dumps(meta))
    with pytest.raises(KinmoModelError, match="wrong shapes|does not fit"):
        KinMoPipeline.from_pretrained(bad)


def test_components_that_do_not_fit_are_refused(tiny_dir, tmp_path):
    import shutil

    from kinmo_core.models.io import save_pretrained
    from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig

    bad = tmp_path / "misfit"
    shutil.copytree(tiny_dir, bad)
    cfg = MaskTransformerConfig(codebook_size=64, cond_dim=384, d_model=32, n_layers=1, n_heads=2, max_tokens=50)
    save_pretrained(MaskTransformer(cfg), cfg, bad / "mask_transformer", overwrite=True)
    with pytest.raises(KinmoModelError, match="codebook sizes differ"):
        KinMoPipeline.from_pretrained(bad)


def test_corrupt_files_are_refused(tiny_dir, tmp_path):
    import shutil

    bad = tmp_path / "corrupt"
    shutil.copytree(tiny_dir, bad)
    (bad / "residual_transformer" / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(KinmoModelError, match="damaged"):
        KinMoPipeline.from_pretrained(bad)
    (bad / PIPELINE_FILE).write_text("{not json")
    with pytest.raises(KinmoModelError, match="damaged"):
        KinMoPipeline.from_pretrained(bad)
    with pytest.raises(KinmoModelError, match="not a KinMo pipeline"):
        KinMoPipeline.from_pretrained(tmp_path / "nothing")


def test_save_refuses_to_overwrite(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "p")
    with pytest.raises(KinmoInputError, match="already holds"):
        pipe.save_pretrained(tmp_path / "p")


def test_htma_conditioning_round_trips(tmp_path):
    p = random_pipeline("tiny", cond="htma", seed=1)
    p.save_pretrained(tmp_path / "h")
    q = KinMoPipeline.from_pretrained(tmp_path / "h")
    assert q.parts.conditioner.kind == "htma" and q.parts.conditioner.cond_dim == 32
    a = p("a person waves", seconds=2, seed=3, descriptions=DESCRIPTIONS)
    b = q("a person waves", seconds=2, seed=3, descriptions=DESCRIPTIONS)
    assert np.array_equal(a.features, b.features)


def test_hybrid_conditioning_is_both_parts_side_by_side_and_round_trips(tmp_path):
    from kinmo_core.conditioning import SentenceConditioner

    p = random_pipeline("tiny", cond="htma+sentence", seed=1)
    p.save_pretrained(tmp_path / "h")
    q = KinMoPipeline.from_pretrained(tmp_path / "h")
    hyb = q.parts.conditioner
    assert hyb.kind == "htma+sentence" and hyb.cond_dim == 32 + 384
    captions = ["a person waves with the left hand", "a person sits"]
    cond, present = hyb(captions, [DESCRIPTIONS, None])
    h_cond, _ = hyb.htma(captions, [DESCRIPTIONS, None])
    s_cond, _ = SentenceConditioner()(captions, [DESCRIPTIONS, None])
    assert torch.equal(cond[..., :32], h_cond) and torch.allclose(cond[..., 32:], s_cond)
    assert present.tolist() == [[True, True, True], [True, False, False]]
    a = p("a person waves", seconds=2, seed=3, descriptions=DESCRIPTIONS)
    b = q("a person waves", seconds=2, seed=3, descriptions=DESCRIPTIONS)
    assert np.array_equal(a.features, b.features)


def test_minilm_matches_sentence_transformers():
    from kinmo_core.text import get_sentence_encoder
    from kinmo_core.text.minilm import get_minilm

    texts = ["a person walks forward and then turns left", "A man JUMPS!", "", "the left arm waves " * 40]
    ours = get_minilm().encode(texts)
    ref = get_sentence_encoder().encode(texts)
    np.testing.assert_allclose(ours, ref, atol=2e-5)


def test_sentence_conditioner_pools_descriptions(monkeypatch):
    from kinmo_core.conditioning import SentenceConditioner
    from kinmo_core.text.minilm import get_minilm

    monkeypatch.setenv("KINMO_BF16", "0")  # exact float32 numbers

    cond, present = SentenceConditioner()(["a person waves", "a person sits"], [DESCRIPTIONS, None])
    assert cond.shape == (2, 3, 384)
    assert present.tolist() == [[True, True, True], [True, False, False]]
    enc = get_minilm()
    np.testing.assert_allclose(cond[0, 0].numpy(), enc.encode("a person waves")[0], atol=1e-6)
    mean = enc.encode([DESCRIPTIONS["groups"][g] for g in GROUPS]).mean(0)
    np.testing.assert_allclose(cond[0, 1].numpy(), mean / np.linalg.norm(mean), atol=1e-5)
    assert float(cond[1, 1:].abs().sum()) == 0.0


def test_default_model_ships_and_generates():
    assert (DEFAULT_PATH / PIPELINE_FILE).is_file(), f"the default model is missing from {DEFAULT_PATH}"
    manifest = json.loads((DEFAULT_PATH / PIPELINE_FILE).read_text())
    assert manifest["commands"] and manifest["data_version"]  # how it was made is recorded beside it
    p = KinMoPipeline.from_pretrained()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = p("a person waves with the left hand", seconds=4, seed=0)
    assert m.num_frames == 80 and np.isfinite(m.joints).all()
    heights = m.joints[..., 1]
    assert 1.2 < float(heights.max()) < 2.2  # a standing adult, not a collapsed or exploded skeleton


def test_query_encoder_in_bfloat16_stays_within_rounding_of_float32(monkeypatch):
    from kinmo_core.text.minilm import get_minilm, native_bf16

    monkeypatch.setenv("KINMO_BF16", "0")
    assert not native_bf16() and not get_minilm(fast=True).bf16
    texts = [DESCRIPTIONS["groups"][g] for g in GROUPS] + ["a person walks forward and waves with the left hand"]
    exact = get_minilm().encode(texts)
    monkeypatch.setenv("KINMO_BF16", "1")
    fast = get_minilm(fast=True)
    assert fast.bf16 and fast is not get_minilm()
    cos = (fast.encode(texts) * exact).sum(-1)
    assert cos.min() > 0.999, cos


def test_sentence_conditioner_reads_precomputed_features(monkeypatch, tmp_path):
    from kinmo_core.conditioning import SentenceConditioner

    monkeypatch.setenv("KINMO_BF16", "0")
    monkeypatch.setenv("KINMO_CACHE", str(tmp_path))
    c = SentenceConditioner()
    captions = ["a person waves", "a person sits"]
    direct, present = c(captions, [DESCRIPTIONS, None])
    c.precompute(captions, [DESCRIPTIONS, None])
    assert len(list((tmp_path / "text_features").glob("pooled256-*.npz"))) == 1  # its own truncation, on disk
    c.encoder = None  # every text of the dataset is known now: no encoding
    cached, present2 = c(captions, [DESCRIPTIONS, None])
    assert present.tolist() == present2.tolist()
    np.testing.assert_allclose(cached.numpy(), direct.numpy(), atol=1e-3)  # float16 on disk


def test_htma_conditioning_equals_the_aligner(tmp_path, monkeypatch):
    """The fast MiniLM path gives the numbers of kinmo_core.alignment's own text features (transformers)."""
    from kinmo_core.alignment import HTMAAligner
    from kinmo_core.conditioning import HTMAConditioner

    monkeypatch.setenv("KINMO_BF16", "0")  # exact float32 numbers

    p = random_pipeline("tiny", cond="htma", seed=2)
    p.save_pretrained(tmp_path / "h")
    ours = HTMAConditioner.from_pretrained(tmp_path / "h" / "htma")
    ref = HTMAAligner.from_pretrained(tmp_path / "h" / "htma")
    captions = ["a person waves with the left hand", "someone " + "walks and " * 30 + "stops"]
    cond, present = ours(captions, [DESCRIPTIONS, None])
    assert present.tolist() == [[True, True, True], [True, False, False]]
    np.testing.assert_allclose(cond[0].numpy(), ref.encode_texts(captions[:1], [DESCRIPTIONS])[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(cond[1, 0].numpy(), ref.encode_texts(captions[1:], levels=1)[0, 0].numpy(), atol=1e-4)
