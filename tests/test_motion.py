"""The motion file contract: constructors, atomic save, validated load, format dispatch and summaries."""

from __future__ import annotations

import json
import os
import stat
import tempfile
import zipfile

import numpy as np
import pytest
from conftest import bandai_files, requires_shared

from kinmo_core.errors import KinmoInputError
from kinmo_core.fileio import atomic_output, write_atomic
from kinmo_core.motion.features import features_to_joints
from kinmo_core.motion.file import (
    FORMAT_VERSION,
    Motion,
    load_motion,
    motion_stats,
    normalize_descriptions,
    save_motion,
)
from kinmo_core.motion.ik import forward_kinematics
from kinmo_core.motion.kinematic import GROUPS, PAIRS
from kinmo_core.motion.skeleton import BONE_LENGTHS, FPS, JOINT_INDEX, JOINT_NAMES, PARENTS, TARGET_OFFSETS, rest_pose

CONTRACT_KEYS = {
    "format_version",
    "features",
    "joints",
    "rotations",
    "root_translation",
    "fps",
    "joint_names",
    "parents",
    "offsets",
    "text",
    "descriptions",
}


@pytest.fixture(scope="module")
def motion(fixture_features) -> Motion:
    return Motion.from_features(fixture_features[:60], text="a person walks", descriptions={"groups": {"neck": "nods"}})


def _walk(seconds: float = 2.0, speed: float = 1.0, fps: float = FPS) -> np.ndarray:
    """The rest pose gliding along +Z at `speed` m/s."""
    t = np.arange(int(round(seconds * fps)) + 1) / fps
    pose = rest_pose()
    return pose[None] + np.stack([np.zeros_like(t), np.zeros_like(t), speed * t], -1)[:, None]


def test_from_features_fields_agree(motion, fixture_features):
    n = 60
    assert motion.num_frames == n and motion.seconds == pytest.approx(n / FPS)
    assert motion.features.shape == (n, 263) and motion.features.dtype == np.float32
    assert motion.joints.shape == (n, 22, 3) and motion.joints.dtype == np.float32
    assert motion.rotations.shape == (n, 22, 4) and motion.rotations.dtype == np.float32
    np.testing.assert_array_equal(motion.features, fixture_features[:60].astype(np.float32))
    np.testing.assert_allclose(motion.joints, features_to_joints(fixture_features[:60]), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(motion.rotations, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(motion.root_translation, motion.joints[:, 0])


def test_rotations_and_offsets_reproduce_the_joints(motion):
    fk = forward_kinematics(motion.rotations, motion.root_translation, motion.offsets)
    assert np.abs(fk - motion.joints).max() < 1e-4  # metres
    # The offsets keep the target skeleton's bone lengths; only the hips, collars and neck may point elsewhere.
    np.testing.assert_allclose(np.linalg.norm(motion.offsets, axis=-1), BONE_LENGTHS, atol=1e-4)
    single_child = [j for j in range(1, 22) if j not in (1, 2, 3, 12, 13, 14)]
    np.testing.assert_allclose(motion.offsets[single_child], TARGET_OFFSETS[single_child], atol=1e-4)


def test_from_joints_canonicalises_through_features(fixture_joints, fixture_features):
    m = Motion.from_joints(fixture_joints)
    assert m.num_frames == len(fixture_joints) - 1
    np.testing.assert_allclose(m.joints, features_to_joints(m.features), atol=1e-5)
    # HumanML3D's own joints come back as (nearly) the same motion.
    assert np.abs(m.joints - fixture_joints[:-1]).max() < 0.02


def test_from_joints_resamples_to_20_fps():
    m30 = Motion.from_joints(_walk(fps=30), fps=30)
    m20 = Motion.from_joints(_walk(fps=20), fps=20)
    assert m30.num_frames == m20.num_frames
    assert np.abs(m30.joints - m20.joints).max() < 1e-4


def test_same_input_same_output(fixture_joints):
    a, b = Motion.from_joints(fixture_joints[:40]), Motion.from_joints(fixture_joints[:40])
    for key in ("features", "joints", "rotations"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def test_save_writes_exactly_the_contract(motion, tmp_path):
    path = motion.save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == CONTRACT_KEYS
        assert int(data["format_version"]) == FORMAT_VERSION and int(data["fps"]) == FPS
        for key in ("features", "joints", "rotations", "root_translation", "offsets"):
            assert data[key].dtype == np.float32, key
        assert tuple(data["joint_names"]) == JOINT_NAMES
        assert tuple(data["parents"]) == PARENTS
        assert data["offsets"].shape == (22, 3)
        np.testing.assert_array_equal(data["root_translation"], data["joints"][:, 0])
        assert str(data["text"]) == "a person walks"
        desc = json.loads(str(data["descriptions"]))
        assert set(desc["groups"]) == set(GROUPS) and set(desc["interactions"]) == set(PAIRS)
        assert desc["groups"]["neck"] == "nods" and desc["groups"]["torso"] == ""


def test_save_load_round_trip(motion, tmp_path):
    loaded = Motion.load(motion.save(tmp_path / "m.npz"))
    for key in ("features", "joints", "rotations", "offsets"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(motion, key))
    assert loaded.text == motion.text and loaded.descriptions == motion.descriptions
    assert loaded.source == "npz"


def test_empty_descriptions_are_stored_empty(fixture_features, tmp_path):
    m = Motion.from_features(fixture_features[:10])
    with np.load(m.save(tmp_path / "m.npz")) as data:
        assert str(data["descriptions"]) == "" and str(data["text"]) == ""
    assert Motion.load(tmp_path / "m.npz").descriptions is None


def test_save_never_replaces_a_file_unasked(motion, tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"user data")
    with pytest.raises(KinmoInputError, match="already exists"):
        motion.save(path)
    assert path.read_bytes() == b"user data"
    motion.save(path, overwrite=True)
    assert Motion.load(path).num_frames == motion.num_frames
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_failed_save_keeps_the_old_file(motion, tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    path.write_bytes(b"user data")

    def broken(f, **arrays):
        f.write(b"half a fi")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        motion.save(path, overwrite=True)
    assert path.read_bytes() == b"user data"
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    for k, v in changes.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: {"format_version": np.array(2)}, "format_version 2 is not supported"),
        (lambda m: {"joints": None}, "missing joints"),
        (lambda m: {"features": np.where(np.arange(263) == 5, np.nan, m.features).astype(np.float32)}, "NaN"),
        (lambda m: {"joints": m.joints[:, :21]}, r"joints has shape \(60, 21, 3\)"),
        (lambda m: {"rotations": m.rotations[:-1]}, "rotations has shape"),
        (
            lambda m: {"joints": m.joints + np.float32(0.1), "root_translation": m.root_translation + np.float32(0.1)},
            "do not match",
        ),
        (lambda m: {"root_translation": m.root_translation + np.float32(0.1)}, "root_translation differs"),
        (lambda m: {"rotations": m.rotations * 2}, "unit quaternions"),
        (lambda m: {"fps": np.array(30)}, "20 fps"),
        (lambda m: {"offsets": m.offsets[:21]}, r"offsets has shape \(21, 3\)"),
        (lambda m: {"joint_names": np.array(["hip"] * 22)}, "joint_names differ"),
        (lambda m: {"parents": np.array(["pelvis"] * 22)}, "parents differ"),
        (lambda m: {"fps": np.array("twenty")}, "20 fps"),
        (lambda m: {"features": m.features.astype(str)}, "dtype"),
        (lambda m: {"features": m.features[:1], "joints": m.joints[:1], "rotations": m.rotations[:1]}, "at least 2"),
        (lambda m: {"descriptions": np.array('{"groups": {"tail": "wags"}}')}, "unknown keys"),
    ],
)
def test_load_rejects_broken_files_with_one_line(motion, tmp_path, change, message):
    path = motion.save(tmp_path / "m.npz")
    _rewrite(path, **change(motion))
    with pytest.raises(KinmoInputError, match=message) as e:
        Motion.load(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_load_rejects_a_file_that_is_not_npz(tmp_path):
    path = tmp_path / "m.npz"
    path.write_text("hello")
    with pytest.raises(KinmoInputError, match="not a readable KinMo motion file"):
        load_motion(path)
    with zipfile.ZipFile(tmp_path / "z.npz", "w") as z:
        z.writestr("readme.txt", "not arrays")
    with pytest.raises(KinmoInputError, match="missing"):
        load_motion(tmp_path / "z.npz")


def test_load_motion_npy_features_and_joints(fixture_features, fixture_joints, tmp_path):
    m = load_motion(_save_npy(tmp_path / "f.npy", fixture_features))
    assert m.source == "humanml3d-features" and m.num_frames == len(fixture_features)
    j = load_motion(_save_npy(tmp_path / "j.npy", fixture_joints))
    assert j.source == "humanml3d-joints" and j.num_frames == len(fixture_joints) - 1


def _save_npy(path, array):
    np.save(path, array)
    return path


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((30, 21, 3)), r"shape \(30, 21, 3\) is neither"),
        (np.zeros((30, 262)), r"shape \(30, 262\)"),
        (np.zeros((0, 263)), "0 frames"),
        (np.zeros((1, 263)), "1 frame;"),
        (np.zeros((2, 22, 3)), "joints need at least 3"),
        (np.full((30, 22, 3), np.inf), "NaN or infinite"),
        (np.array(["a", "b"]), "numeric"),
    ],
)
def test_load_motion_rejects_bad_npy(array, message, tmp_path):
    with pytest.raises(KinmoInputError, match=message):
        load_motion(_save_npy(tmp_path / "x.npy", array))


def test_load_motion_refuses_pickles(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(KinmoInputError, match="not a readable .npy"):
        load_motion(path)


def test_load_motion_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(KinmoInputError, match="no such file"):
        load_motion(tmp_path / "nothing.npz")
    (tmp_path / "m.fbx").write_text("x")
    with pytest.raises(KinmoInputError, match="unknown extension '.fbx'"):
        load_motion(tmp_path / "m.fbx")
    with pytest.raises(KinmoInputError, match="not a file"):
        load_motion(_dir(tmp_path / "d.npz"))


def _dir(path):
    path.mkdir()
    return path


def test_save_motion_npy_layouts(motion, tmp_path):
    save_motion(motion, tmp_path / "f.npy")
    save_motion(motion, tmp_path / "j.npy", as_="joints")
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), motion.features)
    np.testing.assert_array_equal(np.load(tmp_path / "j.npy"), motion.joints)
    with pytest.raises(KinmoInputError, match="unknown .npy layout"):
        save_motion(motion, tmp_path / "r.npy", as_="rotations")
    with pytest.raises(KinmoInputError, match="already exists"):
        save_motion(motion, tmp_path / "f.npy")


def test_bvh_round_trip(motion, tmp_path):
    path = motion.to_bvh(tmp_path / "m.bvh")
    back = load_motion(path)
    assert back.source.startswith("bvh")
    n = min(back.num_frames, motion.num_frames)
    assert abs(back.num_frames - motion.num_frames) <= 1
    assert np.abs(back.joints[:n] - motion.joints[:n]).max() < 0.02
    with pytest.raises(KinmoInputError, match="already exists"):
        motion.to_bvh(path)


def test_descriptions_are_normalised_and_checked():
    d = normalize_descriptions({"interactions": {"left_arm|torso": "arm swings by the hip"}})
    assert list(d["groups"]) == list(GROUPS) and list(d["interactions"]) == list(PAIRS)
    assert d["interactions"]["left_arm|torso"] == "arm swings by the hip"
    assert normalize_descriptions("") is None and normalize_descriptions(None) is None
    with pytest.raises(KinmoInputError, match="not valid JSON"):
        normalize_descriptions("{oops")
    with pytest.raises(KinmoInputError, match="values must be strings"):
        normalize_descriptions({"groups": {"neck": 3}})
    with pytest.raises(KinmoInputError, match='"groups" and "interactions"'):
        normalize_descriptions({"bodies": {}})


def test_stats_of_a_gliding_rest_pose():
    stats = motion_stats(Motion.from_joints(_walk(seconds=2.0, speed=1.0)))
    assert stats["frames"] == 40 and stats["seconds"] == pytest.approx(2.0)
    assert stats["root_distance_m"] == pytest.approx(39 / FPS, abs=0.01)
    assert stats["max_bone_length_error_m"] < 1e-3
    # Every joint moves at 1 m/s, so every group's mean squared speed is 1.
    for g in GROUPS:
        assert stats["group_energy"][g] == pytest.approx(1.0, abs=0.02)
    box = np.array(stats["bounding_box_m"]["max"]) - np.array(stats["bounding_box_m"]["min"])
    assert box[2] == pytest.approx(39 / FPS + 0.2, abs=0.2)


def test_stats_of_a_still_pose_has_both_feet_down():
    still = np.repeat(rest_pose()[None], 21, axis=0)
    stats = motion_stats(Motion.from_joints(still))
    assert stats["foot_contact_share"]["both"] == pytest.approx(1.0)
    assert all(e < 1e-6 for e in stats["group_energy"].values())
    assert stats["root_distance_m"] < 1e-6


@requires_shared
@pytest.mark.parametrize("name", ["dataset-1_bow_active_001.bvh", "dataset-1_walk_happy_001.bvh"])
def test_a_bandai_clip_becomes_a_motion(tmp_path, name):
    # A clip in place and one that travels (its static joint_Root stays at the origin while the body walks away).
    path = next(p for p in bandai_files() if p.name == name)
    m = load_motion(path)
    assert m.source.startswith("bvh") and m.num_frames > 20
    # Upright on the floor: the head well above the pelvis, the whole body within a human height.
    head_up = m.joints[:, JOINT_INDEX["head"], 1] - m.joints[:, 0, 1]
    assert head_up.mean() > 0.4, f"the converted clip is not upright (head {head_up.mean():.2f} m above pelvis)"
    assert m.joints[..., 1].max() < 2.5
    assert motion_stats(m)["max_bone_length_error_m"] < 0.01
    assert Motion.load(m.save(tmp_path / "b.npz")).num_frames == m.num_frames


def test_saved_files_get_the_usual_permissions(motion, tmp_path):
    # Temporary files are private (0600); a finished motion file must be readable like any other file.
    old = os.umask(0o022)
    try:
        for path in (motion.save(tmp_path / "m.npz"), save_motion(motion, tmp_path / "m.npy")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_atomic_output_refuses_folders_and_cleans_up(tmp_path):
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(KinmoInputError, match="is a folder"):
        with atomic_output(tmp_path / "d.npz", overwrite=True):
            pass
    with pytest.raises(KinmoInputError, match="does not exist"):
        write_atomic(tmp_path / "no" / "x.npy", lambda f: f.write(b"x"))
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_output(tmp_path / "x.bin") as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


def test_a_folder_without_write_permission_is_one_clear_error(motion, tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(KinmoInputError, match="no permission to write"):
        motion.save(tmp_path / "m.npz")
