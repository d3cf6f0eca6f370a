"""Per-frame pose descriptions in the posecode style of PoseScript (original code and thresholds).

A posecode is one measured quantity (an angle, a distance, a relative position, an
orientation, a contact) binned into named categories by thresholds kept as constants
here; each posecode belongs to the kinematic group(s) it describes. Categories are
computed for all frames at once; sentences are built only for the distinct category
combinations, so long motions with repeated poses cost little.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kinmo_core.annotate.measure import BodyMeasures
from kinmo_core.motion.kinematic import GROUPS

# Joint angles (interior angle in degrees; 180 = straight).
ANGLE_COMPLETELY_BENT: float = 75.0
ANGLE_RIGHT_ANGLE: float = 105.0
ANGLE_PARTIALLY_BENT: float = 135.0
ANGLE_SLIGHTLY_BENT: float = 160.0
ANGLE_EDGES = (ANGLE_COMPLETELY_BENT, ANGLE_RIGHT_ANGLE, ANGLE_PARTIALLY_BENT, ANGLE_SLIGHTLY_BENT)
ANGLE_WORDS = ("completely bent", "bent at a right angle", "partially bent", "slightly bent", "straight")

# Limb orientation: angle from straight down, degrees.
ORIENT_EDGES = (30.0, 65.0, 115.0, 150.0)
ORIENT_WORDS = ("vertical, pointing down", "angled downward", "horizontal", "angled upward", "vertical, pointing up")

# Hand height relative to the shoulder, metres.
HAND_HEIGHT_EDGES = (-0.5, -0.3, -0.1, 0.1, 0.25)
HAND_HEIGHT_WORDS = (
    "by the thigh",
    "at the waist",
    "at chest height",
    "at shoulder height",
    "above the shoulder",
    "above the head",
)
# Hand depth relative to the shoulder, metres (+ = in front).
HAND_DEPTH_EDGES = (-0.12, 0.15, 0.4)
HAND_DEPTH_WORDS = ("behind the body", "beside the body", "in front of the body", "far in front of the body")
# Hand lateral position from the midline, metres (+ = on its own side).
HAND_SIDE_EDGES = (0.0, 0.4)
HAND_SIDE_WORDS = ("across the midline", "close to the body", "out to the side")

# Distances between body parts, metres.
HANDS_DISTANCE_EDGES = (0.12, 0.35, 0.8)
HANDS_DISTANCE_WORDS = (
    "the hands touch",
    "the hands are close together",
    "the hands are shoulder width apart",
    "the hands are wide apart",
)
HAND_AT_HIP_DISTANCE: float = 0.25
HIP_ELBOW_OUT: float = 0.1
"""A hand within HAND_AT_HIP_DISTANCE (m) of its hip is on it when the elbow also sticks out this far (m)."""
HAND_AT_HEAD_DISTANCE: float = 0.22
FEET_DISTANCE_EDGES = (0.2, 0.45, 0.8)
FEET_DISTANCE_WORDS = (
    "the feet are together",
    "the feet are hip width apart",
    "the feet are apart",
    "the feet are wide apart",
)
FEET_STAGGER: float = 0.2
"""One foot counts as in front of the other beyond this forward gap (metres)."""

# Ground contact, metres above the floor.
FOOT_GROUND_HEIGHT: float = 0.05
FOOT_HIGH_HEIGHT: float = 0.25
FOOT_HEIGHT_EDGES = (FOOT_GROUND_HEIGHT, FOOT_HIGH_HEIGHT)
FOOT_HEIGHT_WORDS = ("on the ground", "slightly off the ground", "high off the ground")
KNEE_GROUND_HEIGHT: float = 0.12
FOOT_DEPTH_EDGES = (-0.2, 0.2)
FOOT_DEPTH_WORDS = ("behind the hips", "under the hips", "in front of the hips")

# Torso and head, degrees.
TORSO_FORWARD_EDGES = (-12.0, 12.0, 35.0, 65.0)
TORSO_FORWARD_WORDS = (
    "the torso is tilted backward",
    "the torso is upright",
    "the torso is inclined slightly forward",
    "the torso is bent forward",
    "the torso is bent far forward",
)
TORSO_SIDE_EDGES = (-12.0, 12.0)
TORSO_SIDE_WORDS = ("the torso is tilted to its right", "", "the torso is tilted to its left")
TORSO_TWIST_EDGES = (-20.0, 20.0)
TORSO_TWIST_WORDS = ("the shoulders are turned to the right", "", "the shoulders are turned to the left")
PELVIS_DROP_EDGES = (0.12, 0.35)
PELVIS_DROP_WORDS = ("", "the hips are lowered", "the hips are low, near the ground")
HEAD_YAW_EDGES = (-25.0, 25.0)
HEAD_YAW_WORDS = ("the head is turned to the right", "the head faces the front", "the head is turned to the left")
HEAD_PITCH_EDGES = (-20.0, 20.0)
HEAD_PITCH_WORDS = ("the head is tipped down", "", "the head is tipped up")


@dataclass(frozen=True)
class Posecode:
    """One binned measurement: its name, the groups it describes, thresholds and category phrases."""

    name: str
    groups: tuple[str, ...]
    value: Callable[[dict[str, np.ndarray]], np.ndarray]
    edges: tuple[float, ...]
    phrases: tuple[str, ...]  # one per category; "" means the category is not worth saying

    def categories(self, m: dict[str, np.ndarray]) -> np.ndarray:
        """Return the (T,) category index of every frame."""
        return np.digitize(self.value(m), self.edges).astype(np.int8)


def _key(k: str) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    return lambda m: m[k]


def _threshold(k: str, limit: float) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    return lambda m: (m[k] < limit).astype(np.float64)


def _hand_on_hip(side: str) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    # A hanging hand is near the hip as well; with the hand on the hip the elbow points out.
    return lambda m: (
        (m[f"{side}_wrist_to_hip"] < HAND_AT_HIP_DISTANCE) & (m[f"{side}_elbow_outward"] > HIP_ELBOW_OUT)
    ).astype(np.float64)


def _stagger(m: dict[str, np.ndarray]) -> np.ndarray:
    return m["feet_forward_gap"]


def _build_posecodes() -> tuple[Posecode, ...]:
    codes: list[Posecode] = []
    for s in ("left", "right"):
        arm, leg = f"{s}_arm", f"{s}_leg"
        codes += [
            Posecode(
                f"{s}_elbow",
                (arm,),
                _key(f"{s}_elbow_angle"),
                ANGLE_EDGES,
                tuple(f"the {s} elbow is {w}" for w in ANGLE_WORDS),
            ),
            Posecode(
                f"{s}_upper_arm",
                (arm,),
                _key(f"{s}_upper_arm_elevation"),
                ORIENT_EDGES,
                tuple(f"the {s} upper arm is {w}" for w in ORIENT_WORDS),
            ),
            Posecode(
                f"{s}_hand_height",
                (arm,),
                _key(f"{s}_wrist_above_shoulder"),
                HAND_HEIGHT_EDGES,
                tuple(f"the {s} hand is {w}" for w in HAND_HEIGHT_WORDS),
            ),
            Posecode(
                f"{s}_hand_depth",
                (arm,),
                _key(f"{s}_wrist_forward"),
                HAND_DEPTH_EDGES,
                tuple(f"the {s} hand is {w}" for w in HAND_DEPTH_WORDS),
            ),
            Posecode(
                f"{s}_hand_side",
                (arm,),
                _key(f"{s}_wrist_outward"),
                HAND_SIDE_EDGES,
                tuple(f"the {s} hand is {w}" for w in HAND_SIDE_WORDS),
            ),
            Posecode(
                f"{s}_hand_at_hip",
                (arm, "torso"),
                _hand_on_hip(s),
                (0.5,),
                ("", f"the {s} hand is on the {s} hip"),
            ),
            Posecode(
                f"{s}_hand_at_head",
                (arm, "neck"),
                _threshold(f"{s}_wrist_to_head", HAND_AT_HEAD_DISTANCE),
                (0.5,),
                ("", f"the {s} hand is near the head"),
            ),
            Posecode(
                f"{s}_knee",
                (leg,),
                _key(f"{s}_knee_angle"),
                ANGLE_EDGES,
                tuple(f"the {s} knee is {w}" for w in ANGLE_WORDS),
            ),
            Posecode(
                f"{s}_thigh",
                (leg,),
                _key(f"{s}_thigh_elevation"),
                ORIENT_EDGES,
                tuple(f"the {s} thigh is {w}" for w in ORIENT_WORDS),
            ),
            Posecode(
                f"{s}_foot_height",
                (leg,),
                _key(f"{s}_foot_height"),
                FOOT_HEIGHT_EDGES,
                tuple(f"the {s} foot is {w}" for w in FOOT_HEIGHT_WORDS),
            ),
            Posecode(
                f"{s}_foot_depth",
                (leg,),
                _key(f"{s}_foot_forward"),
                FOOT_DEPTH_EDGES,
                tuple(f"the {s} foot is {w}" for w in FOOT_DEPTH_WORDS),
            ),
            Posecode(
                f"{s}_knee_on_ground",
                (leg,),
                _threshold(f"{s}_knee_height", KNEE_GROUND_HEIGHT),
                (0.5,),
                ("", f"the {s} knee touches the ground"),
            ),
        ]
    codes += [
        Posecode(
            "hands_distance",
            ("left_arm", "right_arm"),
            _key("hands_distance"),
            HANDS_DISTANCE_EDGES,
            HANDS_DISTANCE_WORDS,
        ),
        Posecode(
            "feet_distance", ("left_leg", "right_leg"), _key("feet_distance"), FEET_DISTANCE_EDGES, FEET_DISTANCE_WORDS
        ),
        Posecode(
            "feet_stagger",
            ("left_leg", "right_leg"),
            _stagger,
            (-FEET_STAGGER, FEET_STAGGER),
            ("the right foot is in front of the left foot", "", "the left foot is in front of the right foot"),
        ),
        Posecode("torso_forward", ("torso",), _key("torso_incline_forward"), TORSO_FORWARD_EDGES, TORSO_FORWARD_WORDS),
        Posecode("torso_side", ("torso",), _key("torso_incline_left"), TORSO_SIDE_EDGES, TORSO_SIDE_WORDS),
        Posecode("torso_twist", ("torso",), _key("torso_twist"), TORSO_TWIST_EDGES, TORSO_TWIST_WORDS),
        Posecode(
            "pelvis_drop", ("torso", "left_leg", "right_leg"), _key("pelvis_drop"), PELVIS_DROP_EDGES, PELVIS_DROP_WORDS
        ),
        Posecode("head_yaw", ("neck",), _key("head_yaw"), HEAD_YAW_EDGES, HEAD_YAW_WORDS),
        Posecode("head_pitch", ("neck",), _key("head_pitch"), HEAD_PITCH_EDGES, HEAD_PITCH_WORDS),
    ]
    return tuple(codes)


POSECODES: tuple[Posecode, ...] = _build_posecodes()
"""Every posecode, in a fixed order (the columns of PoseDescriptions.codes)."""

GROUP_POSECODES: dict[str, tuple[int, ...]] = {
    g: tuple(i for i, p in enumerate(POSECODES) if p.groups[0] == g) for g in GROUPS
}
"""Posecode columns each group's sentence is built from (a shared posecode is said once, by its first group)."""

POSECODE_GROUPS: dict[str, tuple[str, ...]] = {p.name: p.groups for p in POSECODES}


def _sentence(clauses: list[str]) -> str:
    clauses = [c for c in clauses if c]
    if not clauses:
        return ""
    text = ", ".join(clauses)
    return text[0].upper() + text[1:] + "."


@dataclass
class PoseDescriptions:
    """Per-frame posecode categories and per-group sentences of one motion."""

    codes: np.ndarray  # (T, K) category index per posecode
    group_text: dict[str, list[str]]  # distinct sentences per group
    group_index: dict[str, np.ndarray]  # (T,) index into group_text[g] per frame

    def group_sentence(self, group: str, frame: int) -> str:
        """Return the sentence describing `group` at `frame`."""
        return self.group_text[group][int(self.group_index[group][frame])]

    def frame_text(self, frame: int) -> str:
        """Return the whole-body description of one frame (the six group sentences)."""
        return " ".join(s for s in (self.group_sentence(g, frame) for g in GROUPS) if s)

    def posecode_phrase(self, name: str, frame: int) -> str:
        """Return the phrase of one posecode at one frame ("" where its category is not said)."""
        k = next(i for i, p in enumerate(POSECODES) if p.name == name)
        return POSECODES[k].phrases[int(self.codes[frame, k])]


def describe_poses(body: BodyMeasures) -> PoseDescriptions:
    """Return the posecode categories and per-group sentences of every frame of a motion."""
    codes = np.stack([p.categories(body.m) for p in POSECODES], axis=1)
    group_text: dict[str, list[str]] = {}
    group_index: dict[str, np.ndarray] = {}
    for g in GROUPS:
        cols = list(GROUP_POSECODES[g])
        uniq, inverse = np.unique(codes[:, cols], axis=0, return_inverse=True)
        group_text[g] = [
            _sentence([POSECODES[c].phrases[int(v)] for c, v in zip(cols, row, strict=True)]) for row in uniq
        ]
        group_index[g] = inverse.reshape(-1)
    return PoseDescriptions(codes=codes, group_text=group_text, group_index=group_index)
