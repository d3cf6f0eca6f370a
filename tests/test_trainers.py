"""The token-generator and evaluator trainers run end to end on a tiny dataset and record what they did."""

from __future__ import annotations

import json

import pytest

from kinmo_core.pipeline import random_pipeline
from tests.test_retrieval import make_dataset
from training import train_generator, train_residual


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("trainers")
    random_pipeline("tiny", seed=2).save_pretrained(base / "pipe")
    return {"data": make_dataset(base / "data", n=24), "rvq": base / "pipe" / "rvq", "base": base}


@pytest.mark.parametrize("trainer", [train_generator, train_residual])
def test_generator_trainers_save_a_model_with_provenance(setup, trainer) -> None:
    out = setup["base"] / trainer.__name__.rsplit(".", 1)[-1]
    args = ["--data", str(setup["data"]), "--rvq", str(setup["rvq"]), "--cond", "sentence", "--levels", "3",
            "--steps", "3", "--batch", "4", "--d-model", "32", "--layers", "1", "--eval-every", "0", "--threads", "1",
            "--cache", str(setup["base"] / "cache"), "--out", str(out)]
    assert trainer.main(args) == 0
    meta = json.loads((out / "config.json").read_text())["meta"]
    assert meta["steps_done"] == 3 and meta["cond"] == "sentence" and meta["data_version"] and meta["commit"]
    with pytest.raises(SystemExit, match="already holds"):
        trainer.main(args)


def test_hybrid_condition_cache_is_its_parts_caches_side_by_side(setup) -> None:
    import numpy as np

    from kinmo_core.conditioning import HTMAConditioner, HybridConditioner, SentenceConditioner
    from training.generator_data import cond_cache

    random_pipeline("tiny", cond="htma", seed=3).save_pretrained(setup["base"] / "hp")
    htma = HTMAConditioner.from_pretrained(setup["base"] / "hp" / "htma")
    cache = setup["base"] / "hcache"
    both = cond_cache(setup["data"], "train", HybridConditioner(htma), None, cache)
    h = cond_cache(setup["data"], "train", htma, None, cache)
    s = cond_cache(setup["data"], "train", SentenceConditioner(), None, cache)
    assert both["cond"].shape[-1] == 32 + 384
    np.testing.assert_array_equal(both["cond"], np.concatenate([h["cond"], s["cond"]], -1))
    np.testing.assert_array_equal(both["present"], h["present"] & s["present"])
    out = setup["base"] / "hybrid_mask"
    assert train_generator.main(["--data", str(setup["data"]), "--rvq", str(setup["rvq"]), "--cond", "htma+sentence",
                                 "--htma", str(setup["base"] / "hp" / "htma"), "--steps", "2", "--batch", "4",
                                 "--d-model", "32", "--layers", "1", "--eval-every", "0", "--threads", "1",
                                 "--cache", str(cache), "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["cond_dim"] == 32 + 384


@pytest.mark.parametrize(("env", "flag", "expected"), [("0", [], "float32"), ("1", [], "bf16 autocast"),
                                                       ("1", ["--no-bf16"], "float32")])
def test_bf16_only_where_the_cpu_has_it(monkeypatch, capsys, env, flag, expected) -> None:
    from training.common import base_parser, provenance, setup

    monkeypatch.setenv("KINMO_BF16", env)  # stands in for the CPU's flags (AVX512-BF16 / AMX or not)
    args = base_parser("t").parse_args(["--out", "x", *flag])
    setup(args)
    assert provenance(args)["precision"] == expected
    assert ("no native bfloat16" in capsys.readouterr().out) == (env == "0" and not flag)


def test_control_branch_trains_from_a_plain_masked_transformer(setup) -> None:
    import torch

    from kinmo_core.models.io import load_pretrained
    from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig

    common = ["--data", str(setup["data"]), "--rvq", str(setup["rvq"]), "--cond", "sentence", "--batch", "4",
              "--d-model", "32", "--layers", "1", "--eval-every", "0", "--threads", "1",
              "--cache", str(setup["base"] / "cache")]
    plain_dir, ctl_dir = setup["base"] / "plain_mask", setup["base"] / "control_mask"
    assert train_generator.main(common + ["--steps", "2", "--out", str(plain_dir)]) == 0
    assert train_generator.main(common + ["--steps", "3", "--control", "--init", str(plain_dir),
                                          "--out", str(ctl_dir)]) == 0
    meta = json.loads((ctl_dir / "config.json").read_text())
    assert meta["config"]["control_frames"] == 4 and meta["meta"]["kind"] == "control"
    ctl = load_pretrained(MaskTransformer, MaskTransformerConfig, ctl_dir)
    assert ctl.control is not None and float(ctl.control[-1].weight.detach().abs().sum()) > 0  # the branch learned
    # The plain model's config keeps its old form (no control field), so its version hash is unchanged.
    assert "control_frames" not in json.loads((plain_dir / "config.json").read_text())["config"]
    with pytest.raises(ValueError, match="no spatial-control branch"):
        load_pretrained(MaskTransformer, MaskTransformerConfig, plain_dir).embed_control(torch.zeros(1, 8, 22, 3), 2)


def test_init_branch_moves_a_trained_branch_onto_another_masked_transformer(setup) -> None:
    import torch

    from kinmo_core.errors import KinmoInputError
    from kinmo_core.models.io import load_pretrained
    from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig

    common = ["--data", str(setup["data"]), "--rvq", str(setup["rvq"]), "--cond", "sentence", "--batch", "4",
              "--d-model", "32", "--layers", "1", "--eval-every", "0", "--threads", "1",
              "--cache", str(setup["base"] / "cache")]
    plain, ctl, moved = (setup["base"] / n for n in ("ib_plain", "ib_control", "ib_moved"))
    assert train_generator.main(common + ["--steps", "2", "--out", str(plain)]) == 0
    assert train_generator.main(common + ["--steps", "3", "--control", "--init", str(plain), "--out", str(ctl)]) == 0
    model = MaskTransformer(MaskTransformerConfig(**json.loads((ctl / "config.json").read_text())["config"]))
    train_generator.init_branch(model, str(ctl))
    trained = load_pretrained(MaskTransformer, MaskTransformerConfig, ctl)
    for a, b in zip(model.control.parameters(), trained.control.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(KinmoInputError, match="no spatial-control branch"):
        train_generator.init_branch(model, str(plain))
    assert train_generator.main(common + ["--steps", "1", "--control", "--init", str(plain), "--init-branch",
                                          str(ctl), "--out", str(moved)]) == 0
    with pytest.raises(SystemExit, match="needs --control"):
        train_generator.main(common + ["--steps", "1", "--init-branch", str(ctl), "--out", str(moved) + "x"])
    # One warm-up step barely moves the branch: it started from the trained one, not from zero.
    after = load_pretrained(MaskTransformer, MaskTransformerConfig, moved)
    torch.testing.assert_close(after.control[-1].weight, trained.control[-1].weight, atol=1e-3, rtol=0)
    assert float(trained.control[-1].weight.abs().sum()) > 0


def test_control_branch_starts_as_the_plain_model() -> None:
    import torch

    from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig

    torch.manual_seed(0)
    plain = MaskTransformer(MaskTransformerConfig(d_model=32, n_layers=1, n_heads=2, cond_dim=8)).eval()
    ctl = MaskTransformer(MaskTransformerConfig(d_model=32, n_layers=1, n_heads=2, cond_dim=8,
                                                control_frames=4)).eval()
    ctl.load_state_dict(plain.state_dict() | {k: v for k, v in ctl.state_dict().items() if k.startswith("control.")})
    ids = torch.randint(0, 256, (2, 6))
    cond, present, pad = torch.randn(2, 3, 8), torch.ones(2, 3, dtype=torch.bool), torch.zeros(2, 6, dtype=torch.bool)
    targets = torch.full((2, 24, 22, 3), float("nan"))
    targets[:, ::3, 0] = torch.randn(2, 8, 3)
    with torch.no_grad():
        torch.testing.assert_close(ctl(ids, cond, present, pad, ctl.embed_control(targets, 6)),
                                   plain(ids, cond, present, pad))


def test_control_targets_come_from_the_crop_placed_as_its_own_motion(setup) -> None:
    import numpy as np
    import torch

    from kinmo_core.data.dataset import MotionTextDataset
    from kinmo_core.motion.features import features_to_joints
    from training.generator_data import crop_joints, joint_cache, sample_control

    ds = MotionTextDataset(setup["data"], "train")
    cache = joint_cache(setup["data"], "train", 4, setup["base"] / "jcache")
    assert len(cache["joints"]) == len(ds.items)
    turned = 0
    for i, it in enumerate(ds.items):
        x = np.load(setup["data"] / "new_joint_vecs" / f"{it['id']}.npy")[it["start"]:it["end"]].astype(np.float64)
        x = x[: len(x) - len(x) % 4]
        if len(x) < 16:
            continue
        start = 8
        turned += abs(float(cache["angle"][i][start])) > 0.05
        # A crop of the cached joints equals the joints of the crop's own features (pelvis at the origin, facing +Z).
        np.testing.assert_allclose(crop_joints(cache["joints"][i], cache["angle"][i], start, len(x) - start),
                                   features_to_joints(torch.from_numpy(x[start:])).numpy(), atol=1e-4)
    assert turned > 0  # some crops start after a turn, so the rotation is exercised
    rng = np.random.default_rng(0)
    j = crop_joints(cache["joints"][0], cache["angle"][0], 0, 16)
    draws = [sample_control(j, rng) for _ in range(200)]
    given = np.array([np.isfinite(d).any() for d in draws])
    assert 0.02 < 1 - given.mean() < 0.25  # sometimes nothing
    for d in draws:
        ok = np.isfinite(d)
        np.testing.assert_array_equal(d[ok], j.astype(np.float32)[ok])  # only true positions, never invented ones
