"""The SMPL-22 skeleton as the add-on needs it, with no import of kinmo_core (Blender's Python has no torch).

These values mirror `kinmo_core.motion.skeleton` (the one definition); `tests/test_blender_math.py` checks they
stay equal.
"""

from __future__ import annotations

FPS = 20
FOOT_CONTACT_VELOCITY_THRESHOLD = 0.002

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
JOINT_INDEX: dict[str, int] = {n: i for i, n in enumerate(JOINT_NAMES)}
PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
BONE_LENGTHS: tuple[float, ...] = (
    0.0, 0.103074, 0.109883, 0.131568, 0.393623, 0.390188, 0.14319, 0.432433, 0.425643, 0.057365, 0.143382,
    0.149419, 0.21936, 0.137487, 0.143383, 0.103039, 0.131614, 0.122984, 0.25684, 0.263092, 0.266012, 0.269876,
)  # fmt: skip
LEFT_FOOT_JOINTS = (7, 10)
RIGHT_FOOT_JOINTS = (8, 11)

# Where each joint's bone points: the first joint of its list that the bone map covers. A joint with several
# children (pelvis, spine3) aims along the spine, so its twist comes from the source rotation.
AIM_CHAINS: dict[str, tuple[str, ...]] = {
    "pelvis": ("spine1", "spine2", "spine3", "neck", "head"),
    "spine1": ("spine2", "spine3", "neck", "head"),
    "spine2": ("spine3", "neck", "head"),
    "spine3": ("neck", "head"),
    "neck": ("head",),
    **{
        f"{s}_{a}": rest
        for s in ("left", "right")
        for a, rest in (
            ("hip", (f"{s}_knee", f"{s}_ankle", f"{s}_foot")),
            ("knee", (f"{s}_ankle", f"{s}_foot")),
            ("ankle", (f"{s}_foot",)),
            ("collar", (f"{s}_shoulder", f"{s}_elbow", f"{s}_wrist")),
            ("shoulder", (f"{s}_elbow", f"{s}_wrist")),
            ("elbow", (f"{s}_wrist",)),
        )
    },
}

# Direction from each joint's parent to the joint in the add-on's default SMPL-22 armature: a T-pose in KinMo axes
# (x = the body's left, y = up, z = forward). Animators expect a T-pose; HumanML3D's arms-down rest is only a
# convention of its rotation files, and the retargeter aligns any rest pose anyway.
TPOSE_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "pelvis": (0.0, 0.0, 0.0),
    "left_hip": (0.6, -0.8, 0.0),
    "right_hip": (-0.6, -0.8, 0.0),
    "spine1": (0.0, 1.0, 0.0),
    "left_knee": (0.0, -1.0, 0.0),
    "right_knee": (0.0, -1.0, 0.0),
    "spine2": (0.0, 1.0, 0.0),
    "left_ankle": (0.0, -1.0, 0.0),
    "right_ankle": (0.0, -1.0, 0.0),
    "spine3": (0.0, 1.0, 0.0),
    "left_foot": (0.0, -0.35, 0.937),
    "right_foot": (0.0, -0.35, 0.937),
    "neck": (0.0, 1.0, 0.0),
    "left_collar": (1.0, 0.0, 0.0),
    "right_collar": (-1.0, 0.0, 0.0),
    "head": (0.0, 1.0, 0.0),
    "left_shoulder": (1.0, 0.0, 0.0),
    "right_shoulder": (-1.0, 0.0, 0.0),
    "left_elbow": (1.0, 0.0, 0.0),
    "right_elbow": (-1.0, 0.0, 0.0),
    "left_wrist": (1.0, 0.0, 0.0),
    "right_wrist": (-1.0, 0.0, 0.0),
}

# The six kinematic groups and their fifteen pairs (mirrors kinmo_core.motion.kinematic), for the descriptions panel.
GROUPS: tuple[str, ...] = ("torso", "neck", "left_arm", "right_arm", "left_leg", "right_leg")
GROUP_TITLES: dict[str, str] = {
    "torso": "Torso",
    "neck": "Neck",
    "left_arm": "Left Arm",
    "right_arm": "Right Arm",
    "left_leg": "Left Leg",
    "right_leg": "Right Leg",
}
PAIRS: tuple[str, ...] = tuple(
    "|".join(sorted((GROUPS[i], GROUPS[j]))) for i in range(len(GROUPS)) for j in range(i + 1, len(GROUPS))
)
