"""Shared test fixtures: reference files and the optional ../shared data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(os.environ.get("KINMO_SHARED", ROOT.parent / "shared"))
BANDAI_DIR = SHARED / "data" / "bandai-namco-1" / "data"


def bandai_files() -> list[Path]:
    """Return every Bandai-Namco BVH file, or an empty list where ../shared is absent."""
    return sorted(BANDAI_DIR.glob("*.bvh")) if BANDAI_DIR.is_dir() else []


requires_shared = pytest.mark.skipif(
    not bandai_files(), reason=f"the Bandai-Namco mocap set is not at {BANDAI_DIR} (set KINMO_SHARED to ../shared)"
)


@pytest.fixture(scope="session")
def fixture_joints() -> np.ndarray:
    """HumanML3D's recovered joints of motion 012314, (170, 22, 3)."""
    return np.load(FIXTURES / "012314_new_joints.npy")


@pytest.fixture(scope="session")
def fixture_features() -> np.ndarray:
    """HumanML3D's features of motion 012314, (170, 263)."""
    return np.load(FIXTURES / "012314_new_joint_vecs.npy")


@pytest.fixture(scope="session")
def fixture_features_612() -> np.ndarray:
    """HumanML3D's features of motion 000612, (199, 263)."""
    return np.load(FIXTURES / "000612_new_joint_vecs.npy")


@pytest.fixture(scope="module")
def motion_path(tmp_path_factory) -> Path:
    """A 3 s KinMo motion file (walk.npz) built from HumanML3D's fixture joints with the project's own Motion class."""
    motion_mod = pytest.importorskip("kinmo_core.motion.file")
    joints = np.load(FIXTURES / "012314_new_joints.npy")[:61]
    motion = motion_mod.Motion.from_joints(joints, text="a person walks forward")
    return motion.save(tmp_path_factory.mktemp("motion") / "walk.npz")
