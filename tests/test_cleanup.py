"""The pipeline's foot-contact and jitter cleanup (kinmo_core.motion.cleanup, issue 21): floor, locked feet, jitter."""

from __future__ import annotations

import numpy as np
import pytest

from kinmo_core.eval.realism import arm_energy, standing_jitter
from kinmo_core.motion.cleanup import (
    clean_features,
    clean_feet,
    clean_motion_joints,
    fix_limbs,
    joints_to_motion_features,
    lower_to_reach,
)
from kinmo_core.motion.contacts import skate_per_phase
from kinmo_core.motion.features import features_to_joints
from kinmo_core.motion.file import Motion
from kinmo_core.motion.skeleton import BONE_LENGTHS, FPS, JOINT_INDEX, bone_lengths, rest_pose

J = JOINT_INDEX
FEET = [J["left_ankle"], J["left_foot"], J["right_ankle"], J["right_foot"]]


def standing(n: int = 120) -> np.ndarray:
    """A body standing still, feet on the floor (y = 0)."""
    pose = rest_pose()
    pose[:, 1] -= pose[:, 1].min()
    return np.repeat(pose[None], n, axis=0)


def jittery(n: int = 120, noise: float = 0.004, seed: int = 0) -> np.ndarray:
    """Standing with a generator's per-frame shake (noise in metres) and the body dipping under the floor."""
    rng = np.random.default_rng(seed)
    j = standing(n) + rng.normal(0.0, noise, (n, 22, 3))
    j[:, :, 1] -= 0.01 * (1 + np.sin(np.arange(n) / 7.0))[:, None]  # sinks up to 2 cm below the floor
    return j


def test_no_joint_under_the_floor_after_cleanup():
    raw = jittery()
    assert raw[..., 1].min() < -0.015
    out = clean_motion_joints(raw)
    assert out[..., 1].min() >= -1e-9
    # The floor is where the feet stand, not 2 cm below the lowest dip: the planted toes touch it.
    assert np.median(out[:, [J["left_foot"], J["right_foot"]], 1].min(axis=1)) < 0.01


def test_planted_feet_are_locked_and_bones_exact():
    n = 80
    walk = standing(n)
    drift = np.linspace(0.0, 0.2, n)  # the whole body slides 20 cm forward: feet skate 2.5 mm per frame
    walk[:, :, 2] += drift[:, None]
    before = skate_per_phase(walk)
    assert before.max() > 0.15
    out = clean_feet(walk)
    after = skate_per_phase(out)
    assert after.max() < 0.01
    np.testing.assert_allclose(bone_lengths(out)[:, 1:], np.broadcast_to(BONE_LENGTHS[1:], (n, 21)), atol=1e-9)
    assert out[..., 1].min() > -1e-9


def test_standing_jitter_removed_but_an_arm_swing_kept():
    raw = jittery(noise=0.003)
    t = np.arange(len(raw)) / FPS
    wrist, elbow = J["left_wrist"], J["left_elbow"]
    # A 1 Hz wave of the forearm, 25 cm wide: real motion the filter must keep.
    raw[:, wrist, 0] += 0.25 * np.sin(2 * np.pi * t)
    raw[:, elbow, 0] += 0.08 * np.sin(2 * np.pi * t)
    out = clean_motion_joints(raw)
    assert standing_jitter(out) < 0.25 * standing_jitter(raw)
    assert standing_jitter(out) < 0.5  # m/s^2; real standing clips: 0.27-0.53 (BENCHMARKS.md)
    swing_raw = np.ptp(raw[:, wrist, 0] - raw[:, J["left_shoulder"], 0])
    swing_out = np.ptp(out[:, wrist, 0] - out[:, J["left_shoulder"], 0])
    assert swing_out > 0.9 * swing_raw - 0.02  # the wave keeps its amplitude (bones are made exact, noise goes)
    clean_swing = standing(len(raw))
    clean_swing[:, wrist, 0] += 0.25 * np.sin(2 * np.pi * t)
    clean_swing[:, elbow, 0] += 0.08 * np.sin(2 * np.pi * t)
    assert arm_energy(out) > 0.8 * arm_energy(clean_swing)


def test_clean_features_round_trip_and_contacts_from_cleaned_joints():
    raw = jittery(n=60)
    feats = joints_to_motion_features(raw)
    cleaned = clean_features(feats)
    assert cleaned.shape == feats.shape and cleaned.dtype == np.float32
    m = Motion.from_features(cleaned)
    assert m.joints[..., 1].min() >= -1e-5  # float32 file
    j = np.asarray(features_to_joints(cleaned.astype(np.float64)))
    # The contact channels are recomputed from the cleaned joints (the one rule, motion.contacts).
    from kinmo_core.motion.contacts import foot_contacts

    np.testing.assert_array_equal(cleaned[:-1, 259:263] > 0.5, foot_contacts(j)[:, :])


def test_short_clip_is_cleaned_without_error():
    out = clean_motion_joints(jittery(n=4))
    assert out.shape == (4, 22, 3) and np.isfinite(out).all() and out[..., 1].min() >= -1e-9


@pytest.fixture(scope="module")
def tiny():
    from kinmo_core.pipeline import random_pipeline

    return random_pipeline("tiny", seed=0)


def test_switch_off_is_the_old_output_bit_exact_and_on_is_the_cleanup(tiny):
    texts = ["a person walks forward", "a person waves"]
    raw, used = tiny.generate_features(texts, 40, seed=3, levels=1)
    off = tiny.generate(texts, frames=40, seed=3, levels=1, cleanup=False)
    on = tiny.generate(texts, frames=40, seed=3, levels=1)
    for r, a, b in zip(raw, off, on, strict=True):
        old = Motion.from_features(r)
        np.testing.assert_array_equal(a.features, old.features)
        np.testing.assert_array_equal(a.joints, old.joints)
        np.testing.assert_array_equal(b.features, clean_features(r))
        assert b.joints[..., 1].min() >= -1e-5
    one_off = tiny("a person walks forward", frames=40, seed=3, levels=1, cleanup=False)
    (single,), _ = tiny.generate_features(["a person walks forward"], 40, seed=3, levels=1)
    np.testing.assert_array_equal(one_off.features, Motion.from_features(single).features)


def test_cli_and_worker_expose_the_switch(tmp_path):
    from kinmo_core.cli.main import build_parser
    from kinmo_core.cli.worker import GENERATE_PARAMS

    args = build_parser().parse_args(["generate", "a person walks", "-o", str(tmp_path), "--no-cleanup"])
    assert args.no_cleanup is True
    assert GENERATE_PARAMS["cleanup"].default is True


def test_lower_to_reach_lets_a_leg_reach_a_planted_foot():
    p = np.repeat(rest_pose()[None].astype(np.float64), 30, axis=0)
    ankle = JOINT_INDEX["left_ankle"]
    goal = np.full_like(p, np.nan)
    # A planted ankle 25 cm ahead at frame 15: out of reach of the straight leg from where the hip stands.
    goal[15, ankle] = p[15, ankle] + [0.0, 0.0, 0.25]
    low = lower_to_reach(p, goal)
    drop = p[:, 0, 1] - low[:, 0, 1]
    assert 0.0 < drop[15] <= 0.10 and drop[0] == 0.0 and drop[-1] == 0.0  # lowered there only, smoothly
    assert np.abs(np.diff(drop)).max() < 0.03
    np.testing.assert_allclose(low - low[:, :1], p - p[:, :1])  # the whole body moves, not its pose
    out = fix_limbs(low, goal)
    assert np.linalg.norm(out[15, ankle] - goal[15, ankle]) < 1e-4
    assert np.linalg.norm(fix_limbs(p, goal)[15, ankle] - goal[15, ankle]) > 0.005  # without lowering: out of reach
    held = np.zeros(30, bool)
    held[10:20] = True
    assert np.array_equal(lower_to_reach(p, goal, ~held), p)  # frames whose height a target holds stay
