"""The one definition of the 22-joint SMPL / HumanML3D skeleton.

Conventions used everywhere in KinMo: Y is up, units are metres, a body at rest
faces +Z (so its left side is +X), and motion is sampled at 20 frames per second.
Joint indices, parents, kinematic chains, rest directions and target bone lengths
are defined here once and imported by every other module.
"""

from __future__ import annotations

import numpy as np

FPS: int = 20
"""Frame rate of every motion KinMo stores or generates."""

UP_AXIS: tuple[float, float, float] = (0.0, 1.0, 0.0)
FORWARD_AXIS: tuple[float, float, float] = (0.0, 0.0, 1.0)

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
)
NUM_JOINTS: int = len(JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
"""Parent joint index of each joint; the pelvis (root) has -1."""

KINEMATIC_CHAINS: tuple[tuple[int, ...], ...] = (
    (0, 2, 5, 8, 11),  # right leg
    (0, 1, 4, 7, 10),  # left leg
    (0, 3, 6, 9, 12, 15),  # spine, neck, head
    (9, 14, 17, 19, 21),  # right arm
    (9, 13, 16, 18, 20),  # left arm
)
"""HumanML3D's chain order; inverse and forward kinematics walk the joints in this order."""

RAW_OFFSETS: np.ndarray = np.array(
    [
        [0, 0, 0],
        [1, 0, 0],
        [-1, 0, 0],
        [0, 1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, 1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0, 0, 1],
        [0, 1, 0],
        [1, 0, 0],
        [-1, 0, 0],
        [0, 0, 1],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
    ],
    dtype=np.float64,
)
"""Unit rest direction of the bone from each joint's parent to the joint (HumanML3D's t2m_raw_offsets)."""

BONE_LENGTHS: np.ndarray = np.array(
    [
        0.0,  # pelvis: the root has no bone
        0.103074,
        0.109883,
        0.131568,
        0.393623,
        0.390188,
        0.14319,
        0.432433,
        0.425643,
        0.057365,
        0.143382,
        0.149419,
        0.21936,
        0.137487,
        0.143383,
        0.103039,
        0.131614,
        0.122984,
        0.25684,
        0.263092,
        0.266012,
        0.269876,
    ],
    dtype=np.float64,
)
"""Target bone lengths in metres, read off frame 0 of HumanML3D's 012314_new_joints.npy.

HumanML3D retargets every motion to this one skeleton, so these are the lengths of
all its (and KinMo's) motions. The pelvis entry is unused.
"""

TARGET_OFFSETS: np.ndarray = RAW_OFFSETS * BONE_LENGTHS[:, None]
"""Rest offset of each joint from its parent in metres (HumanML3D rest pose: arms hanging down, facing +Z)."""

LEFT_FOOT_JOINTS: tuple[int, int] = (7, 10)  # left ankle, left foot
RIGHT_FOOT_JOINTS: tuple[int, int] = (8, 11)  # right ankle, right foot
FACE_JOINTS: tuple[int, int, int, int] = (2, 1, 17, 16)
"""Right hip, left hip, right shoulder, left shoulder: the joints that define the facing direction."""

FOOT_CONTACT_VELOCITY_THRESHOLD: float = 0.002
"""HumanML3D's contact rule: a foot joint is in contact when its squared displacement per frame is below this."""

LEFT_RIGHT_SWAP: tuple[int, ...] = tuple(
    JOINT_INDEX[n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")] for n in JOINT_NAMES
)
"""Index of each joint's mirror counterpart (left and right swapped; the spine maps to itself)."""


def children(joint: int) -> list[int]:
    """Return the indices of the joints whose parent is `joint`."""
    return [j for j, p in enumerate(PARENTS) if p == joint]


def rest_pose(offsets: np.ndarray | None = None) -> np.ndarray:
    """Return the (22, 3) rest pose of the target skeleton (HumanML3D rest: arms down, head forward), on the floor."""
    offsets = TARGET_OFFSETS if offsets is None else np.asarray(offsets, dtype=np.float64)
    joints = np.zeros((NUM_JOINTS, 3))
    for j in range(1, NUM_JOINTS):
        joints[j] = joints[PARENTS[j]] + offsets[j]
    joints[:, 1] -= joints[:, 1].min()
    return joints


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """Return the (..., 22) bone lengths of joint positions (..., 22, 3); entry 0 is zero."""
    joints = np.asarray(joints)
    par = np.array(PARENTS)
    par[0] = 0
    return np.linalg.norm(joints - joints[..., par, :], axis=-1)
