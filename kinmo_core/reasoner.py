"""The Motion Reasoner (paper Sec. 4): a global caption in, six group and fifteen interaction descriptions out.

`MotionReasoner.from_pretrained(path)` loads either KinMo's default model (a small decoder over frozen MiniLM token
features, `kinmo_core.models.description_decoder`, trained by `training/train_reasoner.py`) or a user's own Hugging
Face causal LM fine-tuned by the same script (`--base-model PATH [--lora]`). Both backends go through one `reason()`
that never passes malformed output on: every field is checked (non-empty, about its own part or pair, not about the
mirrored limb); a failing field is regenerated with other seeds and some temperature, and after that replaced by a
neutral description. Empty, non-English or nonsense captions get a warning and neutral descriptions.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.motion.kinematic import GROUPS, MIRROR_GROUP, MIRROR_PAIR, PAIR_GROUPS, PAIRS

log = logging.getLogger(__name__)

FIELDS: tuple[str, ...] = GROUPS + PAIRS
"""The 21 fields a reasoner writes, in the decoder's field order: six groups, then fifteen pairs."""

MARKER_NAME: str = "kinmo_reasoner.json"
"""File beside a fine-tuned Hugging Face causal LM that records its prompt format (and LoRA base model)."""

VOCAB_NAME: str = "vocab.json"
"""File beside the default model's weights: the WordPiece ids of its compact output vocabulary."""

REPAIR_TRIES: int = 3
REPAIR_SAMPLES: int = 6
REPAIR_TEMPERATURE: float = 0.8

_SIDE_PART = {"arm": r"(?:arm|arms|hand|hands|elbow|wrist|shoulder|fist|palm|fingers?)",
              "leg": r"(?:leg|legs|foot|feet|knee|thigh|shin|ankle|heel|toes?)"}
PART_PATTERNS: dict[str, re.Pattern[str]] = {
    "torso": re.compile(r"\b(?:torso|trunk|upper body|chest|spine|waist|hips?|pelvis)\b", re.I),
    "neck": re.compile(r"\b(?:head|neck|face|chin|gaze)\b", re.I),
    **{f"{side}_{limb}": re.compile(rf"\b{side}\s+{pat}\b", re.I)
       for side in ("left", "right") for limb, pat in _SIDE_PART.items()},
}
"""How a description names each group (a sided limb must carry its side)."""

NEUTRAL_GROUPS: dict[str, str] = {
    "torso": "The torso stays upright and still.",
    "neck": "The head stays neutral, facing straight ahead.",
    "left_arm": "The left arm hangs relaxed by the side.",
    "right_arm": "The right arm hangs relaxed by the side.",
    "left_leg": "The left leg stands still, bearing weight.",
    "right_leg": "The right leg stands still, bearing weight.",
}
_PART_NAMES = {"torso": "the torso", "neck": "the head", "left_arm": "the left arm", "right_arm": "the right arm",
               "left_leg": "the left leg", "right_leg": "the right leg"}
_NEUTRAL_STATES = {"torso": "the torso stays upright", "neck": "the head stays neutral",
                   "left_arm": "the left arm hangs relaxed", "right_arm": "the right arm hangs relaxed",
                   "left_leg": "the left leg stands still", "right_leg": "the right leg stands still"}


def neutral_description(field: str) -> str:
    """Return the neutral (standing still) description of a group or pair field."""
    if field in NEUTRAL_GROUPS:
        return NEUTRAL_GROUPS[field]
    if field not in PAIR_GROUPS:
        raise KinmoInputError(f"unknown description field {field!r}")
    a, b = PAIR_GROUPS[field]
    text = f"Neither part moves much: {_NEUTRAL_STATES[a]} and {_NEUTRAL_STATES[b]}."
    return text[0].upper() + text[1:]


def neutral_descriptions() -> dict:
    """Return the complete neutral result: {'groups': {6}, 'interactions': {15}}."""
    return {"groups": {g: neutral_description(g) for g in GROUPS},
            "interactions": {p: neutral_description(p) for p in PAIRS}}


def _opposite(group: str) -> str | None:
    if group.startswith("left_"):
        return "right_" + group[5:]
    if group.startswith("right_"):
        return "left_" + group[6:]
    return None


_BOTH_SIDES = {limb: re.compile(rf"\b(?:both|the two|the|two|its|his|her|their)\s+{pat}\b", re.I)
               for limb, pat in _SIDE_PART.items()}


_STUTTER = re.compile(r"\b(\w+)\s+\1\b", re.I)


def _names_part(group: str, text: str, plural_ok: bool) -> bool:
    if PART_PATTERNS[group].search(text):
        return True
    limb = group.rsplit("_", 1)[-1]
    return plural_ok and limb in _BOTH_SIDES and bool(_BOTH_SIDES[limb].search(text))


def field_is_valid(field: str, text: object) -> bool:
    """Whether a description is usable for `field`: non-empty, names its part(s), a group's own limb before the other.

    A group description may mention the other side in passing (a kneeling leg's description says where the other
    foot is) but must be about its own side: its own limb is named first.
    """
    if not isinstance(text, str) or len(text.strip()) < 8 or not re.search(r"[A-Za-z]{3}", text):
        return False
    if _STUTTER.search(text):  # "is is": a decoding loop, never in the annotations
        return False
    if field in PAIR_GROUPS:
        a, b = PAIR_GROUPS[field]
        both_sides = _opposite(a) == b  # "the hands meet" names the left and the right arm
        return _names_part(a, text, both_sides) and _names_part(b, text, both_sides)
    if field not in PART_PATTERNS:
        return False
    own = PART_PATTERNS[field].search(text)
    if own is None:
        return False
    other = _opposite(field)
    theirs = PART_PATTERNS[other].search(text) if other else None
    return theirs is None or own.start() < theirs.start()


_CLAUSE_END = re.compile(r"[,.;]|\b(?:and|while|then|before|after|as|but)\b", re.I)
_PART_WORD = {limb: re.compile(rf"\b{pat}\b", re.I) for limb, pat in _SIDE_PART.items()}
_SIDE_WORD = re.compile(r"\b(left|right|both)\b", re.I)
_TWO_HANDED = frozenset({"clap", "cross_arms", "hands_on_hips"})
_BOTH_LEGS = frozenset({"walk", "jog", "run", "march", "side_step", "jump", "squat"})


_DIRECTION_ONLY = frozenset({"sideways", "to the side"})


def _limb_actions() -> tuple[str, ...]:
    from kinmo_core.data.actions import GROUP_ACTIONS, IMPLIED_ACTIONS

    acts = dict.fromkeys(GROUP_ACTIONS["left_arm"] + GROUP_ACTIONS["left_leg"])
    return tuple(a for a in acts if a not in IMPLIED_ACTIONS and a not in _BOTH_LEGS)


_LIMB_ACTIONS = _limb_actions()
"""One-limb actions (not locomotion): a clause naming one uses "to the side" as its direction."""


def _action_window(caption: str, start: int, end: int) -> str:
    """The words around an action word that say which limb does it: back to the clause start, on to its end."""
    before = caption[:start]
    cut = max((m.end() for m in _CLAUSE_END.finditer(before)), default=0)
    after = caption[end:]
    stop = _CLAUSE_END.search(after)
    return before[cut:] + " " + caption[start:end] + " " + (after[: stop.start()] if stop else after)


def caption_plan(caption: str) -> dict[str, set[str]]:
    """The actions a caption gives each group ("waves with the left hand": left_arm -> {wave}).

    Found through the shared action vocabulary and the side and limb words in the same clause. A one-sided action
    whose side the caption leaves open is not assigned (the model chooses); two-handed arm actions and locomotion go
    to both limbs. The reasoner uses the plan to check that its output follows the caption.
    """
    from kinmo_core.data.actions import _PATTERNS, GROUP_ACTIONS, IMPLIED_ACTIONS, STILL_ACTIONS, mentions_action

    plan: dict[str, set[str]] = {g: set() for g in GROUPS}
    for group in ("torso", "neck"):
        for action in GROUP_ACTIONS[group]:
            if action not in STILL_ACTIONS and _PATTERNS[action].search(caption):
                plan[group].add(action)
    for limb in ("arm", "leg"):
        for action in GROUP_ACTIONS[f"left_{limb}"]:
            if action in IMPLIED_ACTIONS:
                continue
            for m in _PATTERNS[action].finditer(caption):
                window = _action_window(caption, m.start(), m.end())
                if action == "side_step" and m.group(0).lower() in _DIRECTION_ONLY and any(
                        mentions_action(window, a) for a in _LIMB_ACTIONS):
                    continue  # "kicks to the side", "reaches out sideways": a direction, not a side step
                if action in _BOTH_LEGS:  # locomotion uses both legs whatever direction the clause names
                    targets: tuple[str, ...] = ("left", "right")
                else:
                    other = "leg" if limb == "arm" else "arm"
                    if _PART_WORD[other].search(window) and not _PART_WORD[limb].search(window):
                        continue  # "raises the left leg" is not an arm raise
                    sides = {w.lower() for w in _SIDE_WORD.findall(window)}
                    if "both" in sides or {"left", "right"} <= sides:
                        targets = ("left", "right")
                    elif sides:
                        targets = tuple(sides)
                    elif action in _TWO_HANDED:
                        targets = ("left", "right")
                    else:
                        continue
                for side in targets:
                    plan[f"{side}_{limb}"].add(action)
    return plan


def follows_plan(group: str, text: str, plan: dict[str, set[str]]) -> bool:
    """Whether a group description names an action the caption gives it and none given only to the other side."""
    from kinmo_core.data.actions import SAME_POSE, mentions_action

    def names(actions: set[str]) -> bool:
        return any(mentions_action(text, b) for a in actions for b in {a} | SAME_POSE.get(a, set()))

    wanted = plan.get(group, set())
    if wanted and not names(wanted):
        return False
    return not names(_foreign(group, plan))


def _foreign(group: str, plan: dict[str, set[str]]) -> set[str]:
    """Actions the caption gives only to the other side of a limb (none for torso and neck, or a lunge or kneel)."""
    from kinmo_core.data.actions import SAME_POSE, TWO_LEGGED

    other = _opposite(group)
    if other is None:
        return set()
    mine = plan.get(group, set()) | {b for a in plan.get(group, set()) for b in SAME_POSE.get(a, set())}
    return plan.get(other, set()) - mine - TWO_LEGGED


def _connector_pattern() -> re.Pattern[str]:
    from kinmo_core.annotate.rules import CONNECTORS

    return re.compile("|".join(re.escape(c.rstrip()) + r"\s+" for c in CONNECTORS))


def drop_other_side(group: str, text: str, plan: dict[str, set[str]]) -> str | None:
    """The description without its phrases that name an action the caption gives only to the other side.

    Descriptions chain phrases with the annotation grammar's connectors ("... lunges forward, after that it hops");
    the first phrase carries the part's name and keeps it when its own verb phrase goes. None when nothing that
    follows the caption is left.
    """
    from kinmo_core.data.actions import mentions_action

    foreign = _foreign(group, plan)
    if not foreign:
        return text
    phrases = _connector_pattern().split(text.strip().rstrip("."))
    part = PART_PATTERNS[group].search(phrases[0])
    if part is None:
        return None
    subject, phrases[0] = phrases[0][: part.end()], phrases[0][part.end():].strip()
    kept = [p for p in phrases if p and not any(mentions_action(p, a) for a in foreign)]
    if not kept:
        return None
    return f"{subject} {', then '.join(kept)}."


def drop_unstated(group: str, text: str, stated: set[str]) -> str | None:
    """The description without its phrases and sentences that name only actions the caption does not give or imply.

    The decoder continues a description with a corpus-typical second segment ("stays motionless, then walks") that a
    caption without that action never asked for. A phrase is dropped when every action of `group` it names lies
    outside `stated` (`kinmo_core.data.paraphrases.stated_actions`); the part's name stays with the first phrase.
    None when every phrase names such an action (the part does something the caption never asked for).
    """
    from kinmo_core.data.actions import mentioned_actions

    def invented(phrase: str) -> bool:
        named = mentioned_actions(phrase, group)
        return bool(named) and not set(named) & stated

    sentences = [s for s in re.split(r"(?<=\.)\s+", text.strip()) if s]
    if not sentences:
        return text
    phrases = _connector_pattern().split(sentences[0].rstrip("."))
    extra = [s for s in sentences[1:] if not invented(s)]
    if not any(invented(p) for p in phrases) and len(extra) == len(sentences) - 1:
        return text
    part = PART_PATTERNS[group].search(phrases[0])
    if part is None:
        return text
    subject, phrases[0] = phrases[0][: part.end()], phrases[0][part.end():].strip()
    kept = [p for p in phrases if p and not invented(p)]
    if not kept:
        return None
    return " ".join([f"{subject} {', then '.join(kept)}."] + extra)


def mirror_descriptions(desc: dict) -> dict:
    """Descriptions of the mirrored motion: sided fields swapped and left / right swapped in every text."""
    from kinmo_core.data.captions import mirror_text

    return {"groups": {MIRROR_GROUP[g]: mirror_text(t) for g, t in desc["groups"].items()},
            "interactions": {MIRROR_PAIR[k]: mirror_text(t) for k, t in desc["interactions"].items()}}


def plan_misses(desc: dict, plan: dict[str, set[str]]) -> list[str]:
    """The groups of a (possibly partial) description set that do not follow the caption's plan."""
    return [g for g, text in desc["groups"].items() if not follows_plan(g, text, plan)]


def validate_descriptions(result: object) -> list[str]:
    """Return the fields of a reasoner result that are missing or invalid (empty list: complete and valid)."""
    if not isinstance(result, dict):
        return list(FIELDS)
    groups = result.get("groups") if isinstance(result.get("groups"), dict) else {}
    inter = result.get("interactions") if isinstance(result.get("interactions"), dict) else {}
    bad = [g for g in GROUPS if not field_is_valid(g, groups.get(g))]
    return bad + [p for p in PAIRS if not field_is_valid(p, inter.get(p))]


def tidy_text(text: str) -> str:
    """Clean decoded text: WordPiece spacing around punctuation, capitalised sentences, a final full stop."""
    t = " ".join(text.split())
    t = re.sub(r"\s+([,.;:!?%)])", r"\1", t)
    t = re.sub(r"([(])\s+", r"\1", t)
    t = re.sub(r"\s*'\s*s\b", "'s", t)
    t = re.sub(r"(\w)\s*-\s*(\w)", r"\1-\2", t)
    t = t.strip(" ,;:")
    if not t:
        return t
    t = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), t)
    return t if t.endswith((".", "!", "?")) else t + "."


# ------------------------------------------------------------------------------------------------ input checks

_MOTION_STEMS = (
    "walk", "jog", "run", "sprint", "march", "step", "stride", "stroll", "pace", "shuffl", "side", "jump", "leap",
    "hop", "skip", "bound", "squat", "crouch", "lunge", "kneel", "kick", "wave", "waving", "rais", "lift", "punch",
    "jab",
    "box", "reach", "stretch", "point", "clap", "hip", "cross", "fold", "throw", "toss", "pitch", "bow", "bend", "lean",
    "tilt", "twist", "turn", "rotat", "spin", "nod", "shak", "look", "glanc", "gaz", "stand", "sit", "lie", "lying",
    "crawl", "climb", "danc", "swing", "sway", "mov", "motion", "gestur", "arm", "hand", "leg", "foot", "feet", "knee",
    "head", "neck", "torso", "body", "shoulder", "elbow", "wrist", "fist", "finger", "toe", "heel", "back", "chest",
    "wait", "rest", "idle", "still", "pose", "balanc", "stumbl", "trip", "fall", "roll", "dodg", "duck", "fight",
    "swim", "catch", "grab", "pick", "push", "pull", "carry", "drag", "lower", "drop", "shrug", "salut", "celebrat",
    "cheer", "exercis", "warm", "jumping", "hurl", "strik", "hit", "flap", "shadow", "tiptoe", "limp", "hobbl",
    "trot", "gallop", "backward", "forward", "circle", "around", "up", "down", "left", "right", "pac", "stomp",
    "tap", "shift", "sway", "rock", "bounc", "flex", "extend", "hold", "keep", "return", "go", "come", "approach",
)
_MOTION_RE = re.compile(r"\b(?:" + "|".join(sorted(set(_MOTION_STEMS), key=len, reverse=True)) + r")", re.I)
_ENGLISH = frozenset(
    "a an the person someone man woman he she they it his her their its is are and then while with of to on in "
    "at by from up down for as one both two three four five times once twice again slowly quickly fast forward "
    "backward around place spot over into".split())


def caption_problem(text: str) -> str | None:
    """Return why a caption cannot be reasoned about (empty, not English, no motion in it), or None if it can."""
    if not isinstance(text, str):
        return "not a string"
    t = text.strip()
    if not t:
        return "empty caption"
    letters = [c for c in t if c.isalpha()]
    if not letters:
        return "no letters in the caption"
    if sum(c.isascii() for c in letters) < 0.7 * len(letters):
        return "the caption does not look like English"
    words = re.findall(r"[a-z]+", t.lower())
    if len(words) >= 3 and not any(w in _ENGLISH for w in words):
        # Without a single common English word, a few motion-like stems ("marche") do not make it English.
        motion = sum(bool(_MOTION_RE.match(w)) for w in words)
        if motion == 0 or (len(words) >= 4 and motion < 0.5 * len(words)):
            return "the caption does not look like English"
    if not _MOTION_RE.search(t):
        from kinmo_core.data.paraphrases import names_stated_action

        if not names_stated_action(t):  # "wanders", "applauds": motion words the stems above lack
            return "the caption names no motion or body part"
    return None


# ------------------------------------------------------------------------------------------------ the interface


def _default_path() -> Path:
    return Path(__file__).resolve().parent / "assets" / "default" / "reasoner"


class MotionReasoner:
    """Global caption -> per-group and per-pair descriptions, validated and repaired; one of two backends."""

    def __init__(self, backend) -> None:
        self.backend = backend

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None) -> MotionReasoner:
        """Load the default reasoner (path None: kinmo_core/assets/default/reasoner) or a fine-tuned HF causal LM."""
        folder = Path(path).expanduser() if path is not None else _default_path()
        if not folder.is_dir():
            hint = " (train one with python -m training.train_reasoner)" if path is None else ""
            raise KinmoModelError(f"no reasoner model in {folder}{hint}")
        kind = detect_kind(folder)
        if kind == "default":
            return cls(DefaultBackend(folder))
        return cls(CausalLMBackend(folder))

    def reason(self, texts: Sequence[str] | str, seed: int = 0, temperature: float = 0.0,
               batch_size: int = 32) -> list[dict]:
        """Return, for each caption, {'groups': {6 descriptions}, 'interactions': {15 descriptions}}, all valid."""
        items = [texts] if isinstance(texts, str) else list(texts)
        if temperature < 0:
            raise KinmoInputError(f"temperature must be >= 0, got {temperature}")
        results: list[dict | None] = [None] * len(items)
        todo: list[int] = []
        for i, t in enumerate(items):
            problem = caption_problem(t)
            if problem is not None:
                shown = repr(t if not isinstance(t, str) or len(t) < 60 else t[:57] + "...")
                warnings.warn(f"reasoner: {problem} ({shown}); using neutral descriptions", stacklevel=2)
                results[i] = neutral_descriptions()
            else:
                todo.append(i)
        for start in range(0, len(todo), max(1, batch_size)):
            idx = todo[start:start + batch_size]
            for i, r in zip(idx, self._reason_batch([items[i].strip() for i in idx], seed, temperature), strict=True):
                results[i] = r
        return results  # type: ignore[return-value]

    def _reason_batch(self, texts: list[str], seed: int, temperature: float) -> list[dict]:
        raw = self.backend.generate(texts, seed=seed, temperature=temperature)
        out = [{"groups": {}, "interactions": {}} for _ in texts]
        missing: dict[int, list[str]] = {}
        for i, fields in enumerate(raw):
            for f in FIELDS:
                text = fields.get(f)
                if field_is_valid(f, text):
                    out[i]["groups" if f in GROUPS else "interactions"][f] = text
                else:
                    missing.setdefault(i, []).append(f)
        # Valid fields that do not follow the caption ("waves with the left hand" but the left arm "hangs") are
        # rewritten like invalid ones; if no try follows it either, the model's own valid text stays.
        plans = [caption_plan(t) for t in texts]
        for i, plan in enumerate(plans):
            # A model that put the caption's one-sided action on the other side wrote a mirrored body: mirroring
            # every field back (sided fields swapped, left / right swapped in the text) keeps the description
            # coherent across groups and interactions, where regenerating only the failing group would not.
            misses = plan_misses(out[i], plan)
            if misses and i not in missing:
                flipped = mirror_descriptions(out[i])
                if len(plan_misses(flipped, plan)) < len(misses):
                    out[i] = flipped
        fallback: dict[tuple[int, str], str] = {}
        for i, plan in enumerate(plans):
            for g in GROUPS:
                text = out[i]["groups"].get(g)
                if text is not None and not follows_plan(g, text, plan):
                    fallback[(i, g)] = text
                    missing.setdefault(i, []).append(g)
        for attempt in range(1, REPAIR_TRIES + 1):
            if not missing:
                break
            idx = sorted(missing)
            temp = max(temperature, REPAIR_TEMPERATURE)
            wanted = [f for f in FIELDS if any(f in missing[i] for i in idx)]
            # Several samples per caption in one batched call: the first usable one of each field is taken.
            rows = [i for i in idx for _ in range(REPAIR_SAMPLES)]
            again = self.backend.generate([texts[i] for i in rows], seed=seed + 7919 * attempt, temperature=temp,
                                          fields=wanted)
            for k, i in enumerate(idx):
                samples = again[k * REPAIR_SAMPLES:(k + 1) * REPAIR_SAMPLES]
                still = []
                for f in missing[i]:
                    text = next((c.get(f) for c in samples if field_is_valid(f, c.get(f)) and (
                        f not in GROUPS or follows_plan(f, c[f], plans[i]))), None)
                    if text is not None:
                        out[i]["groups" if f in GROUPS else "interactions"][f] = text
                    else:
                        still.append(f)
                missing[i] = still
            missing = {i: fs for i, fs in missing.items() if fs}
        for i in list(missing):
            kept = [f for f in missing[i] if (i, f) in fallback]
            for f in kept:
                # The model's own text, less any phrase that hands the other side's action to this side.
                # When every phrase names the other side's action, the part does not do it: neutral text.
                trimmed = drop_other_side(f, fallback[(i, f)], plans[i])
                if trimmed is None:
                    trimmed = neutral_description(f)
                out[i]["groups"][f] = trimmed if field_is_valid(f, trimmed) else fallback[(i, f)]
            missing[i] = [f for f in missing[i] if (i, f) not in fallback]
        missing = {i: fs for i, fs in missing.items() if fs}
        from kinmo_core.data.actions import IMPLIED_ACTIONS
        from kinmo_core.data.paraphrases import stated_actions

        for i, text in enumerate(texts):
            # Last: phrases naming actions the caption never gives (a decoder's habitual second segment) go.
            stated = stated_actions(text)
            # A part whose every phrase is such an action rests instead, but only where the caption gives some
            # action the tables know: for a caption they do not understand the model's guess is all there is.
            understood = bool(stated - IMPLIED_ACTIONS)
            for g in GROUPS:
                if g in out[i]["groups"]:
                    trimmed = drop_unstated(g, out[i]["groups"][g], stated)
                    if trimmed is None and understood:
                        trimmed = neutral_description(g)
                    if trimmed is not None and field_is_valid(g, trimmed):
                        out[i]["groups"][g] = trimmed
        for i, fs in missing.items():
            log.warning("reasoner: %d field(s) of %r stayed invalid after %d tries; neutral text used: %s",
                        len(fs), texts[i], REPAIR_TRIES, ", ".join(fs))
            for f in fs:
                out[i]["groups" if f in GROUPS else "interactions"][f] = neutral_description(f)
        return [{"groups": {g: r["groups"][g] for g in GROUPS},
                 "interactions": {p: r["interactions"][p] for p in PAIRS}} for r in out]


class MemoReasoner:
    """A reasoner whose outputs are kept per (caption, seed, temperature), so evaluations that ask again (several
    models, rows or repeats on the same captions) expand each caption once; loads the default reasoner lazily."""

    def __init__(self, inner: MotionReasoner | None = None) -> None:
        self._inner = inner
        self._memo: dict[tuple[str, int, float], dict] = {}

    def reason(self, texts: Sequence[str] | str, seed: int = 0, temperature: float = 0.0, **kwargs) -> list[dict]:
        """MotionReasoner.reason, computing each (caption, seed, temperature) once."""
        import copy

        texts = [texts] if isinstance(texts, str) else list(texts)
        todo = list(dict.fromkeys(t for t in texts if (t, seed, temperature) not in self._memo))
        if todo:
            if self._inner is None:
                self._inner = load_reasoner()
            for t, d in zip(todo, self._inner.reason(todo, seed=seed, temperature=temperature, **kwargs), strict=True):
                self._memo[(t, seed, temperature)] = d
        return [copy.deepcopy(self._memo[(t, seed, temperature)]) for t in texts]


def load_reasoner(path: str | os.PathLike | None = None) -> MotionReasoner:
    """Return the Motion Reasoner at `path` (None: the default); KinmoModelError when it or its weights are missing."""
    try:
        return MotionReasoner.from_pretrained(path)
    except (KinmoModelError, KinmoInputError, FileNotFoundError, OSError) as exc:
        raise KinmoModelError(f"cannot load the Motion Reasoner: {exc}; give descriptions instead or use "
                              "--levels 1") from None


def detect_kind(folder: Path) -> str:
    """Return 'default' for a KinMo reasoner folder, 'causal_lm' for a Hugging Face causal LM (or LoRA adapter)."""
    if (folder / MARKER_NAME).is_file() or (folder / "adapter_config.json").is_file():
        return "causal_lm"
    cfg = folder / "config.json"
    if not cfg.is_file():
        raise KinmoModelError(f"{folder} holds no config.json: not a reasoner model")
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KinmoModelError(f"damaged {cfg}: {exc}") from None
    if isinstance(data, dict) and data.get("model") == "ReasonerModel":
        return "default"
    if isinstance(data, dict) and "model_type" in data:
        return "causal_lm"
    raise KinmoModelError(f"{folder} is neither a KinMo reasoner nor a Hugging Face causal LM")


# ------------------------------------------------------------------------------------------------ default backend


class DefaultBackend:
    """KinMo's own reasoner: frozen MiniLM token features -> ReasonerModel writing 21 fields in parallel."""

    def __init__(self, folder: Path) -> None:
        from kinmo_core.models.description_decoder import ReasonerConfig, ReasonerModel
        from kinmo_core.models.io import load_pretrained, read_config
        from kinmo_core.text.encoders import get_token_encoder

        meta = read_config(folder).get("meta", {})
        self.model = load_pretrained(ReasonerModel, ReasonerConfig, folder)
        vocab_file = folder / VOCAB_NAME
        try:
            vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
            self.wordpiece_ids = [int(i) for i in vocab["wordpiece_ids"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KinmoModelError(f"{folder}: missing or damaged {VOCAB_NAME}: {exc}") from None
        from kinmo_core.models.description_decoder import NUM_SPECIAL

        if len(self.wordpiece_ids) + NUM_SPECIAL != self.model.cfg.vocab_size:
            raise KinmoModelError(f"{folder}: {VOCAB_NAME} has {len(self.wordpiece_ids)} words, the model "
                                  f"{self.model.cfg.vocab_size - NUM_SPECIAL}")
        if tuple(meta.get("fields", FIELDS)) != FIELDS:
            raise KinmoModelError(f"{folder}: the model writes fields {meta.get('fields')}, not KinMo's 21")
        self.encoder = get_token_encoder(meta.get("text_encoder") or None)
        self.max_len = self.model.cfg.max_len

    def generate(self, texts: list[str], seed: int = 0, temperature: float = 0.0,
                 fields: Sequence[str] | None = None) -> list[dict[str, str]]:
        """Return the raw (unvalidated) fields (default all 21) of each caption."""
        import torch

        from kinmo_core.models.description_decoder import EOS, NUM_SPECIAL

        names = list(fields) if fields is not None else list(FIELDS)
        feats, mask = self.encoder.encode(texts)
        g = torch.Generator().manual_seed(int(seed))
        ids = self.model.generate(feats, mask, temperature=temperature, generator=g,
                                  fields=[FIELDS.index(f) for f in names])
        tok = self.encoder._load()[0]
        out = []
        for row in ids.tolist():
            fields = {}
            for f, seq in zip(names, row, strict=True):
                ended = EOS in seq
                seq = seq[: seq.index(EOS)] if ended else seq
                words = [self.wordpiece_ids[t - NUM_SPECIAL] for t in seq if t >= NUM_SPECIAL]
                text = tok.decode(words)
                if not ended:  # cut at max_len: keep whole sentences only
                    cut = text.rfind(".")
                    text = text[: cut + 1] if cut > 0 else ""
                fields[f] = tidy_text(text)
            out.append(fields)
        return out


# ------------------------------------------------------------------------------------------------ HF causal LM backend

PROMPT_TEMPLATE: str = ("Describe how each body part of the person moves, as JSON with the keys \"groups\" (torso, "
                        "neck, left_arm, right_arm, left_leg, right_leg) and \"interactions\" (pairs of parts).\n"
                        "Caption: {caption}\nDescriptions: ")
"""Prompt of the bring-your-own-LLM backend; the target after it is `format_target(descriptions)`."""


def format_prompt(caption: str) -> str:
    """Return the causal-LM prompt for a caption."""
    return PROMPT_TEMPLATE.format(caption=" ".join(caption.split()))


def format_target(descriptions: dict) -> str:
    """Return the JSON text a causal LM learns to write after the prompt."""
    return json.dumps({"groups": {g: descriptions["groups"][g] for g in GROUPS},
                       "interactions": {p: descriptions["interactions"][p] for p in PAIRS}}, ensure_ascii=False)


_KV_RE = re.compile(r'"([a-z_|]+)"\s*:\s*"((?:[^"\\]|\\.)*)"')


def parse_output(text: str) -> dict[str, str]:
    """Parse a causal LM's (possibly truncated or malformed) JSON output into {field: text} for the fields it holds."""
    fields: dict[str, str] = {}
    start = text.find("{")
    if start >= 0:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[start:])
            if isinstance(obj, dict):
                for sub in (obj.get("groups"), obj.get("interactions"), obj):
                    if isinstance(sub, dict):
                        fields.update({k: v for k, v in sub.items() if k in FIELDS and isinstance(v, str)})
                if fields:
                    return fields
        except ValueError:
            pass
    for key, value in _KV_RE.findall(text):
        if key in FIELDS and key not in fields:
            try:
                fields[key] = json.loads(f'"{value}"')
            except ValueError:
                fields[key] = value
    return fields


class CausalLMBackend:
    """A user's Hugging Face causal LM (full fine-tune or LoRA adapter) writing the fields as JSON."""

    def __init__(self, folder: Path, max_new_tokens: int | None = None) -> None:
        from kinmo_core.text.encoders import _force_offline

        _force_offline()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        marker = {}
        if (folder / MARKER_NAME).is_file():
            try:
                marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise KinmoModelError(f"damaged {folder / MARKER_NAME}: {exc}") from None
        self.max_new_tokens = int(max_new_tokens or marker.get("max_new_tokens", 1024))
        try:
            if (folder / "adapter_config.json").is_file():
                from peft import PeftModel

                adapter = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
                base = marker.get("base_model") or adapter.get("base_model_name_or_path")
                if not base or not Path(base).is_dir():
                    raise KinmoModelError(f"{folder}: LoRA adapter's base model not found: {base}")
                model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
                self.model = PeftModel.from_pretrained(model, str(folder), local_files_only=True).merge_and_unload()
                tok_src = folder if (folder / "tokenizer_config.json").is_file() else Path(base)
            else:
                self.model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
                tok_src = folder
            self.tokenizer = AutoTokenizer.from_pretrained(str(tok_src), local_files_only=True)
        except KinmoModelError:
            raise
        except Exception as exc:
            raise KinmoModelError(f"cannot load a causal LM from {folder}: {exc}") from None
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self._torch = torch

    def generate(self, texts: list[str], seed: int = 0, temperature: float = 0.0,
                 fields: Sequence[str] | None = None) -> list[dict[str, str]]:
        """Return the parsed (unvalidated) fields of each caption (the LM always writes all of them)."""
        torch = self._torch
        prompts = [format_prompt(t) for t in texts]
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(int(seed))
        kwargs = {"do_sample": temperature > 0, "max_new_tokens": self.max_new_tokens,
                  "pad_token_id": self.tokenizer.pad_token_id}
        if self.tokenizer.eos_token_id is not None:
            kwargs["eos_token_id"] = self.tokenizer.eos_token_id
        if temperature > 0:
            kwargs.update(temperature=float(temperature), top_k=0, top_p=1.0)
        with torch.inference_mode():
            out = self.model.generate(**batch, **kwargs)
        new = out[:, batch["input_ids"].shape[1]:]
        return [parse_output(t) for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]
