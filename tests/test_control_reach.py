"""Targets on the head and hands taken from a motion that travels elsewhere are met, with the body intact."""

from __future__ import annotations

import numpy as np
import pytest

from kinmo_core.control.solve import (
    _root_shift,
    joints_to_motion_features,
    release_locks,
    solve_joints,
    target_steps,
)
from kinmo_core.eval.plausibility_report import foot_skating
from kinmo_core.motion.contacts import skate_per_phase
from kinmo_core.motion.features import features_to_joints
from kinmo_core.motion.plausibility import JOINT_LIMITS, joint_angles
from kinmo_core.motion.skeleton import BONE_LENGTHS, JOINT_INDEX, bone_lengths, rest_pose
from kinmo_core.pipeline import KinMoPipeline

J = JOINT_INDEX


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    pipe = KinMoPipeline.from_pretrained(load_reasoner=False)
    return pipe("a person walks forward", frames=120, seed=3, levels=1, cleanup=False).joints.astype(np.float64)


def _elsewhere(walk: np.ndarray) -> np.ndarray:
    # The same walk drifting 1.5 m to its left by the end: the targets lie metres from the generated joints.
    drift = np.linspace(0.0, 1.5, len(walk))
    return walk + drift[:, None, None] * np.array([1.0, 0.0, 0.0])


def test_root_shift_moves_the_body_within_reach_from_frame_0():
    p = np.repeat(rest_pose()[None], 11, axis=0)
    tg = np.full_like(p, np.nan)
    tg[10, J["left_wrist"]] = p[10, J["left_wrist"]] + [1.0, 0.0, 0.0]
    tg[10, J["head"]] = p[10, J["head"]] + [0.0, 0.3, 2.0]
    shift = _root_shift(p, tg)
    # The wrist reaches 0.25 m by itself, the head 0.05 m; the body moves by the mean of the rest, on the ground.
    np.testing.assert_allclose(shift[10], [0.75 / 2, 0.0, 1.95 / 2], atol=1e-9)
    np.testing.assert_allclose(shift[0], 0.0, atol=1e-12)  # frame 0 stays where features start it
    np.testing.assert_allclose(shift[5], shift[10] / 2, atol=1e-9)
    assert not _root_shift(p, np.full_like(p, np.nan)).any()
    # A pelvis target (a keyframe at frame 0, say) wins at its frame; a far hand elsewhere still moves the body.
    tg[0, J["pelvis"]] = p[0, J["pelvis"]]
    np.testing.assert_allclose(_root_shift(p, tg)[10], shift[10], atol=1e-9)
    tg[10, J["pelvis"]] = p[10, J["pelvis"]] + [0.1, 0.0, 0.0]
    np.testing.assert_allclose(_root_shift(p, tg)[10], [0.1, 0.0, 0.0], atol=1e-9)


@pytest.mark.parametrize("joint", ["head", "left_wrist"])
@pytest.mark.parametrize("every", [1, 10])
def test_far_targets_are_met_with_the_body_intact(walk, joint, every):
    real = _elsewhere(walk)
    frames = np.arange(0, len(walk), every)
    tg = np.full_like(walk, np.nan)
    tg[frames, J[joint]] = real[frames, J[joint]]
    out = solve_joints(walk, tg)
    back = np.asarray(features_to_joints(joints_to_motion_features(out, level=False)))  # what the user gets
    err = np.linalg.norm(back[frames, J[joint]] - real[frames, J[joint]], axis=-1)
    assert err.mean() < 0.01 and err.max() < 0.02
    np.testing.assert_allclose(bone_lengths(out)[:, 1:], np.broadcast_to(BONE_LENGTHS[1:], (len(out), 21)), atol=1e-9)
    angles = joint_angles(out)
    for name, (lo, hi) in JOINT_LIMITS.items():
        assert angles[name].min() >= lo - 1.0 and angles[name].max() <= hi + 1.0, name
    assert out[..., 1].min() > -0.005
    assert skate_per_phase(out).max() < 0.02  # planted feet stay planted (the walk itself drifts 9.6 cm)


def test_release_locks_frees_only_the_contact_phases_near_a_missed_target():
    locks = np.full((40, 22, 3), np.nan)
    foot = J["left_foot"]
    locks[0:10, foot] = 1.0  # a phase far from the miss: kept
    locks[20:30, foot] = 2.0  # a phase within the window: freed whole
    missed = np.zeros((40, 22), bool)
    missed[33, J["pelvis"]] = True
    out = release_locks(locks, missed, window=5)
    assert np.isfinite(out[0:10, foot]).all() and np.isnan(out[20:30, foot]).all()
    assert np.isnan(locks[20:30, foot]).sum() == 0  # the input is not changed


def test_a_travelling_pelvis_path_on_a_standing_motion_is_met(walk):
    # The generated motion stands (its feet planted throughout) and the targets walk 2.4 m out and turn back: the
    # planted feet cannot follow, so they let go and re-plant where the body now stands. Before, the feet won and the
    # path was missed by a metre.
    pipe = KinMoPipeline.from_pretrained(load_reasoner=False)
    stand = pipe("a person stands still", frames=120, seed=3, levels=1, cleanup=False).joints.astype(np.float64)
    t = np.linspace(0.0, 1.0, len(stand))
    tg = np.full_like(stand, np.nan)
    tg[:, J["pelvis"]] = walk[:, J["pelvis"]]
    tg[:, J["pelvis"], 0] = np.sin(np.pi * t)
    tg[:, J["pelvis"], 2] = 8.0 * t * (1.1 - t)
    out = solve_joints(stand, tg)
    assert np.linalg.norm(out[:, J["pelvis"]] - tg[:, J["pelvis"]], axis=-1).max() < 0.02
    np.testing.assert_allclose(bone_lengths(out)[:, 1:], np.broadcast_to(BONE_LENGTHS[1:], (len(out), 21)), atol=1e-9)
    assert out[..., 1].min() > -0.005


def test_features_keep_a_motion_that_floats_above_the_floor(walk):
    up = walk + [0.0, 0.01, 0.0]  # planted toes 1 cm up: the targets must not sink with a re-levelled floor
    back = np.asarray(features_to_joints(joints_to_motion_features(up, level=False)))
    assert np.abs(back - up).max() < 1e-4


def test_sparse_foot_targets_from_another_walk_do_not_add_skating(walk):
    # Every 4th frame of the left toe of the same walk 1.5 m to the side: the foot stands where those targets stand
    # and steps (lifted) between them, instead of sliding along the floor from target to target.
    real = _elsewhere(walk)
    frames = np.arange(0, len(walk), 4)
    tg = np.full_like(walk, np.nan)
    tg[frames, J["left_foot"]] = real[frames, J["left_foot"]]
    out = solve_joints(walk, tg)
    # Within 1.2 cm: the generated toes the targets come from sink up to 1 cm under the floor, which the foot may not.
    assert np.linalg.norm(out[frames, J["left_foot"]] - real[frames, J["left_foot"]], axis=-1).max() < 0.015
    # 0.076 with the v2 walk (itself 0.042); 0.109 when targets drifting 1.25 cm per frame made the foot hop
    # between them every 4 frames; 0.54 when the foot only met its targets and slid between them.
    assert foot_skating(out)["skate_ratio"] < 0.1


def test_target_steps_plant_and_lift_between_ground_targets():
    tg = np.full((21, 22, 3), np.nan)
    toe = J["left_foot"]
    tg[0, toe] = [0.0, 0.0, 0.0]
    tg[4, toe] = [0.0, 0.005, 0.01]  # still standing: held on the line between
    tg[14, toe] = [0.0, 0.0, 0.5]  # a step of 0.5 m: stand, swing lifted, stand
    tg[20, toe] = [0.0, 0.3, 0.8]  # lifted: no lock, the swing comes last
    locks, lift = target_steps(tg)
    np.testing.assert_allclose(locks[2, toe], [0.0, 0.0025, 0.005])
    swing = np.flatnonzero(lift[:14, toe] > 0)
    assert len(swing) == 9 and swing[0] > 4 and swing[-1] < 14  # ceil(0.5 / 0.06) frames, inside the gap
    assert (lift[15:20, toe] > 0).all() and np.isnan(locks[15:20, toe]).all()  # towards the lifted target
    np.testing.assert_allclose(locks[4:swing[0], toe], np.broadcast_to(tg[4, toe], (swing[0] - 4, 3)))
    np.testing.assert_allclose(locks[swing[-1] + 1:15, toe], np.broadcast_to(tg[14, toe], (14 - swing[-1], 3)))
    assert np.isnan(locks[swing, toe]).all() and (lift[swing, toe] > 0.05).all()
    assert not np.isfinite(locks[:, J["right_foot"]]).any()
