"""The six kinematic groups of the KinMo paper and their fifteen pairs.

Stable string keys are part of every file format (annotations, descriptions,
checkpoints), so they are defined here once. The group-level and pair-level
representation of paper Eq. 1-3 lives in `kinmo_core.motion.group_representation`.
"""

from __future__ import annotations

from itertools import combinations

from .skeleton import JOINT_INDEX, PARENTS

GROUPS: tuple[str, ...] = ("torso", "neck", "left_arm", "right_arm", "left_leg", "right_leg")
"""The six kinematic groups, in the paper's order."""

GROUP_JOINTS: dict[str, tuple[int, ...]] = {
    "torso": tuple(JOINT_INDEX[n] for n in ("pelvis", "spine1", "spine2", "spine3")),
    "neck": tuple(JOINT_INDEX[n] for n in ("neck", "head")),
    "left_arm": tuple(JOINT_INDEX[n] for n in ("left_collar", "left_shoulder", "left_elbow", "left_wrist")),
    "right_arm": tuple(JOINT_INDEX[n] for n in ("right_collar", "right_shoulder", "right_elbow", "right_wrist")),
    "left_leg": tuple(JOINT_INDEX[n] for n in ("left_hip", "left_knee", "left_ankle", "left_foot")),
    "right_leg": tuple(JOINT_INDEX[n] for n in ("right_hip", "right_knee", "right_ankle", "right_foot")),
}
"""Joint indices of each group; every joint belongs to exactly one group."""

JOINT_GROUP: dict[int, str] = {j: g for g, joints in GROUP_JOINTS.items() for j in joints}

GROUP_TITLES: dict[str, str] = {
    "torso": "Torso",
    "neck": "Neck",
    "left_arm": "Left Arm",
    "right_arm": "Right Arm",
    "left_leg": "Left Leg",
    "right_leg": "Right Leg",
}
"""Human-readable names of the groups, for user interfaces."""

MIRROR_GROUP: dict[str, str] = {
    "torso": "torso",
    "neck": "neck",
    "left_arm": "right_arm",
    "right_arm": "left_arm",
    "left_leg": "right_leg",
    "right_leg": "left_leg",
}


def pair_key(a: str, b: str) -> str:
    """Return the stable key of an unordered group pair, its two names sorted and joined by '|'."""
    if a == b or a not in GROUP_JOINTS or b not in GROUP_JOINTS:
        raise ValueError(f"not a pair of two different groups: {a!r}, {b!r}")
    return "|".join(sorted((a, b)))


PAIRS: tuple[str, ...] = tuple(pair_key(a, b) for a, b in combinations(GROUPS, 2))
"""The fifteen unordered group pairs, keys such as 'left_arm|torso', in a fixed order."""

PAIR_GROUPS: dict[str, tuple[str, str]] = {k: tuple(k.split("|")) for k in PAIRS}  # type: ignore[misc]


def _connecting_joint(a: str, b: str) -> int | None:
    # Two groups touch where the first joint of one hangs off a joint of the other; the
    # rotation stored at that child joint (HumanML3D convention) is the angle between them.
    for g, h in ((a, b), (b, a)):
        for j in GROUP_JOINTS[g]:
            if PARENTS[j] >= 0 and PARENTS[j] in GROUP_JOINTS[h]:
                return j
    return None


PAIR_CONNECTING_JOINT: dict[str, int | None] = {k: _connecting_joint(*PAIR_GROUPS[k]) for k in PAIRS}
"""For each pair, the joint that connects the two groups (child side of the joint), or None."""

MIRROR_PAIR: dict[str, str] = {k: pair_key(MIRROR_GROUP[a], MIRROR_GROUP[b]) for k, (a, b) in PAIR_GROUPS.items()}
