"""Re-prompt a frame range or body parts of an existing motion (generated or mocap).

    edited = pipe.edit(motion, frames=(40, 80), text="a person raises the left hand", parts=["left_arm"], seed=1)

Method ("inpaint", the default): the range's tokens are regenerated under the new text with the tokens around it
kept (`inpaint`), the result is placed on the source's root path, the edited groups are taken from it and the rest
from the source, and the seams are blended (`composite`). Frames outside the range and untouched groups (when the
torso is not edited) are the source's, bit for bit. Method "generate" regenerates the window from the text alone
and composites the same way (the comparison in BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.kinematic import GROUPS

MIN_RANGE_FRAMES: int = 4
"""The shortest range that can be re-prompted: one token of 4 frames."""
CONTEXT_FRAMES: int = 24
"""Source frames on each side of the range that the in-painting window includes (1.2 s), as context."""
AUTO_SIMILARITY: float = 0.8
"""`parts="auto"`: a group is edited when its new description's MiniLM cosine similarity to the old is below this."""
NEUTRAL_TEXT: str = "a person stands still"
"""`parts="auto"` on a motion with neither text nor descriptions: the change is measured against this."""
METHODS: tuple[str, ...] = ("inpaint", "generate")


@dataclass
class EditResult:
    """Edited motions and what was done."""

    motions: list
    frames: tuple[int, int]
    parts: tuple[str, ...]
    text: str
    descriptions: dict | None = None
    window: tuple[int, int] = (0, 0)
    info: dict = field(default_factory=dict)


def check_frames(frames, num_frames: int) -> tuple[int, int]:
    """Return (start, stop) of a half-open frame range checked against a motion of num_frames; None: all of it."""
    if frames is None:
        frames = (0, num_frames)
    if isinstance(frames, str):
        frames = parse_frames(frames, num_frames)
    try:
        a, b = frames
    except (TypeError, ValueError):
        raise KinmoInputError(f"frames must be a (start, stop) pair, got {frames!r}") from None
    for v in (a, b):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise KinmoInputError(f"frame indices must be integers, got {frames!r}")
    a, b = int(a), int(b)
    if a < 0 or b > num_frames:
        raise KinmoInputError(f"frames {a}:{b} are out of bounds: the motion has frames 0:{num_frames}")
    if b < a:
        raise KinmoInputError(f"frames {a}:{b} are reversed; give START:STOP with START < STOP")
    if b == a:
        raise KinmoInputError(f"frames {a}:{b} are empty")
    if b - a < MIN_RANGE_FRAMES:
        raise KinmoInputError(f"frames {a}:{b} cover {b - a} frames; a range needs at least {MIN_RANGE_FRAMES}")
    from kinmo_core.generation_limits import MAX_FRAMES

    if b - a > MAX_FRAMES:
        raise KinmoInputError(f"frames {a}:{b} cover {b - a} frames; one edit covers at most {MAX_FRAMES} "
                              "(10 s): use `kinmo compose` tracks for longer spans")
    return a, b


def parse_frames(spec: str, num_frames: int) -> tuple[int, int]:
    """Parse 'A:B' (half-open; A or B may be left out for the start or end) into integers."""
    parts = str(spec).split(":")
    if len(parts) != 2:
        raise KinmoInputError(f"--frames must look like START:STOP (e.g. 20:60), got {spec!r}")
    try:
        a = int(parts[0]) if parts[0].strip() else 0
        b = int(parts[1]) if parts[1].strip() else num_frames
    except ValueError:
        raise KinmoInputError(f"--frames must hold integers, like 20:60, got {spec!r}") from None
    return a, b


def check_parts(parts) -> tuple[str, ...] | str | None:
    """Return parts as a tuple of group keys, "auto", or None (the whole body); KinmoInputError for unknown names."""
    if parts is None:
        return None
    if isinstance(parts, str):
        if parts.strip() == "auto":
            return "auto"
        parts = [p for p in parts.split(",")]
    names = [str(p).strip() for p in parts]
    if not names or any(not n for n in names):
        raise KinmoInputError(f"no part names in {parts!r}; expected some of {', '.join(GROUPS)} or auto")
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        raise KinmoInputError(f"unknown part {unknown[0]!r}; expected some of {', '.join(GROUPS)} or auto")
    return tuple(g for g in GROUPS if g in names)


def _source_descriptions(pipe, motion, seed: int) -> dict | None:
    if motion.descriptions is not None:
        return motion.descriptions
    if not pipe.has_reasoner:
        return None
    return pipe.expand([motion.text if motion.text.strip() else NEUTRAL_TEXT], seed=seed)[0]


def changed_groups(old: Mapping, new: Mapping) -> tuple[str, ...]:
    """Return the groups whose description in new differs in meaning from old (MiniLM cosine < AUTO_SIMILARITY)."""
    from kinmo_core.conditioning import get_minilm

    a = [old["groups"].get(g, "") for g in GROUPS]
    b = [new["groups"].get(g, "") for g in GROUPS]
    emb = get_minilm(fast=True).encode(a + b)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=-1, keepdims=True), 1e-9)
    sim = (emb[:6] * emb[6:]).sum(-1)
    return tuple(g for g, s, x, y in zip(GROUPS, sim, a, b, strict=True) if x != y and s < AUTO_SIMILARITY)


def _window(start: int, stop: int, total: int, context: int) -> tuple[int, int]:
    """The in-painting window: the range plus up to `context` frames each side, within 20 to 200 frames."""
    from kinmo_core.generation_limits import MAX_FRAMES, MIN_FRAMES

    lo, hi = max(0, start - context), min(total, stop + context)
    while hi - lo > MAX_FRAMES:  # trim context, from the longer side first
        if start - lo >= hi - stop:
            lo += 1
        else:
            hi -= 1
    while hi - lo < MIN_FRAMES:  # a short motion or range: widen where the motion allows
        if lo > 0:
            lo -= 1
        elif hi < total:
            hi += 1
        else:
            raise KinmoInputError(f"the motion has {total} frames; editing needs at least {MIN_FRAMES} (1 s)")
    return lo, hi


def edit_motion(pipe, motion, text: str, frames=None, parts=None, seed: int = 0, num: int = 1,
                levels: int | None = None, descriptions: Mapping | None = None, blend: int | None = None,
                context: int = CONTEXT_FRAMES, method: str = "inpaint",
                expanded: Mapping | None = None, one_pass: bool = True) -> EditResult:
    """Re-prompt frames [start, stop) of motion (all of it when frames is None), the whole body or `parts`.

    descriptions: used as they are for the range; expanded: the Motion Reasoner's descriptions of text, when
    already known (they are otherwise written here and merged with the source's for the untouched parts).
    """
    from kinmo_core.editing.composite import motion_from_placed_joints
    from kinmo_core.generation_limits import clean_text
    from kinmo_core.motion.file import normalize_descriptions

    if method not in METHODS:
        raise KinmoInputError(f"unknown edit method {method!r}; expected one of {', '.join(METHODS)}")
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise KinmoInputError(f"num must be a positive integer, got {num!r}")
    text = clean_text(text)
    src = np.asarray(motion.joints)
    if src.ndim != 3 or src.shape[1:] != (22, 3) or not np.isfinite(src).all():
        raise KinmoInputError("the motion to edit must have finite joints of shape (T, 22, 3)")
    start, stop = check_frames(frames, len(src))
    groups = check_parts(parts)
    levels = pipe.settings.levels if levels is None else int(levels)
    used = normalize_descriptions(descriptions)
    if used is None and levels > 1 and pipe.has_reasoner:
        new = normalize_descriptions(expanded) or pipe.expand([text], seed=seed)[0]
        if groups is None:
            used = new
        else:
            old = _source_descriptions(pipe, motion, seed)
            if groups == "auto":
                if old is None:
                    raise KinmoInputError("--parts auto needs the Motion Reasoner's descriptions of the source")
                groups = changed_groups(old, new)
                if not groups:
                    raise KinmoInputError(f"--parts auto: {text!r} names no change to any body part of the "
                                          "source; name the parts with --parts")
            # Untouched groups keep the source's descriptions, so the generated context fits the source.
            used = {"groups": {g: (new if old is None or g in groups else old)["groups"][g] for g in GROUPS},
                    "interactions": dict(new["interactions"])}
    elif groups == "auto":
        raise KinmoInputError("--parts auto needs the Motion Reasoner (this model has none, or levels is 1)")
    whole = groups is None or set(groups) == set(GROUPS)
    joints, (lo, hi) = edit_arrays(pipe, src, np.asarray(motion.features), start, stop, text,
                                   None if whole else groups, used, seed=seed, num=num, levels=levels, blend=blend,
                                   context=context, method=method, one_pass=one_pass)
    full_edit = whole and (start, stop) == (0, len(src))
    note = f"{motion.text} [frames {start}:{stop}" + ("" if whole else f", {'+'.join(groups)}") + f": {text}]"
    out_text = text if full_edit else note.strip()
    out_desc = used if full_edit else motion.descriptions
    out = [motion_from_placed_joints(j, text=out_text, descriptions=out_desc, source="kinmo-edit") for j in joints]
    return EditResult(out, (start, stop), tuple(GROUPS) if whole else tuple(groups), text, used, (lo, hi),
                      {"method": method})


def edit_arrays(pipe, src: np.ndarray, features: np.ndarray, start: int, stop: int, text: str,
                groups: Sequence[str] | None, descriptions: Mapping | None, seed: int = 0, num: int = 1,
                levels: int | None = None, blend: int | None = None, context: int = CONTEXT_FRAMES,
                method: str = "inpaint", one_pass: bool = True) -> tuple[list[np.ndarray], tuple[int, int]]:
    """Edit joints src (T, 22, 3) whose features are `features` (T, 263): `num` edited joint arrays and the window.

    The checked core of `edit_motion` (ranges, parts and descriptions already resolved); groups None: whole body.
    """
    from kinmo_core.editing.composite import align_segment, blend_seams, composite_parts, heading_angles
    from kinmo_core.editing.inpaint import inpaint_features
    from kinmo_core.motion.features import features_to_joints

    lo, hi = _window(start, stop, len(src), context)
    feats, _ = inpaint_features(pipe, features[lo:hi], start - lo, stop - lo, text, seed=seed, num=num,
                                levels=levels, descriptions=descriptions, keep_tokens=method == "inpaint",
                                one_pass=one_pass)
    src_heading = heading_angles(features)
    out = []
    for f in feats:
        gen = np.asarray(features_to_joints(f.astype(np.float64)))
        placed = align_segment(gen, heading_angles(f), src, src_heading, start, stop, lo)
        part = placed if groups is None else composite_parts(src[start:stop], placed, groups)
        full = src.astype(np.float64).copy()
        full[start:stop] = part
        full = blend_seams(full, src, start, stop, blend)
        joints = src.copy()
        joints[start:stop] = full[start:stop].astype(src.dtype)
        out.append(joints)
    return out, (lo, hi)
