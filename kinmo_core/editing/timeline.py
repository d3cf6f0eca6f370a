"""Timelines longer than one generation: whole-body segments joined by generated transitions, plus part tracks.

A timeline is {"segments": [{"text", "start", "end"}, ...], "tracks": [{"text", "parts", "start", "end"}, ...]}
in seconds. Segments are whole-body prompts in time order (1 to 10 s each, no overlaps; a gap between two is filled
by a generated transition, as is a gap before the first); tracks re-prompt some body parts over any span (split into
edits of at most TRACK_PIECE_FRAMES). The whole timeline may last up to MAX_TIMELINE_SECONDS.

How: every segment is generated in one batch; their feature rows (root velocities and body-relative poses, so they
chain) are laid end to end; each junction (the last TRANSITION_MARGIN frames of one segment, the gap, the first
TRANSITION_MARGIN of the next) is in-painted under the next segment's text with the tokens around it kept, all
junctions in one batch, and cross-faded in; the joints follow by integrating the root. Tracks are then applied as
part edits (`edit.edit_arrays`), which keep everything outside their range and parts exact.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.kinematic import GROUP_JOINTS, GROUPS
from kinmo_core.motion.skeleton import FPS

MAX_TIMELINE_SECONDS: float = 600.0
TRANSITION_MARGIN: int = 8
"""Frames of each segment next to a junction that the transition regenerates (0.4 s)."""
TRACK_PIECE_FRAMES: int = 160
"""Longest part edit a track is split into (8 s): one generation covers 10 s with context."""
SEAM_FACTOR: float = 1.5
CROSSFADE: int = 8
"""Rows over which a regenerated span is faded into the rows around it (over kept tokens)."""
TRANSITION_FADES: tuple[int, ...] = (CROSSFADE, 12, 16, 20, 24)
"""Fade lengths tried at a transition's seam, shortest first, until its peak is under the edit's seam target
(`composite.SEAM_TARGET_FACTOR` x the 95th percentile, a margin under the bound)."""
SEAM_SHIFTS: tuple[int, ...] = tuple(range(0, 13))
"""Frames by which a transition's seam may move out over kept tokens (whose decoded rows follow the old ones), to
where the joined motion is calmest: a jog's foot strikes exceed 1.5x its own 95th percentile acceleration in 60% of
11-frame windows, so a seam on one cannot meet the bound however smooth the join (`_calm_seams`)."""


class _Span:
    """A time span [start, end) in seconds (the dataclasses below give the fields)."""

    start: float
    end: float

    @property
    def frames(self) -> tuple[int, int]:
        """Half-open frame range at 20 fps."""
        return round(self.start * FPS), round(self.end * FPS)


@dataclass
class Segment(_Span):
    """A whole-body prompt over [start, end) seconds."""

    text: str
    start: float
    end: float


@dataclass
class Track(_Span):
    """A part re-prompt over [start, end) seconds."""

    text: str
    parts: tuple[str, ...]
    start: float
    end: float


@dataclass
class ComposeResult:
    """The composed motion and where its seams are."""

    motion: object
    segments: list[Segment]
    tracks: list[Track]
    seams: list[tuple[int, float]] = field(default_factory=list)
    """(frame, acceleration bound in m/s^2): SEAM_FACTOR x the 95th percentile of the neighbouring segments' own
    accelerations (the larger of the two at a transition, the segment below at a track's ends)."""
    descriptions: dict = field(default_factory=dict)
    """Descriptions used per text."""
    seam_joints: list[tuple[int, ...]] = field(default_factory=list)
    """Per seam, the joints the seam's edit changes (all at a transition, the track's parts' at a track's ends)."""


def _number(v, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise KinmoInputError(f"{what} must be a number of seconds, got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise KinmoInputError(f"{what} must be finite, got {v}")
    if v < 0:
        raise KinmoInputError(f"{what} is negative ({v:g} s); times start at 0")
    return v


def _text(v, what: str) -> str:
    from kinmo_core.generation_limits import clean_text

    if not isinstance(v, str):
        raise KinmoInputError(f"{what} must be a string")
    return clean_text(v)


def parse_timeline(obj) -> tuple[list[Segment], list[Track]]:
    """Check a timeline (dict as in the module docstring) and return its segments (time order) and tracks."""
    from kinmo_core.editing.edit import MIN_RANGE_FRAMES, check_parts
    from kinmo_core.generation_limits import MAX_SECONDS, MIN_SECONDS

    if not isinstance(obj, Mapping):
        raise KinmoInputError('a timeline must be a JSON object {"segments": [...], "tracks": [...]}')
    unknown = sorted(set(obj) - {"segments", "tracks"})
    if unknown:
        raise KinmoInputError(f"unknown timeline key {unknown[0]!r}; expected segments and tracks")
    raw = obj.get("segments")
    if not isinstance(raw, list) or not raw:
        raise KinmoInputError("a timeline needs a non-empty list of segments")
    segs = []
    for i, s in enumerate(raw):
        where = f"segment {i}"
        if not isinstance(s, Mapping) or set(s) != {"text", "start", "end"}:
            raise KinmoInputError(f'{where} must be an object with exactly "text", "start" and "end"')
        seg = Segment(_text(s["text"], f"{where} text"), _number(s["start"], f"{where} start"),
                      _number(s["end"], f"{where} end"))
        length = seg.end - seg.start
        if length <= 0:
            raise KinmoInputError(f"{where} ends ({seg.end:g} s) before it starts ({seg.start:g} s)")
        if length > MAX_SECONDS + 1e-9:
            raise KinmoInputError(f"{where} lasts {length:g} s; a segment lasts at most {MAX_SECONDS:g} s "
                                  "(split it in two)")
        if length < MIN_SECONDS - 1e-9:
            raise KinmoInputError(f"{where} lasts {length:g} s; a segment lasts at least {MIN_SECONDS:g} s")
        segs.append(seg)
    order = sorted(range(len(segs)), key=lambda i: segs[i].start)
    for prev, cur in zip(order, order[1:], strict=False):
        if segs[cur].start < segs[prev].end - 1e-9:
            raise KinmoInputError(f"segments {prev} and {cur} overlap ({segs[prev].start:g}-{segs[prev].end:g} s and "
                                  f"{segs[cur].start:g}-{segs[cur].end:g} s); whole-body segments must not overlap")
    segs = [segs[i] for i in order]
    total = segs[-1].end
    if total > MAX_TIMELINE_SECONDS:
        raise KinmoInputError(f"the timeline lasts {total:g} s; at most {MAX_TIMELINE_SECONDS:g} s (10 minutes)")
    tracks = []
    raw_tracks = obj.get("tracks", [])
    if not isinstance(raw_tracks, list):
        raise KinmoInputError("tracks must be a list")
    for i, t in enumerate(raw_tracks):
        where = f"track {i}"
        if not isinstance(t, Mapping) or set(t) != {"text", "parts", "start", "end"}:
            raise KinmoInputError(f'{where} must be an object with exactly "text", "parts", "start" and "end"')
        parts = check_parts(t["parts"])
        if parts is None or parts == "auto":
            raise KinmoInputError(f"{where}: name the parts ({', '.join(GROUPS)})")
        tr = Track(_text(t["text"], f"{where} text"), parts, _number(t["start"], f"{where} start"),
                   _number(t["end"], f"{where} end"))
        a, b = tr.frames
        if b > round(total * FPS):
            raise KinmoInputError(f"{where} ends at {tr.end:g} s, after the timeline ({total:g} s)")
        if b - a < MIN_RANGE_FRAMES:
            raise KinmoInputError(f"{where} covers {b - a} frames ({tr.start:g}-{tr.end:g} s); a track needs at "
                                  f"least {MIN_RANGE_FRAMES}")
        tracks.append(tr)
    return segs, tracks


def load_timeline(path: str | os.PathLike) -> tuple[list[Segment], list[Track]]:
    """Read and check a timeline JSON file."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise KinmoInputError(f"{path}: not a valid JSON timeline ({e})") from None
    try:
        return parse_timeline(obj)
    except KinmoInputError as e:
        raise KinmoInputError(f"{path}: {e}") from None


def _p95_bound(joints: np.ndarray) -> float:
    acc = np.linalg.norm(np.diff(joints.astype(np.float64), 2, axis=0), axis=-1) * FPS * FPS
    return SEAM_FACTOR * float(np.percentile(acc, 95))


def _transitions(pipe, feats: np.ndarray, spans: list[tuple[int, int]], texts: list[str], descs: list,
                 seed: int, levels: int | None, settings) -> list[np.ndarray]:
    """In-paint each span of feats (one batch); return the windows' features and their (lo, hi)."""
    from kinmo_core.editing.edit import CONTEXT_FRAMES, _window
    from kinmo_core.editing.inpaint import encode_features, token_keep_mask

    unit = pipe.parts.rvq.cfg.frames_per_token
    windows = [_window(a, b, len(feats), CONTEXT_FRAMES) for a, b in spans]
    codes = [encode_features(pipe, feats[lo:hi]) for lo, hi in windows]
    keeps = [token_keep_mask(hi - lo, a - lo, b - lo, unit) for (lo, hi), (a, b) in zip(windows, spans, strict=True)]
    n_tok = max(len(c) for c in codes)
    init = torch.zeros(len(codes), n_tok, codes[0].shape[-1], dtype=torch.long, device=pipe.device)
    keep = torch.ones(len(codes), n_tok, dtype=torch.bool)
    for i, (c, k) in enumerate(zip(codes, keeps, strict=True)):
        init[i, : len(c)] = c
        keep[i, : len(k)] = k
    out, _ = pipe.generate_features(texts, [hi - lo for lo, hi in windows], seed=seed, levels=levels,
                                    descriptions=descs, init_codes=init, keep=keep, settings=settings)
    return out, windows


def compose(pipe, timeline, seed: int = 0, levels: int | None = None, progress: bool = False,
            one_pass: bool = True) -> ComposeResult:
    """Generate a timeline (a dict, or the (segments, tracks) of `parse_timeline`) into one motion.

    one_pass: decode once under all text levels instead of coarse to fine (half the time, see BENCHMARKS.md).
    """
    from tqdm import tqdm

    from kinmo_core.editing.composite import SEAM_TARGET_FACTOR, motion_from_placed_joints, placed_features
    from kinmo_core.editing.edit import edit_arrays
    from kinmo_core.editing.inpaint import DEFAULT_MARGIN, decoding_settings
    from kinmo_core.editing.loop import _crossfade
    from kinmo_core.motion.features import features_to_joints

    segs, tracks = timeline if isinstance(timeline, tuple) else parse_timeline(timeline)
    settings = decoding_settings(pipe, one_pass)
    levels = pipe.settings.levels if levels is None else int(levels)
    texts = list(dict.fromkeys([s.text for s in segs] + [t.text for t in tracks]))
    descs: dict = {}
    if levels > 1 and pipe.has_reasoner:
        descs = dict(zip(texts, pipe.expand(texts, seed=seed), strict=True))
    bar = tqdm(total=2 + len(tracks), desc="compose", disable=not progress)
    seg_frames = [s.frames for s in segs]
    seg_feats, _ = pipe.generate_features([s.text for s in segs], [b - a for a, b in seg_frames], seed=seed,
                                          levels=levels, descriptions=[descs.get(s.text) for s in segs],
                                          settings=settings)
    bar.update(1)
    total = seg_frames[-1][1]
    feats = np.zeros((total, seg_feats[0].shape[-1]), np.float32)
    bounds = []
    for (a, b), f in zip(seg_frames, seg_feats, strict=True):
        feats[a:b] = f
        bounds.append(_p95_bound(np.asarray(features_to_joints(f.astype(np.float64)))))
    # Gaps start as a blend of the rows either side; the transitions below replace them.
    spans, span_seg = [], []
    prev_end = 0
    for i, (a, b) in enumerate(seg_frames):
        if a > prev_end:
            left = feats[prev_end - 1] if prev_end > 0 else feats[a]
            w = np.linspace(0, 1, a - prev_end + 2)[1:-1, None]
            feats[prev_end:a] = (1 - w) * left + w * feats[a]
        if i > 0 or a > 0:
            m_left = min(TRANSITION_MARGIN, (seg_frames[i - 1][1] - seg_frames[i - 1][0]) // 2) if i > 0 else 0
            m_right = min(TRANSITION_MARGIN, (b - a) // 2)
            spans.append((prev_end - m_left, a + m_right))
            span_seg.append(i)
        prev_end = b
    seams: list[tuple[int, float]] = []
    seam_joints: list[tuple[int, ...]] = []
    everything = tuple(range(22))
    if spans:
        gen, windows = _transitions(pipe, feats, spans, [segs[i].text for i in span_seg],
                                    [descs.get(segs[i].text) for i in span_seg], seed + 1, levels, settings)
        for (a, b), (lo, hi), g, i in zip(spans, windows, gen, span_seg, strict=True):
            # Cross-faded over kept tokens next to the regenerated ones, where the decoded rows match the old.
            # A transition goes from one segment's motion to the next's: either may set the pace at its seams.
            bound = max(bounds[i], bounds[i - 1]) if i > 0 else bounds[i]
            target = SEAM_TARGET_FACTOR / SEAM_FACTOR * bound / FPS**2
            s0, s1, fades = _calm_seams(feats[lo:hi], g, a - lo - DEFAULT_MARGIN, b - lo + DEFAULT_MARGIN, target)
            feats[lo:hi] = _crossfade(feats[lo:hi], g, s0, s1, fades)
            seams += [(max(lo + s0, 1), bound), (min(lo + s1, total - 1), bound)]
            seam_joints += [everything, everything]
    bar.update(1)
    joints = np.asarray(features_to_joints(feats.astype(np.float64)))
    feats_now = None
    for k, tr in enumerate(tracks):
        a, b = tr.frames
        pieces = max(1, math.ceil((b - a) / TRACK_PIECE_FRAMES))
        edges = np.linspace(a, b, pieces + 1).round().astype(int)
        for p in range(pieces):
            pa, pb = int(edges[p]), int(edges[p + 1])
            under = _segment_at(seg_frames, (pa + pb) // 2)
            used = _merge(descs.get(tr.text), descs.get(segs[under].text) if under is not None else None, tr.parts)
            feats_now = placed_features(joints) if feats_now is None else feats_now
            out, _ = edit_arrays(pipe, joints, feats_now, pa, pb, tr.text, tr.parts, used,
                                 seed=seed + 2 + k, levels=levels, one_pass=one_pass)
            joints = out[0].astype(np.float64)
            feats_now = None
            for f in (pa, pb):
                seams.append((f, bounds[_nearest_segment(seg_frames, f)]))
                seam_joints.append(tuple(j for g in tr.parts for j in GROUP_JOINTS[g]))
        bar.update(1)
    bar.close()
    text = " / ".join(s.text for s in segs)
    motion = motion_from_placed_joints(joints, text=text[:2000], source="kinmo-compose")
    inside = [i for i, (f, _) in enumerate(seams) if 0 < f < total]
    return ComposeResult(motion, segs, tracks, [seams[i] for i in inside], descs, [seam_joints[i] for i in inside])


def _seam_peak(feats: np.ndarray, seam: int) -> float:
    """Largest joint acceleration (m/frame^2) within SEAM_WINDOW frames of the seam of a feature window (accelerations
    do not change under a rigid move, so the window is decoded on its own)."""
    from kinmo_core.editing.composite import _seam_peak as joint_seam_peak
    from kinmo_core.motion.features import features_to_joints

    joints = np.asarray(features_to_joints(feats.astype(np.float64)))
    return joint_seam_peak(joints, seam, np.ones(joints.shape[1], bool))


def _calm_seams(old: np.ndarray, new: np.ndarray, start: int, stop: int,
                target: float) -> tuple[int, int, tuple[int, int]]:
    """Where and how a regenerated span [start, stop) of a window joins the rows around it: (s0, s1, (fade before,
    fade after)). Each end moves out by one of SEAM_SHIFTS (over kept tokens) to where the faded result accelerates
    least, over the shortest of TRANSITION_FADES whose peak is at most `target` (m/frame^2), else the calmest."""
    from kinmo_core.editing.loop import _crossfade

    def best(candidates, fade):
        # Ties go to the smaller shift (candidates come in order of shift).
        return min((_seam_peak(fade(c), c), k, c) for k, c in enumerate(candidates))

    def end(choose):
        tried = []
        for ramp in TRANSITION_FADES:
            found = choose(ramp)
            if found is None:
                break
            peak, _, seam = found
            if peak <= target:
                return seam, ramp
            tried.append((peak, ramp, seam))
        return (min(tried)[2], min(tried)[1]) if tried else None

    def left(ramp):
        cands = [start - d for d in SEAM_SHIFTS if start - d - ramp >= 0]
        return best(cands, lambda c: _crossfade(old, new, c, stop, (ramp, CROSSFADE))) if cands else None

    s0, r0 = end(left) or (start, CROSSFADE)

    def right(ramp):
        cands = [stop + d for d in SEAM_SHIFTS if stop + d + ramp <= len(old)]
        return best(cands, lambda c: _crossfade(old, new, s0, c, (r0, ramp))) if cands else None

    s1, r1 = end(right) or (stop, CROSSFADE)
    return s0, s1, (r0, r1)


def _segment_at(seg_frames: list[tuple[int, int]], frame: int) -> int | None:
    for i, (a, b) in enumerate(seg_frames):
        if a <= frame < b:
            return i
    return None


def _nearest_segment(seg_frames: list[tuple[int, int]], frame: int) -> int:
    dist = [0 if a <= frame < b else min(abs(frame - a), abs(frame - b + 1)) for a, b in seg_frames]
    return int(np.argmin(dist))


def _merge(new: Mapping | None, old: Mapping | None, parts: tuple[str, ...]) -> dict | None:
    """The track's descriptions for its parts, the segment's for the others (as `edit_motion` does)."""
    if new is None:
        return None
    if old is None:
        return dict(new)
    return {"groups": {g: (new if g in parts else old)["groups"][g] for g in GROUPS},
            "interactions": dict(new["interactions"])}


def seam_frames(result: ComposeResult) -> list[tuple[int, float]]:
    """Return the seams of a composed timeline: (frame, acceleration bound in m/s^2)."""
    return list(result.seams)
