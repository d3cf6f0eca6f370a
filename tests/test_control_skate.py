"""The joint-space solve must not add foot skating: swing feet keep their clearance when targets move the body."""

from __future__ import annotations

import numpy as np
import pytest

from kinmo_core.control.solve import SolveSettings, solve_joints
from kinmo_core.eval.plausibility_report import foot_skating
from kinmo_core.motion.contacts import FOOT_JOINTS, ground_contacts
from kinmo_core.motion.skeleton import JOINT_INDEX
from kinmo_core.pipeline import KinMoPipeline


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    pipe = KinMoPipeline.from_pretrained(load_reasoner=False)
    return pipe("a person walks forward", frames=120, seed=3, levels=1, cleanup=False).joints.astype(np.float64)


def test_lowered_pelvis_keeps_swing_feet_up(walk):
    tg = np.full_like(walk, np.nan)
    tg[:, JOINT_INDEX["pelvis"]] = walk[:, JOINT_INDEX["pelvis"]] - [0.0, 0.08, 0.0]  # walk 8 cm lower
    out = solve_joints(walk, tg)
    assert np.abs(out[:, 0] - tg[:, 0]).max() < 0.01
    # Without the clearance term the same solve presses the swing feet to the floor (why the term exists).
    loose = solve_joints(walk, tg, settings=SolveSettings(clearance=0.0))
    planted = np.concatenate((ground_contacts(walk), ground_contacts(walk)[-1:]))
    drop, drop_loose = [], []
    for k, j in enumerate(FOOT_JOINTS):
        swing = ~planted[:, k] & (walk[:, j, 1] > 0.05)
        drop.append(np.maximum(walk[swing, j, 1] - out[swing, j, 1], 0.0).mean())
        drop_loose.append(np.maximum(walk[swing, j, 1] - loose[swing, j, 1], 0.0).mean())
    assert np.mean(drop) < 0.3 * np.mean(drop_loose)
    # Walking 8 cm lower still bends the legs through the steps (0.03 -> 0.11 here), but far less than 0.5.
    assert foot_skating(out)["skate_ratio"] < 0.3 * foot_skating(loose)["skate_ratio"]
