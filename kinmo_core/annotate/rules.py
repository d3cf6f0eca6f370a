"""The default annotator: deterministic templates over posecodes, keyframes and temporal analysis.

Wording varies between motions (templates are picked by a generator seeded from the
motion id) but never between runs. Every action is named with words from the shared
vocabulary (`kinmo_core.data.actions.ACTION_WORDS`) so evaluation can check it, and a
detail clause is dropped if it would name an action of the group that was not detected.
"""

from __future__ import annotations

import hashlib

import numpy as np

from kinmo_core.annotate.temporal import Segment
from kinmo_core.data.actions import GROUP_ACTIONS, STILL_ACTIONS, mentioned_actions
from kinmo_core.motion.kinematic import GROUPS, PAIR_GROUPS, PAIRS

RULES_VERSION: str = "rules-2"
"""2: a held-up leg with the thigh level reads as a knee raise, and its rise and fall are no kicks (temporal); a head
tipped back past vertical reads as a look up, no longer as a head turned 180 degrees ("looks left", measure)."""
WORDING_SALT: str = "rules-1"
"""Seeds each motion's choice of wording; kept across versions so a new version changes only what it fixes."""

SUBJECTS: dict[str, tuple[str, ...]] = {
    "torso": ("The torso", "The upper body", "The trunk"),
    "neck": ("The head", "The person's head"),
    "left_arm": ("The left arm", "The person's left arm"),
    "right_arm": ("The right arm", "The person's right arm"),
    "left_leg": ("The left leg", "The person's left leg"),
    "right_leg": ("The right leg", "The person's right leg"),
}
SHORT_NAMES: dict[str, str] = {
    "torso": "the torso",
    "neck": "the head",
    "left_arm": "the left arm",
    "right_arm": "the right arm",
    "left_leg": "the left leg",
    "right_leg": "the right leg",
}

# Verb phrases per action; {dir}, {side}, {rate}, {amp} are filled from the segment details.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "leg": {
        "still": ("stays still", "remains stationary, bearing weight", "stays motionless"),
        "walk": ("walks {dir}", "strides {dir}", "walks {dir} with even steps"),
        "jog": ("jogs {dir}", "trots {dir}"),
        "run": ("runs {dir}", "sprints {dir}"),
        "march": ("marches {dir}, bringing the knee high", "marches {dir} with high knees"),
        "side_step": ("moves sideways to the {side}", "shuffles sideways to the {side}"),
        "jump": ("jumps {dir}", "leaps {dir}"),
        "hop": ("hops {dir}, carrying the body alone", "hops {dir} on its own"),
        "lift": ("is held up off the ground", "stays raised off the ground"),
        "squat": ("squats down, the knee bending deeply", "crouches low"),
        "lunge": ("lunges with the {side} foot forward", "drops into a lunge, the {side} foot in front"),
        "kneel": ("kneels on the {side} knee", "kneels down, the {side} knee on the ground"),
        "kick": ("kicks out", "kicks {dir}"),
    },
    "arm": {
        "still": ("hangs relaxed at the side", "stays still beside the body", "hangs motionless"),
        "swing": ("swings back and forth {rate}", "swings naturally with the gait"),
        "wave": ("waves {rate} with the hand at {height}", "waves {amp}, the hand at {height}"),
        "raise": ("raises {dir}", "is raised {dir}"),
        "punch": ("punches forward", "throws punches forward"),
        "reach": ("reaches forward", "reaches out in front"),
        "point": ("points ahead", "points forward"),
        "clap": ("claps against the other hand {rate}", "claps {rate}"),
        "hands_on_hips": ("keeps the hand on the hip", "is set with the hand on the hip"),
        "cross_arms": ("is crossed over the chest", "folds across the chest"),
        "throw": ("throws", "makes a throw"),
    },
    "torso": {
        "upright": ("stays upright", "remains upright and stable"),
        "bow": ("bows forward", "bends forward at the waist"),
        "lean": ("leans to the {side}", "tilts to the {side}"),
        "twist": ("twists to the {side}", "rotates to the {side}"),
    },
    "neck": {
        "neutral": ("stays neutral, facing straight ahead", "stays level and relaxed"),
        "nod": ("nods {rate}", "nods up and down {rate}"),
        "shake": ("shakes from side to side {rate}", "shakes {rate}"),
        "look": ("turns to look {side}", "looks {side}"),
    },
}
KNEE_RAISE_TEMPLATES: tuple[str, ...] = ("lifts the knee up to hip height",
                                         "is raised, the knee up in front at hip level",
                                         "is held up, the knee raised in front of the body")
"""A held-up leg whose thigh comes up level (segment detail knee='high'), told apart from a leg tucked behind."""
# Punches and throws are wording collisions: "throws punches" names throw as well. Keep the first template only.
TEMPLATES["arm"]["punch"] = ("punches forward", "jabs forward")

CONNECTORS: tuple[str, ...] = (", then ", ", after that it ", ", and then ")


def _kind(group: str) -> str:
    return group.split("_")[-1] if "_" in group else group


def motion_rng(motion_id: str, salt: str = "") -> np.random.Generator:
    """Return a generator seeded from the motion id (same id, same wording)."""
    digest = hashlib.sha256(f"{motion_id}|{salt}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _rate_word(hz: float | None) -> str:
    if hz is None:
        return ""
    return "slowly" if hz < 1.0 else ("at a moderate rate" if hz < 2.2 else "quickly")


def _dir_word(d: dict, kind: str) -> str:
    direction = d.get("direction", "")
    if direction == "in place":
        return "on the spot"
    if direction == "overhead":
        return "overhead"
    if direction == "sideways":
        # "to the side" names side-stepping in the leg vocabulary.
        return "out to the side" if kind == "arm" else "laterally"
    if direction == "forward" and "turn" in d:
        return f"forward, curving to the {d['turn']}"
    return str(direction)


def action_phrase(group: str, seg: Segment, rng: np.random.Generator) -> str:
    """Return a verb phrase naming the segment's action with its details."""
    options = TEMPLATES[_kind(group)][seg.action]
    if seg.action == "lift" and seg.details.get("knee") == "high":
        options = KNEE_RAISE_TEMPLATES
    tpl = options[int(rng.integers(len(options)))]
    d = seg.details
    amp = d.get("amplitude_m")
    text = tpl.format(
        dir=_dir_word(d, _kind(group)),
        side=d.get("side", d.get("direction", "")),
        rate=_rate_word(d.get("rate_hz")),  # type: ignore[arg-type]
        amp="widely" if (amp or 0) > 0.15 else "gently",
        height="head height" if d.get("height") == "high" else "chest height",
    )
    return " ".join(text.split()).replace(" ,", ",")


def _clean(text: str, group: str, allowed: set[str]) -> bool:
    """Whether `text` names no action of `group` outside `allowed`."""
    return set(mentioned_actions(text, group)) <= allowed


def describe_group(group: str, segments: list[Segment], pose_detail: str, rng: np.random.Generator) -> str:
    """Return the group-level description: its actions in order, then an optional posture detail."""
    subject = SUBJECTS[group][int(rng.integers(len(SUBJECTS[group])))]
    phrases = [action_phrase(group, s, rng) for s in segments]
    text = subject + " " + phrases[0]
    for p in phrases[1:]:
        text += CONNECTORS[int(rng.integers(len(CONNECTORS)))] + p
    text += "."
    allowed = {s.action for s in segments}
    if pose_detail and _clean(pose_detail, group, allowed):
        text += " " + pose_detail
    return text


def _moving(segments: list[Segment]) -> bool:
    return any(s.action not in STILL_ACTIONS for s in segments)


def _main_action(segments: list[Segment]) -> Segment:
    moving = [s for s in segments if s.action not in STILL_ACTIONS]
    pool = moving or segments
    return max(pool, key=lambda s: s.end - s.start)


def describe_pair(pair: str, segments: dict[str, list[Segment]], relation: str, rng: np.random.Generator) -> str:
    """Return the interaction-level description of one group pair."""
    a, b = PAIR_GROUPS[pair]
    sa, sb = _main_action(segments[a]), _main_action(segments[b])
    na, nb = SHORT_NAMES[a], SHORT_NAMES[b]
    pa, pb = action_phrase(a, sa, rng), action_phrase(b, sb, rng)
    ma, mb = _moving(segments[a]), _moving(segments[b])
    overlap = min(sa.end, sb.end) - max(sa.start, sb.start) > 0
    if {a, b} == {"left_leg", "right_leg"} and sa.action == sb.action and sa.action in ("walk", "jog", "run", "march"):
        text = (
            f"The legs alternate, one swinging through while the other carries the weight: {na} {pa} in turn with {nb}."
        )
    elif {a, b} == {"left_arm", "right_arm"} and sa.action == sb.action == "clap":
        text = "The two hands meet in front of the chest as the arms clap together."
    elif ma and mb:
        joint = "at the same time as" if overlap else "and, at another moment,"
        text = f"{na.capitalize()} {pa} {joint} {nb} {pb}."
    elif ma:
        text = f"{na.capitalize()} {pa} while {nb} {pb}."
    elif mb:
        text = f"{nb.capitalize()} {pb} while {na} {pa}."
    else:
        text = f"Neither part moves much: {na} {pa} and {nb} {pb}."
    if relation:
        text += " " + relation
    return text


def annotate_rules(analysis, captions: list[str] | None = None) -> dict[str, dict[str, str]]:
    """Return {'groups': {6 keys}, 'interactions': {15 keys}} for an analysed motion."""
    rng = motion_rng(analysis.motion_id, WORDING_SALT)
    segs = analysis.timeline.segments
    key = analysis.keyframes[len(analysis.keyframes) // 2] if analysis.keyframes else 0
    groups: dict[str, str] = {}
    for g in GROUPS:
        detail = analysis.poses.group_sentence(g, key) if rng.random() < 0.5 else ""
        groups[g] = describe_group(g, segs[g], detail, rng)
    interactions: dict[str, str] = {}
    for p in PAIRS:
        interactions[p] = describe_pair(p, segs, analysis.pair_relation(p), rng)
    return {"groups": groups, "interactions": interactions}


def actions_vocabulary_check() -> list[str]:
    """Return every template (filled with sample details) that names an action other than its own; [] when clean."""
    bad = []
    sample = {"direction": "forward", "side": "left", "rate_hz": 1.5, "amplitude_m": 0.1, "height": "high"}
    for g in GROUPS:
        for action in GROUP_ACTIONS[g]:
            variants = [("low", len(TEMPLATES[_kind(g)][action]))]
            if action == "lift":
                variants.append(("high", len(KNEE_RAISE_TEMPLATES)))
            for i, knee in ((i, k) for k, count in variants for i in range(count)):
                for direction in ("forward", "backward", "in place", "overhead", "sideways", "left", "up", "down"):
                    seg = Segment(0, 10, action, {**sample, "direction": direction, "knee": knee})

                    class _Pick:
                        def integers(self, n, _i=i):
                            return _i % n

                    phrase = action_phrase(g, seg, _Pick())  # type: ignore[arg-type]
                    named = set(mentioned_actions(phrase, g))
                    if named != {action}:
                        bad.append(f"{g}/{action}: {phrase!r} names {sorted(named)}")
    return bad
