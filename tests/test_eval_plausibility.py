"""Plausibility figures on constructed motions with known answers, and on a real HumanML3D clip."""

from __future__ import annotations

import numpy as np
import pytest

from kinmo_core.errors import KinmoInputError
from kinmo_core.eval import plausibility_report as pl
from kinmo_core.motion.skeleton import BONE_LENGTHS, FPS, rest_pose


def still(frames: int = 30) -> np.ndarray:
    return np.repeat(rest_pose()[None], frames, axis=0)


def test_standing_still_is_plausible():
    r = pl.plausibility_report(still())
    assert r["skate_ratio"] == 0.0 and r["skate_distance_cm"] == 0.0
    assert r["contact_phases"] == 2  # each toe is on the ground for the whole clip
    assert r["penetration_max_cm"] == 0.0 and r["float_ratio"] == 0.0
    assert r["bone_length_error_cm"] == pytest.approx(0.0, abs=1e-9)
    assert r["jerk_max"] == 0.0


def test_sliding_feet_skate():
    j = still(21)
    speed = 1.0  # m/s, far above SKATE_SPEED_THRESHOLD
    j[..., 0] += speed * np.arange(21)[:, None] / FPS
    r = pl.foot_skating(j)
    assert r["skate_ratio"] == 1.0
    assert r["skate_distance_cm"] == pytest.approx(100.0 * speed * 20 / FPS)  # each phase slides 1 m in 1 s
    slow = still(21)
    slow[..., 0] += 0.2 * np.arange(21)[:, None] / FPS
    assert pl.foot_skating(slow)["skate_ratio"] == 0.0  # 1 cm per frame is under the speed threshold
    lifted = j.copy()
    lifted[..., 1] += 0.3  # the same slide in the air is not skating
    assert pl.foot_skating(lifted)["skate_ratio"] == 0.0 and pl.foot_skating(lifted)["contact_phases"] == 0


def test_penetration_and_floating():
    j = still(10)
    j[:5, :, 1] -= 0.03
    r = pl.ground_penetration(j)
    assert r["penetration_max_cm"] == pytest.approx(3.0)
    assert r["penetration_mean_cm"] == pytest.approx(1.5)
    assert r["penetration_ratio"] == 0.5
    up = still(10)
    up[2:6, :, 1] += 0.2
    f = pl.floating(up)
    assert f["float_ratio"] == pytest.approx(0.4) and f["float_height_cm"] == pytest.approx(20.0)


def test_bone_lengths():
    big = still() * 1.1
    r = pl.bone_length_deviation(big)
    assert r["bone_length_error_cm"] == pytest.approx(100 * 0.1 * BONE_LENGTHS[1:].mean())
    assert r["bone_length_std_cm"] == pytest.approx(0.0, abs=1e-9)
    assert pl.bone_length_deviation(big, reference=BONE_LENGTHS * 1.1)["bone_length_error_cm"] == pytest.approx(
        0.0, abs=1e-9)
    wobbly = still(20)
    wobbly[::2, 20] += [0.0, -0.02, 0.0]  # the left forearm is 2 cm longer every other frame: std 1 cm
    assert pl.bone_length_deviation(wobbly)["bone_length_std_cm"] == pytest.approx(1.0 / 21, rel=1e-3)


def test_jerk_of_a_cubic():
    t = np.arange(30) / FPS
    j = still(30)
    j[..., 0] += 0.5 * t[:, None] ** 3  # x = a t^3 has jerk 6a
    r = pl.jerk(j)
    assert r["jerk_mean"] == pytest.approx(3.0, rel=1e-6) and r["jerk_max"] == pytest.approx(3.0, rel=1e-6)


def test_real_clip_is_plausible(fixture_joints):
    r = pl.plausibility_report(fixture_joints)
    assert r["skate_ratio"] < 0.2
    assert r["penetration_max_cm"] < 5.0
    assert r["bone_length_std_cm"] < 1.0
    assert np.isfinite(list(r.values())).all()
    agg = pl.aggregate_reports([r, pl.plausibility_report(still())])
    assert agg["jerk_max"] == r["jerk_max"]
    assert agg["skate_ratio"] == pytest.approx(r["skate_ratio"] / 2)


def test_bad_input():
    with pytest.raises(KinmoInputError, match="shape"):
        pl.plausibility_report(np.zeros((10, 22)))
    with pytest.raises(KinmoInputError, match="at least 4"):
        pl.jerk(still(3))
    with pytest.raises(KinmoInputError, match="NaN"):
        pl.floating(np.full((5, 22, 3), np.inf))
    with pytest.raises(KinmoInputError, match="no plausibility"):
        pl.aggregate_reports([])


def test_true_runs_finds_every_maximal_run_including_the_edges():
    from kinmo_core.motion.contacts import true_runs

    assert true_runs(np.array([1, 1, 0, 1, 0, 0, 1, 1, 1], bool)) == [(0, 2), (3, 4), (6, 9)]
    assert true_runs(np.zeros(4, bool)) == []
    assert true_runs(np.ones(3, bool)) == [(0, 3)]
    assert all(type(a) is int and type(b) is int for a, b in true_runs(np.array([0, 1, 1], bool)))
