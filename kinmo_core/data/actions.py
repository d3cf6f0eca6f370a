"""The action vocabulary shared by corpus synthesis, annotation, the Motion Reasoner and evaluation.

Each kinematic group performs one action per time segment. Corpus synthesis records
these labels as hidden ground truth; evaluation asks whether a free-text description
of a group names the right action (and side) through `ACTION_WORDS`.
"""

from __future__ import annotations

import re

from kinmo_core.motion.kinematic import GROUPS

LEG_ACTIONS: tuple[str, ...] = (
    "still",  # standing, no leg motion
    "walk",
    "jog",
    "run",
    "march",
    "side_step",
    "jump",
    "hop",  # hopping on this leg
    "lift",  # held off the ground while the other leg hops, or stepping over
    "squat",
    "lunge",
    "kneel",
    "kick",
)
ARM_ACTIONS: tuple[str, ...] = (
    "still",  # hanging by the side
    "swing",  # natural swing coupled to the gait
    "wave",
    "raise",
    "punch",
    "reach",
    "point",
    "clap",
    "hands_on_hips",
    "cross_arms",
    "throw",
)
TORSO_ACTIONS: tuple[str, ...] = ("upright", "bow", "lean", "twist")
NECK_ACTIONS: tuple[str, ...] = ("neutral", "nod", "shake", "look")

GROUP_ACTIONS: dict[str, tuple[str, ...]] = {
    "torso": TORSO_ACTIONS,
    "neck": NECK_ACTIONS,
    "left_arm": ARM_ACTIONS,
    "right_arm": ARM_ACTIONS,
    "left_leg": LEG_ACTIONS,
    "right_leg": LEG_ACTIONS,
}
assert set(GROUP_ACTIONS) == set(GROUPS)

STILL_ACTIONS: frozenset[str] = frozenset({"still", "upright", "neutral"})
"""Labels meaning the group does not move on its own."""

IMPLIED_ACTIONS: frozenset[str] = STILL_ACTIONS | {"swing", "lift"}
"""Actions a caption implies without naming them: stillness, arms swinging with the gait, the free leg of a hop."""

TWO_LEGGED: frozenset[str] = frozenset({"kneel", "lunge"})
"""Leg actions labelled on the leading leg that the other leg takes part in ("the right leg kneels down, the left knee
on the ground"); naming them on the other leg is no side error, the side lies in which knee or foot leads."""

SAME_POSE: dict[str, frozenset[str]] = {"point": frozenset({"reach"}), "reach": frozenset({"point"})}
"""Actions the 22 joints cannot tell apart (there are no fingers): the annotator writes a point as a reach, so a
description naming either satisfies a caption that names the other."""

ACTION_WORDS: dict[str, tuple[str, ...]] = {
    "still": ("still", "stationary", "relaxed", "at rest", "rests", "resting", "hangs", "hanging", "stands", "standing",
              "motionless", "steady", "not move", "does not move", "idle"),
    "walk": ("walk", "step", "stride", "stroll", "pace"),
    "jog": ("jog", "trot"),
    "run": ("run", "sprint", "dash"),
    "march": ("march", "high knee", "knee high", "knees high"),
    "side_step": ("sideways", "side step", "sidestep", "shuffle", "to the side"),
    "jump": ("jump", "leap", "spring", "bound"),
    "hop": ("hop",),
    "lift": ("lift", "raised", "off the ground", "held up", "tucked", "step over", "steps over"),
    "squat": ("squat", "crouch", "deep knee bend", "bends both knees", "lowers the hips"),
    "lunge": ("lunge",),
    "kneel": ("kneel", "knee on the ground", "knee to the ground"),
    "kick": ("kick",),
    "swing": ("swing", "sway", "pendulum"),
    "wave": ("wave", "waving"),
    "raise": ("raise", "lift", "overhead", "above the head", "up high", "upward"),
    "punch": ("punch", "jab", "strike", "hit"),
    "reach": ("reach", "stretch out", "extends", "extended"),
    "point": ("point",),
    "clap": ("clap",),
    "hands_on_hips": ("on the hip", "on its hip", "on the hips", "hands on hips", "on his hip", "on her hip", "akimbo"),
    "cross_arms": ("cross", "folded", "fold"),
    "throw": ("throw", "toss", "hurl", "pitch"),
    "upright": ("upright", "straight", "erect", "vertical", "steady", "still", "stable", "level"),
    "bow": ("bow", "bend forward", "bends forward", "leans forward", "lean forward", "hunch", "forward bend"),
    "lean": ("lean", "tilt", "incline", "side bend", "bends to the"),
    "twist": ("twist", "rotate", "turns the torso", "turns the upper body", "swivel"),
    "neutral": ("neutral", "forward", "straight ahead", "still", "steady", "level", "stable", "relaxed"),
    "nod": ("nod",),
    "shake": ("shake", "shaking", "side to side"),
    "look": ("look", "turns the head", "turned to", "gaze", "faces", "glance", "tilts up", "tilts down"),
}
"""Stems or phrases a description uses when it names an action (matched on word starts, case-insensitive)."""

assert all(a in ACTION_WORDS for acts in GROUP_ACTIONS.values() for a in acts)


def _compile(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")", re.IGNORECASE)


_PATTERNS: dict[str, re.Pattern[str]] = {a: _compile(w) for a, w in ACTION_WORDS.items()}


def mentions_action(text: str, action: str) -> bool:
    """Return whether `text` names `action` through one of its ACTION_WORDS."""
    return bool(_PATTERNS[action].search(text))


def action_spans(text: str, action: str) -> list[tuple[int, int]]:
    """Return the (start, end) character spans where `text` names `action` through its ACTION_WORDS."""
    return [m.span() for m in _PATTERNS[action].finditer(text)]


def mentioned_actions(text: str, group: str) -> list[str]:
    """Return the actions of `group`'s vocabulary that `text` names, in vocabulary order."""
    return [a for a in GROUP_ACTIONS[group] if mentions_action(text, a)]
