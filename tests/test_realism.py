"""Realism figures (issue 21): speed, standing jitter, arm energy in the body frame, pelvis height, aggregation."""

from __future__ import annotations

import numpy as np

from kinmo_core.eval.plausibility_report import foot_skating
from kinmo_core.eval.realism import (
    CONTENT_KIND,
    aggregate_realism,
    arm_energy,
    locomotion_speed,
    pelvis_height,
    realism_figures,
    standing_jitter,
)
from kinmo_core.motion.skeleton import FPS, JOINT_INDEX, PARENTS, TARGET_OFFSETS


def _rest_pose() -> np.ndarray:
    pose = np.zeros((22, 3))
    for j in range(1, 22):
        pose[j] = pose[PARENTS[j]] + TARGET_OFFSETS[j]
    pose[:, 1] -= pose[:, 1].min()  # feet on the floor
    return pose


def test_speed_jitter_and_arm_energy_of_simple_motions():
    pose = _rest_pose()
    t = np.arange(60) / FPS
    walk = np.repeat(pose[None], 60, 0)
    walk[:, :, 2] += 1.2 * t[:, None]  # rigid glide forward at 1.2 m/s
    assert abs(locomotion_speed(walk) - 1.2) < 1e-9
    assert arm_energy(walk) < 1e-12  # travel is not arm motion
    assert abs(pelvis_height(walk) - pose[0, 1]) < 1e-9
    assert foot_skating(walk)["skate_ratio"] == 1.0  # the project's definition sees a gliding body skate

    stand = np.repeat(pose[None], 60, 0)
    assert standing_jitter(stand) == 0.0
    rng = np.random.default_rng(0)
    shaky = stand + rng.normal(0, 0.002, stand.shape)
    assert standing_jitter(shaky) > 1.0  # 2 mm noise at 20 fps: about 2-3 m/s^2
    assert np.isnan(standing_jitter(walk))  # never stands

    swing = stand.copy()
    w = JOINT_INDEX["left_wrist"]
    swing[:, w, 2] += 0.2 * np.sin(2 * np.pi * t)  # 20 cm at 1 Hz
    expected = np.mean(np.diff(swing[:, w, 2]) ** 2) * FPS ** 2 / 4  # one of four arm joints moves
    assert abs(arm_energy(swing) - expected) < 1e-9


def test_figures_and_aggregation():
    pose = _rest_pose()
    sunk = np.repeat(pose[None], 20, 0)
    sunk[10:, :, 1] -= 0.03  # half the clip 3 cm under the floor
    f = realism_figures(sunk)
    assert abs(f["below_floor_ratio"] - 0.5) < 1e-9 and abs(f["penetration_max_cm"] - 3.0) < 1e-6
    agg = aggregate_realism([("walk", {**f, "speed_mps": 1.0}), ("walk", {**f, "speed_mps": 2.0}),
                             ("stand", f), ("other", {**f, "penetration_max_cm": 5.0})])
    assert agg["walk"]["clips"] == 2 and agg["walk"]["speed_mps"] == 1.5
    assert agg["all"]["clips"] == 4 and agg["all"]["penetration_max_cm"] == 5.0 and "run" not in agg
    assert CONTENT_KIND["raise-up-left-hand"] == "stand" and CONTENT_KIND["walk"] == "walk"
