"""Editing: token in-painting, range and part re-prompting, seams, and `kinmo edit`'s checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from kinmo_core.editing.composite import blend_seams, composite_parts, motion_from_placed_joints, placed_features
from kinmo_core.editing.edit import check_frames, check_parts, edit_motion, parse_frames
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.features import features_to_joints
from kinmo_core.motion.file import Motion, load_motion
from kinmo_core.motion.kinematic import GROUP_JOINTS, GROUPS
from kinmo_core.motion.skeleton import PARENTS
from kinmo_core.pipeline import random_pipeline


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return random_pipeline("tiny", seed=0)


@pytest.fixture(scope="module")
def source(tiny) -> Motion:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tiny("a person walks forward", frames=120, seed=3, levels=1)


def test_keep_mask_holds_tokens(tiny):
    mt = tiny.parts.mask_transformer
    cond = torch.zeros(2, 3, mt.cfg.cond_dim)
    present = torch.ones(2, 3, dtype=torch.bool)
    lengths = torch.tensor([12, 9])
    init = torch.randint(0, mt.cfg.codebook_size, (2, 12))
    keep = torch.zeros(2, 12, dtype=torch.bool)
    keep[:, :4] = True
    keep[:, 8:] = True
    ids, _ = mt.generate(cond, present, lengths, steps=4, init_ids=init, keep=keep,
                         generator=torch.Generator().manual_seed(0), with_confidence=False)
    assert torch.equal(ids[0, :4], init[0, :4]) and torch.equal(ids[0, 8:], init[0, 8:])
    assert torch.equal(ids[1, :4], init[1, :4]) and torch.equal(ids[1, 8:9], init[1, 8:9])
    assert (ids[1, 9:] == mt.cfg.pad_id).all()
    # Free positions are generated (none left masked).
    assert (ids[0, 4:8] < mt.cfg.codebook_size).all()
    with pytest.raises(ValueError):
        mt.generate(cond, present, lengths, steps=2, keep=keep)


def test_keep_none_unchanged_by_full_remask(tiny):
    # remask_ratio 1.0 skips the scoring pass; the result must equal a decode from scratch under the same noise.
    mt = tiny.parts.mask_transformer
    cond = torch.randn(1, 3, mt.cfg.cond_dim)
    present = torch.ones(1, 3, dtype=torch.bool)
    lengths = torch.tensor([10])
    a, _ = mt.generate(cond, present, lengths, steps=5, generator=torch.Generator().manual_seed(1))
    init = torch.randint(0, mt.cfg.codebook_size, (1, 10))
    b, _ = mt.generate(cond, present, lengths, steps=5, init_ids=init, remask_ratio=1.0,
                       generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_placed_features_reproduce_joints(source):
    j = source.joints.astype(np.float64)
    f = placed_features(j)
    assert f.shape == (len(j), 263)
    assert np.abs(features_to_joints(f.astype(np.float64)) - j).max() < 1e-4
    with pytest.raises(KinmoInputError):
        placed_features(j + np.array([1.0, 0.0, 0.0]))


def test_range_edit_keeps_outside_frames(tiny, source, tmp_path):
    res = edit_motion(tiny, source, "a person jumps", frames=(40, 80), seed=1, levels=1)
    m = res.motions[0]
    assert m.joints.shape == source.joints.shape
    assert np.abs(m.joints[:40] - source.joints[:40]).max() <= 1e-5
    assert np.abs(m.joints[80:] - source.joints[80:]).max() <= 1e-5
    assert np.abs(m.joints[40:80] - source.joints[40:80]).max() > 1e-3  # something was regenerated
    # The edited motion is a valid motion file.
    m.save(tmp_path / "e.npz")
    back = Motion.load(tmp_path / "e.npz")
    assert np.abs(back.joints[:40] - source.joints[:40]).max() <= 1e-5


def test_same_seed_same_edit(tiny, source):
    a = edit_motion(tiny, source, "a person jumps", frames=(40, 80), seed=5, levels=1).motions[0]
    b = edit_motion(tiny, source, "a person jumps", frames=(40, 80), seed=5, levels=1).motions[0]
    assert np.array_equal(a.joints, b.joints)


def test_part_edit_keeps_untouched_groups(tiny, source):
    res = edit_motion(tiny, source, "a person waves", frames=(30, 90), parts=["left_arm", "neck"], seed=2,
                      levels=1, num=2)
    assert res.parts == ("neck", "left_arm")
    other = [j for g in GROUPS if g not in res.parts for j in GROUP_JOINTS[g]]
    for m in res.motions:
        assert np.abs(m.joints[:, other] - source.joints[:, other]).max() <= 1e-5
        edited = list(GROUP_JOINTS["left_arm"])
        assert np.abs(m.joints[30:90, edited] - source.joints[30:90, edited]).max() > 1e-3
    assert not np.array_equal(res.motions[0].joints, res.motions[1].joints)


def test_composite_parts_keeps_bone_vectors_in_parent_frame():
    rng = np.random.default_rng(0)
    from kinmo_core.motion.skeleton import rest_pose

    base = np.repeat(rest_pose()[None], 5, 0)
    src = base + rng.normal(0, 0.01, base.shape)
    gen = base + rng.normal(0, 0.05, base.shape) + np.array([0.3, 0.0, 0.1])
    out = composite_parts(src, gen, ["right_arm"])
    arm = list(GROUP_JOINTS["right_arm"])
    rest = [j for j in range(22) if j not in arm]
    assert np.array_equal(out[:, rest], src[:, rest])
    for j in arm:  # bone lengths come from the generated arm
        p = PARENTS[j]
        assert np.allclose(np.linalg.norm(out[:, j] - out[:, p], axis=-1),
                           np.linalg.norm(gen[:, j] - gen[:, p], axis=-1), atol=1e-9)


def test_an_edited_leg_keeps_its_world_direction_when_the_pelvis_differs():
    from kinmo_core.motion.rotations import qrot
    from kinmo_core.motion.skeleton import rest_pose

    src = np.repeat(rest_pose()[None], 4, 0).astype(np.float64)
    # The generated clip tips its pelvis back by 20 degrees about x, as a knee lift does, and flexes the left thigh.
    tilt = np.array([np.cos(np.radians(10)), -np.sin(np.radians(10)), 0.0, 0.0])
    gen = src[:1].copy()
    pelvis = gen[0, 0].copy()
    gen[0] = pelvis + np.asarray(qrot(np.broadcast_to(tilt, (22, 4)), gen[0] - pelvis))
    knee, hip = GROUP_JOINTS["left_leg"][1], GROUP_JOINTS["left_leg"][0]
    gen[0, knee] = gen[0, hip] + np.array([0.0, -0.05, 0.37])  # the thigh nearly level, pointing forward
    gen = np.repeat(gen, 4, 0)
    out = composite_parts(src, gen, ["left_leg"])
    for j in GROUP_JOINTS["left_leg"][1:]:  # below the hip: bone vectors as generated, in the world
        assert np.allclose(out[:, j] - out[:, PARENTS[j]], gen[:, j] - gen[:, PARENTS[j]], atol=1e-6)
    assert np.allclose(out[:, hip], src[:, hip], atol=0.05)  # hung from the source's (upright) pelvis
    arm = composite_parts(src, gen, ["left_arm"])  # an arm still follows the source's torso
    j = GROUP_JOINTS["left_arm"][2]
    assert not np.allclose(arm[:, j] - arm[:, PARENTS[j]], gen[:, j] - gen[:, PARENTS[j]], atol=1e-3)


def test_blend_seams_removes_jumps():
    t = np.arange(60, dtype=np.float64)
    src = np.zeros((60, 22, 3))
    src[..., 0] = 0.02 * t[:, None]  # steady walk along x
    out = src.copy()
    out[20:40] += np.array([0.2, 0.1, 0.0])  # a 20 cm pop at both seams
    res = blend_seams(out, src, 20, 40, blend=8)
    assert np.array_equal(res[:20], src[:20]) and np.array_equal(res[40:], src[40:])
    acc = np.abs(np.diff(res, 2, axis=0)).max()
    assert acc < 0.02  # the raw pop has 0.2 m/frame^2
    vel_jump = np.abs(np.diff(res, axis=0)[19] - np.diff(src, axis=0)[19]).max()
    assert vel_jump < 1e-9


def test_motion_from_placed_joints_is_exact(source, tmp_path):
    m = motion_from_placed_joints(source.joints, text="t")
    assert np.array_equal(m.joints, source.joints)
    m.save(tmp_path / "m.npz")
    assert np.array_equal(load_motion(tmp_path / "m.npz").joints, source.joints)


@pytest.mark.parametrize("frames", [(-1, 10), (10, 500), (30, 10), (10, 10), (10, 13), ("a", 3), (1.5, 9)])
def test_bad_ranges(frames):
    with pytest.raises(KinmoInputError):
        check_frames(frames, 100)


def test_frame_specs():
    assert parse_frames("20:60", 100) == (20, 60)
    assert parse_frames(":60", 100) == (0, 60)
    assert parse_frames("40:", 100) == (40, 100)
    assert check_frames(None, 100) == (0, 100)
    with pytest.raises(KinmoInputError):
        parse_frames("20-60", 100)


def test_parts():
    assert check_parts("right_arm,left_arm") == ("left_arm", "right_arm")
    assert check_parts("auto") == "auto"
    assert check_parts(None) is None
    for bad in ("left_hand", "left_arm,,neck", ""):
        with pytest.raises(KinmoInputError):
            check_parts(bad)


def test_auto_without_reasoner_is_refused(tiny, source):
    with pytest.raises(KinmoInputError):
        edit_motion(tiny, source, "a person waves", parts="auto", levels=1)


# ------------------------------------------------------------------------------------------------ the CLI


def _kinmo(*argv: str) -> int:
    from kinmo_core.cli.main import main

    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def source_file(source, tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "walk.npz"
    source.save(path)
    return path


@pytest.mark.parametrize("extra", [
    ["--frames", "50:20"], ["--frames", "10:10"], ["--frames", "10:12"], ["--frames", "0:999"],
    ["--frames", "x"], ["--parts", "left_hand"], ["--num", "0"],
])
def test_cli_bad_edit_writes_nothing(source_file, tmp_path, capsys, extra):
    out = tmp_path / "out"
    assert _kinmo("edit", source_file, "-o", out, "--text", "a person waves", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert not out.exists()


@pytest.mark.parametrize("array", [np.full((40, 263), np.nan, np.float32), np.zeros((40, 17), np.float32)])
def test_cli_bad_input_file(tmp_path, capsys, array):
    src = tmp_path / "bad.npy"
    np.save(src, array)
    assert _kinmo("edit", src, "-o", tmp_path / "out", "--text", "a person waves") == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "out").exists()


def test_cli_edit_default_model(source_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert _kinmo("edit", source_file, "-o", out, "--text", "a person raises the right hand", "--frames", "40:80",
                  "--parts", "right_arm", "--seed", "1", "--num", "2") == 0
    for k in ("000", "001"):
        m = load_motion(out / k / "motion.npz")
        assert (out / k / "motion.bvh").is_file() and (out / k / "descriptions.json").is_file()
        src = load_motion(source_file)
        other = [j for g in GROUPS if g != "right_arm" for j in GROUP_JOINTS[g]]
        assert np.abs(m.joints[:, other] - src.joints[:, other]).max() <= 1e-5
    # Existing outputs are not replaced without --overwrite.
    assert _kinmo("edit", source_file, "-o", out, "--text", "a person waves", "--num", "2") == 2
    # --parts auto with the source's own text names no change.
    capsys.readouterr()
    assert _kinmo("edit", source_file, "-o", tmp_path / "auto", "--parts", "auto",
                  "--text", "a person walks forward") == 2
    assert "names no change" in capsys.readouterr().err
    assert not (tmp_path / "auto").exists()


@pytest.mark.parametrize("frames, parts", [((0, 40), None), ((0, 40), ["torso"]), ((60, 120), None), (None, None)])
def test_edits_at_the_ends_keep_the_origin(tiny, source, frames, parts):
    m = edit_motion(tiny, source, "a person jumps", frames=frames, parts=parts, seed=4, levels=1).motions[0]
    assert np.abs(m.joints[0, 0, [0, 2]]).max() <= 1e-3
    b = (frames or (0, 120))[1]
    if b < 120:
        assert np.abs(m.joints[b:] - source.joints[b:]).max() <= 1e-5
