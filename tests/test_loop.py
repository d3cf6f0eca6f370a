"""Seamless loops: `pipe(text, loop=True)` and `kinmo generate --loop`."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from kinmo_core.editing.loop import close_loop, loop_gaps
from kinmo_core.motion.features import features_to_joints
from kinmo_core.motion.file import load_motion


@pytest.fixture(scope="module")
def pipe():
    from kinmo_core.pipeline import KinMoPipeline

    torch.set_num_threads(1)
    return KinMoPipeline.from_pretrained()


@pytest.mark.parametrize("text", ["a person walks forward", "a person waves the right hand"])
def test_loop_wraps_smoothly(pipe, text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pipe(text, seconds=3, seed=0, loop=True)
        plain = pipe(text, seconds=3, seed=0)
    assert m.num_frames == plain.num_frames
    g = loop_gaps(m.joints)
    assert g["pose_gap"] < g["median_step"] and g["velocity_gap"] < g["median_step"]
    # The plain clip does not wrap: its gap is far larger than the loop's.
    assert loop_gaps(plain.joints)["pose_gap"] > g["pose_gap"]
    assert np.abs(features_to_joints(m.features.astype(np.float64)) - m.joints).max() < 1e-3


def test_close_loop_in_place_returns_to_start():
    from kinmo_core.editing.composite import placed_features
    from kinmo_core.motion.skeleton import rest_pose

    t = np.arange(60)
    j = np.repeat(rest_pose()[None], 60, 0).astype(np.float64)
    j[:, :, 0] += 0.002 * t[:, None]  # slow drift: an in-place action
    j[:, :, 0] -= j[0, 0, 0]
    j[:, :, 2] -= j[0, 0, 2]
    joints, info = close_loop(placed_features(j))
    assert info["in_place"]
    step = joints[1, 0] - joints[0, 0]
    wrap = joints[0, 0] - joints[-1, 0]
    assert np.abs(wrap[[0, 2]] - step[[0, 2]]).max() < 1e-4


def test_cli_generate_loop(tmp_path):
    from kinmo_core.cli.main import main

    out = tmp_path / "loop"
    assert main(["generate", "a person jogs in place", "-o", str(out), "--seconds", "2", "--loop"]) == 0
    m = load_motion(out / "motion.npz")
    g = loop_gaps(m.joints)
    assert g["pose_gap"] < g["median_step"]
