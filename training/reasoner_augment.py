"""Training captions for the Motion Reasoner beyond the corpus grammar (issue 21), generated from vocabulary tables.

Two sources, both deterministic for a seed:

- `paraphrase_caption` rewrites a corpus caption in other words (gait verbs the grammar lacks, standing still and
  looking up or down said otherwise, "while" clauses moved to the front, sides named first, other subjects and
  sequence words); the motion's descriptions and field mask stay those of the original caption.
- `synthetic_pairs` composes new captions from `kinmo_core.data.paraphrases` and the corpus phrase tables (knee
  raises, sneaking, stumbling, everyday actions, "while" meaning at the same time, sequences in other words) and
  writes their 21 descriptions with the annotator's own templates (`kinmo_core.annotate.rules`), with exactly the
  caption's segments: nothing the caption does not give, so the decoder learns to stop where the caption stops.

Nothing here reads the held-out evaluation prompts (`tests/test_reasoner_augment.py` checks that none is generated).
"""

from __future__ import annotations

import re

import numpy as np

from kinmo_core.annotate.rules import describe_group, describe_pair
from kinmo_core.annotate.temporal import Segment
from kinmo_core.data.captions import (
    THEN,
    arm_phrases,
    conjugate,
    leg_phrases,
    neck_phrases,
    torso_phrases,
)
from kinmo_core.data.paraphrases import (
    EVERYDAY,
    GAIT_VERBS,
    KNEE_RAISE,
    KNEES_ALTERNATE,
    LOOK_VERBS,
    SIDE_LEADS,
    SIDE_TAILS,
    SNEAK_VERBS,
    STAND_STILL,
    STUMBLE_VERBS,
)
from kinmo_core.motion.kinematic import GROUPS, PAIRS

SUBJECTS: tuple[tuple[str, str], ...] = (
    ("a person", "they"), ("someone", "they"), ("somebody", "they"), ("a man", "he"), ("a woman", "she"),
    ("he", "he"), ("she", "she"), ("the boy", "he"), ("the girl", "she"), ("an old man", "he"),
    ("an elderly woman", "she"), ("a child", "they"), ("a dancer", "she"), ("an athlete", "he"), ("the player", "he"),
    ("my friend", "she"), ("a kid", "they"), ("the actor", "he"), ("a teenager", "they"), ("the worker", "he"),
    ("a young woman", "she"), ("the guy", "he"), ("a lady", "she"), ("the character", "they"), ("a student", "she"),
)
"""Subjects with the pronoun a later clause uses; the corpus grammar has ten, none a pronoun."""

GAITS = ("walk", "jog", "run", "march")
SEQ_LINKS: tuple[str, ...] = ("and afterwards", "and later", ", and once done,", ", and after a moment", "and finally",
                              ", then a moment later", ", and straight after that", "and subsequently")
SIM_FRONT: tuple[str, ...] = ("while {g}, {s} {t}", "as {s} {t}, {p} {po}", "{s} {t} and at the same time {o}",
                              "{s} {t}, {g} at the same time", "{s} {t} and meanwhile {o}",
                              "{s} {t} whilst {g}", "{s} {t} while also {g}", "{s} {t} and {o} simultaneously")
"""Simultaneous actions: {t}/{o} third person of the main and other action, {g} the other's gerund."""


def _pick(rng: np.random.Generator, options) -> object:
    return options[int(rng.integers(len(options)))]


# ------------------------------------------------------------------------------------------------ corpus captions

_LEAD_SUBJECT = re.compile(r"^(a person|someone|a man|a woman|the person|a figure|the man|a human|the woman|a guy)\b",
                           re.I)
_GAIT_SWAP = [
    (re.compile(r"\b(walks|strolls|paces) (forward|ahead|straight ahead)\b"), "walk", "third"),
    (re.compile(r"\b(walking|strolling|pacing) (forward|ahead|straight ahead)\b"), "walk", "gerund"),
    (re.compile(r"\b(jogs|trots) (forward|ahead)\b"), "jog", "third"),
    (re.compile(r"\b(jogging|trotting) (forward|ahead)\b"), "jog", "gerund"),
    (re.compile(r"\b(runs|sprints|dashes) (forward|ahead)\b"), "run", "third"),
    (re.compile(r"\b(running|sprinting|dashing) (forward|ahead)\b"), "run", "gerund"),
    (re.compile(r"\bmarches (forward|ahead)\b"), "march", "third"),
]
_STILL_SWAP = re.compile(r"\b(stands still|stands in place|stands idle|stays in place)\b")
_LOOK_SWAP = re.compile(r"\b(looks|tilts the head) (up|down)(ward)?\b")
_WHILE = re.compile(r"^(?P<s>[\w ]+?) (?P<main>[^,]+?) while (?P<g>[^,]+?)(?P<end>\.?)$")
_SIDE_TAIL = re.compile(r"^(?P<s>[\w ]+?) (?P<verb>\w+) with the (?P<side>left|right) (?P<part>hand|arm|leg|foot)"
                        r"(?P<end>\.?)$")


def paraphrase_caption(caption: str, rng: np.random.Generator) -> str | None:
    """Return the caption in other words (same motion, same descriptions), or None when no rewrite applies.

    Every rewrite keeps what each group does: only verbs, word order, subjects and sequence words change.
    """
    text = caption.strip()
    changed = False
    for pat, action, form in _GAIT_SWAP:
        if pat.search(text) and rng.random() < 0.8:
            text = pat.sub(lambda _m, a=action, f=form: conjugate(str(_pick(rng, GAIT_VERBS[a])), f), text, count=1)
            changed = True
    if _STILL_SWAP.search(text) and rng.random() < 0.8:
        text = _STILL_SWAP.sub(lambda _m: conjugate(str(_pick(rng, STAND_STILL)), "third"), text, count=1)
        changed = True
    m = _LOOK_SWAP.search(text)
    if m and rng.random() < 0.8:
        text = text[:m.start()] + conjugate(str(_pick(rng, LOOK_VERBS[m.group(2)])), "third") + text[m.end():]
        changed = True
    lowered = text[0].lower() + text[1:]
    single = not any(re.search(rf"\b{re.escape(w.strip(', '))}\b", lowered) for w in THEN + ("before",))
    m = _WHILE.match(lowered)
    if single and m and _LEAD_SUBJECT.match(m.group("s")) and rng.random() < 0.6:
        text = f"while {m.group('g')}, {m.group('s')} {m.group('main')}{m.group('end')}"
        changed = True
    m = _SIDE_TAIL.match(text[0].lower() + text[1:])
    if single and m and _LEAD_SUBJECT.match(m.group("s")) and rng.random() < 0.6:
        text = f"with the {m.group('side')} {m.group('part')}, {m.group('s')} {m.group('verb')}{m.group('end')}"
        changed = True
    m = _LEAD_SUBJECT.search(text)
    if m and rng.random() < 0.7:
        text = text[:m.start()] + str(_pick(rng, SUBJECTS)[0]) + text[m.end():]
        changed = True
    for link in (", then ", " and then ", ", after that "):
        if link in text and rng.random() < 0.5:
            new = str(_pick(rng, SEQ_LINKS))
            text = text.replace(link, (" " if not new.startswith(",") else "") + new + " ", 1)
            changed = True
            break
    text = " ".join(text.replace(" ,", ",").split())
    return text if changed and text != caption.strip() else None


# ------------------------------------------------------------------------------------------------ synthetic pairs

_DEFAULTS = {"torso": ("upright", {}), "neck": ("neutral", {})}


def _segment(legs: str = "still", **parts) -> dict[str, tuple[str, dict]]:
    """One segment's action per group; `legs` for both legs, `arms` for both arms; arms swing with a gait."""
    d = {"direction": "forward"}
    seg = {"torso": _DEFAULTS["torso"], "neck": _DEFAULTS["neck"],
           "left_leg": (legs, dict(d)), "right_leg": (legs, dict(d))}
    arm = "swing" if legs in GAITS else "still"
    seg["left_arm"] = seg["right_arm"] = (arm, {"rate_hz": 1.5})
    arms = parts.pop("arms", None)
    if arms:
        seg["left_arm"] = seg["right_arm"] = arms
    seg.update(parts)
    return seg


def _details(action: str, rng: np.random.Generator, side: str | None = None) -> dict:
    """Segment details the annotator's templates read."""
    d: dict = {"direction": "forward", "rate_hz": float(rng.choice([0.8, 1.5, 2.5])),
               "amplitude_m": float(rng.choice([0.1, 0.2])), "height": str(rng.choice(["high", "low"]))}
    if side:
        d["side"] = side
    if action == "raise":
        d["direction"] = str(rng.choice(["overhead", "forward"]))
    return d


def _describe(segments: list[dict[str, tuple[str, dict]]], rng: np.random.Generator) -> dict:
    """The 21 descriptions of a segment plan, written with the annotator's templates (no posture details)."""
    n = 60
    per_group: dict[str, list[Segment]] = {}
    for g in GROUPS:
        segs: list[Segment] = []
        for k, seg in enumerate(segments):
            action, details = seg[g]
            # The joints cannot tell a point from a reach (no fingers): the annotator writes both as a reach
            # (SAME_POSE), and descriptions say what the annotations say.
            action = "reach" if action == "point" else action
            if segs and segs[-1].action == action:
                segs[-1] = Segment(segs[-1].start, (k + 1) * n, action, segs[-1].details)
            else:
                segs.append(Segment(k * n, (k + 1) * n, action, details))
        per_group[g] = segs
    groups = {g: describe_group(g, per_group[g], "", rng) for g in GROUPS}
    interactions = {p: describe_pair(p, per_group, "", rng) for p in PAIRS}
    return {"groups": groups, "interactions": interactions}


def _one_sided(part: str, action: str, side: str, rng: np.random.Generator, legs: str = "still") -> dict:
    """A segment where one arm or leg does `action` (side 'left' / 'right'), the rest natural."""
    other = "right" if side == "left" else "left"
    if part == "leg":
        seg = _segment("still")
        seg[f"{side}_leg"] = (action, _details(action, rng, side))
        if action in ("kneel", "lunge"):
            seg[f"{other}_leg"] = (action, _details(action, rng, side))
        if action == "hop":
            seg[f"{other}_leg"] = ("lift", {})
        return seg
    seg = _segment(legs)
    seg[f"{side}_arm"] = (action, _details(action, rng, side))
    return seg


def _both(part: str, action: str, rng: np.random.Generator, legs: str = "still", side: str | None = None) -> dict:
    """A segment where both arms, both legs, the torso or the neck do `action` (to `side` where it has one)."""
    side = side or str(rng.choice(["left", "right"]))
    if part == "legs":
        seg = _segment(action)
        if action in ("kneel", "lunge"):
            seg["left_leg"] = seg["right_leg"] = (action, _details(action, rng, side))
        elif action == "side_step":
            seg["left_leg"] = seg["right_leg"] = (action, {"side": side, "direction": side})
        return seg
    seg = _segment(legs)
    if part == "arms":
        seg["left_arm"] = seg["right_arm"] = (action, _details(action, rng))
    else:
        seg[part] = (action, {"side": side, "rate_hz": 1.5})
    return seg


def _fill_side(phrase: str, side: str) -> str:
    return phrase.replace("{side}", side)


def _caption(subject: str, phrase: str) -> str:
    return f"{subject} {conjugate(phrase, 'third')}"


def _action_clause(rng: np.random.Generator, legs: str = "still") -> tuple[str, dict]:
    """A random upper-body or head action as a ^-marked phrase and its segment (legs doing `legs`)."""
    kind = int(rng.integers(4))
    side = str(rng.choice(["left", "right"]))
    if kind == 0:
        action = str(rng.choice(["wave", "raise", "punch", "point", "hands_on_hips", "reach"]))
        spec = {"action": action, "direction": "forward" if action != "raise" else "overhead", "height": "high"}
        return str(_pick(rng, arm_phrases(spec, side))), _one_sided("arm", action, side, rng, legs)
    if kind == 1:
        action = str(rng.choice(["clap", "cross_arms", "raise", "wave"]))
        spec = {"action": action, "direction": "overhead", "height": "high"}
        return str(_pick(rng, arm_phrases(spec, None))), _both("arms", action, rng, legs)
    if kind == 2:
        action = str(rng.choice(["nod", "shake", "look"]))
        direction = str(rng.choice(["left", "right", "up", "down"]))
        words = neck_phrases({"action": action, "direction": direction})
        if action == "look" and rng.random() < 0.5:
            words = list(LOOK_VERBS[direction])
        seg = _segment(legs)
        seg["neck"] = (action, {"side": direction, "rate_hz": 1.5})
        return str(_pick(rng, words)), seg
    action = str(rng.choice(["bow", "lean", "twist"]))
    seg = _segment(legs)
    seg["torso"] = (action, {"side": side})
    return str(_pick(rng, torso_phrases({"action": action, "direction": side}))), seg


def _gait_phrase(action: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.6:
        return str(_pick(rng, GAIT_VERBS[action]))
    return str(_pick(rng, leg_phrases({"action": action, "direction": "forward"})))


def _merge(base: dict, extra: dict) -> dict:
    """Segment `base` with every group `extra` moves (not at rest) taken from `extra`."""
    out = dict(base)
    rest = {"still", "swing", "upright", "neutral"}
    for g, (action, details) in extra.items():
        if action not in rest:
            out[g] = (action, details)
    return out


def _scenario(rng: np.random.Generator) -> tuple[str, list[dict]]:
    """One synthetic caption (without subject substitution done twice) and its segment plan."""
    subject, pron = _pick(rng, SUBJECTS)
    side = str(rng.choice(["left", "right"]))
    kind = int(rng.choice(12, p=[0.12, 0.07, 0.07, 0.09, 0.07, 0.08, 0.14, 0.14, 0.1, 0.06, 0.03, 0.03]))
    if kind == 0:  # gait in other words
        action = str(rng.choice(GAITS, p=[0.4, 0.15, 0.35, 0.1]))
        return _caption(subject, str(_pick(rng, GAIT_VERBS[action]))), [_segment(action)]
    if kind == 1:  # sneaking: a slow hunched walk
        seg = _segment("walk", torso=("bow", {}))
        return _caption(subject, str(_pick(rng, SNEAK_VERBS))), [seg]
    if kind == 2:  # stumbling: a walk that lurches forward or to a side
        lean = rng.random() < 0.5
        seg = _segment("walk", torso=("lean", {"side": side}) if lean else ("bow", {}))
        return _caption(subject, str(_pick(rng, STUMBLE_VERBS))), [seg]
    if kind == 3:  # knee raises
        if rng.random() < 0.25:
            return _caption(subject, str(_pick(rng, KNEES_ALTERNATE))), [_segment("march")]
        seg = _segment("still")
        seg[f"{side}_leg"] = ("lift", {"knee": "high"})  # described as a knee raise, not a tuck
        phrase = _fill_side(str(_pick(rng, KNEE_RAISE)), side)
        if rng.random() < 0.3:
            lead = str(_pick(rng, ("using the {side} leg, ", "with the {side} leg, ")))
            phrase = phrase.replace(f"the {side} knee", "the knee").replace(f"a {side} knee", "a knee")
            return _fill_side(lead, side) + _caption(subject, phrase), [seg]
        return _caption(subject, phrase), [seg]
    if kind == 4:  # standing still
        return _caption(subject, str(_pick(rng, STAND_STILL))), [_segment("still")]
    if kind == 5:  # looking up, down or aside, standing or walking
        direction = str(rng.choice(["up", "down", "left", "right"], p=[0.35, 0.35, 0.15, 0.15]))
        legs = "walk" if rng.random() < 0.25 else "still"
        seg = _segment(legs, neck=("look", {"side": direction}))
        phrase = str(_pick(rng, LOOK_VERBS[direction]))
        if legs == "walk":
            return (f"{subject} {conjugate(_gait_phrase('walk', rng), 'third')} while "
                    f"{conjugate(phrase, 'gerund')}"), [seg]
        return _caption(subject, phrase), [seg]
    if kind == 6:  # everyday actions
        phrase, parts = _pick(rng, EVERYDAY)
        named = "{side}" in phrase
        act_side = side if named else "right"
        part, action = next(iter(parts.items()))
        if part in ("arm", "leg"):
            seg = _one_sided(part, action, act_side, rng)
        else:
            seg = _both(part, action, rng, side=side if named else "right")
        return _caption(subject, _fill_side(phrase, side)), [seg]
    if kind == 7:  # "while": two things at the same time
        legs = str(rng.choice(["walk", "jog", "run", "march", "still", "squat", "jump"],
                              p=[0.3, 0.12, 0.1, 0.08, 0.3, 0.05, 0.05]))
        other, seg = _action_clause(rng, legs)
        if legs == "still":
            main = str(_pick(rng, ("^stand in place", "^stand still", "^stay on the spot", "^stand")))
        elif legs in GAITS:
            main = _gait_phrase(legs, rng)
        else:
            main = str(_pick(rng, leg_phrases({"action": legs, "count": 2})))
        if rng.random() < 0.5:
            main, other = other, main
        tpl = str(_pick(rng, SIM_FRONT))
        text = tpl.format(s=subject, p=pron, t=conjugate(main, "third"), o=conjugate(other, "third"),
                          g=conjugate(other, "gerund"),
                          po=other.replace("^", "") if pron == "they" else conjugate(other, "third"))
        return text, [seg]
    if kind == 8:  # sequences in other words
        first = _sequence_step(rng)
        second = _sequence_step(rng)
        link = str(_pick(rng, SEQ_LINKS + ("then", ", then")))
        style = int(rng.integers(3))
        if style == 0:
            text = f"{subject} {conjugate(first[0], 'third')} {link} {conjugate(second[0], 'third')}"
        elif style == 1:
            text = f"first {subject} {conjugate(first[0], 'third')}, then {conjugate(second[0], 'third')}"
        else:
            text = f"after {conjugate(first[0], 'gerund')}, {subject} {conjugate(second[0], 'third')}"
        return text.replace(" ,", ","), [first[1], second[1]]
    if kind == 9:  # sides named unusually
        action = str(rng.choice(["wave", "punch", "point", "raise", "kick", "throw"]))
        part = "leg" if action == "kick" else "arm"
        word = str(_pick(rng, ("foot", "leg") if part == "leg" else ("hand", "arm")))
        verb = {"wave": "^wave", "punch": "^punch", "point": "^point ahead", "raise": "^raise it up high",
                "kick": "^kick", "throw": "^throw a ball"}[action]
        seg = _one_sided(part, action, side, rng)
        if rng.random() < 0.5:
            text = str(_pick(rng, SIDE_LEADS)).format(side=side, part=word) + _caption(subject, verb)
        else:
            text = _caption(subject, verb) + str(_pick(rng, SIDE_TAILS)).format(side=side, part=word)
        return text, [seg]
    if kind == 10:  # gait with one clause, then standing still
        action = str(rng.choice(GAITS))
        still = str(_pick(rng, STAND_STILL))
        return (f"{subject} {conjugate(_gait_phrase(action, rng), 'third')}, then {conjugate(still, 'third')}",
                [_segment(action), _segment("still")])
    # standing still, then a gait in other words
    action = str(rng.choice(GAITS))
    still = str(_pick(rng, STAND_STILL))
    return (f"{subject} {conjugate(still, 'third')}, then {conjugate(_gait_phrase(action, rng), 'third')}",
            [_segment("still"), _segment(action)])


def _sequence_step(rng: np.random.Generator) -> tuple[str, dict]:
    """One step of a sequence: a gait, a still stand, a leg action or an upper-body action."""
    r = rng.random()
    if r < 0.35:
        action = str(rng.choice(GAITS))
        return _gait_phrase(action, rng), _segment(action)
    if r < 0.45:
        return str(_pick(rng, STAND_STILL)), _segment("still")
    if r < 0.7:
        action = str(rng.choice(["jump", "squat", "kick", "kneel", "lunge", "side_step"]))
        side = str(rng.choice(["left", "right"]))
        spec = {"action": action, "side": side, "direction": side if action == "side_step" else "forward",
                "count": 1}
        phrase = str(_pick(rng, leg_phrases(spec)))
        if action == "kick":
            seg = _one_sided("leg", "kick", side if side in phrase else "right", rng)
        elif action in ("kneel", "lunge"):
            seg = _one_sided("leg", action, side if side in phrase else "right", rng)
        else:
            seg = _both("legs", action, rng)
            if action == "side_step":
                seg["left_leg"] = seg["right_leg"] = ("side_step", {"side": side, "direction": side})
        return phrase, seg
    return _action_clause(rng)


def synthetic_pairs(n: int, seed: int = 0) -> list[tuple[str, dict]]:
    """Return n (caption, descriptions) pairs composed from the vocabulary tables, deterministic for a seed."""
    rng = np.random.default_rng([seed, 21])
    out = []
    for _ in range(n):
        text, segments = _scenario(rng)
        text = " ".join(text.replace(" ,", ",").split())
        if rng.random() < 0.3:
            text += "."
        if rng.random() < 0.3:
            text = text[0].upper() + text[1:]
        out.append((text, _describe(segments, rng)))
    return out
