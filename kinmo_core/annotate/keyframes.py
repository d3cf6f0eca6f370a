"""Keyframe selection from the similarity of per-frame pose descriptions (paper Sec. 3.2).

Each frame's description is embedded with the offline sentence encoder; a new keyframe
starts where the cosine similarity to the last keyframe falls below a threshold. A
frame's description is its six group sentences. By default (`mode="groups"`) each group
sentence is embedded on its own and a frame's similarity to the last keyframe is the
lowest of the six per-group cosines, so a change in one body part is not diluted by five
unchanged ones (posecode sentences share most of their words, and whole-frame texts of
two quite different poses still score above 0.98 with MiniLM). Group sentences also repeat
far more across frames and motions than whole-frame texts, so the string cache makes this
fast. `mode="whole"` embeds the full frame text instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kinmo_core.annotate.posecodes import POSECODES, PoseDescriptions
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.kinematic import GROUPS

DEFAULT_THRESHOLD: float = 0.85
"""Cosine similarity to the last keyframe below which a frame starts a new keyframe."""

MODES: tuple[str, ...] = ("posecodes", "groups", "whole")


def frame_embeddings(poses: PoseDescriptions, encoder, mode: str = "groups") -> np.ndarray:
    """Return unit-norm embeddings of every frame's description: (T, 6, D) per group, or (T, 1, D) whole."""
    if mode not in MODES:
        raise KinmoInputError(f"unknown keyframe embedding mode {mode!r}; choose one of {', '.join(MODES)}")
    n = len(next(iter(poses.group_index.values())))
    if mode == "posecodes":
        parts = []
        for k, p in enumerate(POSECODES):
            # A category that is not said still gets a stable embedding, one per posecode.
            texts = [ph if ph else f"nothing notable about {p.name.replace('_', ' ')}." for ph in p.phrases]
            emb = np.asarray(encoder.encode(texts), dtype=np.float32)
            parts.append(emb[poses.codes[:, k]])
        return np.stack(parts, axis=1)
    if mode == "whole":
        texts = [poses.frame_text(t) for t in range(n)]
        uniq, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)
        emb = encoder.encode([str(u) for u in uniq])
        return np.asarray(emb, dtype=np.float32)[inverse.reshape(-1)][:, None, :]
    parts = []
    for g in GROUPS:
        # An empty sentence (nothing worth saying) still needs a stable embedding: use a fixed phrase.
        texts = [t if t else f"nothing notable about the {g.replace('_', ' ')}." for t in poses.group_text[g]]
        parts.append(np.asarray(encoder.encode(texts), dtype=np.float32)[poses.group_index[g]])
    return np.stack(parts, axis=1)


def select_keyframes(embeddings: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> list[int]:
    """Return keyframe indices: frame 0, then each frame whose similarity to the last keyframe is below `threshold`.

    `embeddings` is (T, D) or (T, P, D) with P unit-norm parts per frame; a frame's similarity is then the lowest
    of its P part cosines.
    """
    if not -1.0 <= threshold <= 1.0:
        raise KinmoInputError(f"keyframe threshold must be a cosine similarity in [-1, 1], got {threshold}")
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim == 2:
        emb = emb[:, None, :]
    if emb.ndim != 3 or len(emb) == 0:
        raise KinmoInputError("keyframe selection needs (T, D) or (T, P, D) embeddings with T >= 1")
    keys = [0]
    t = 1
    while t < len(emb):
        # Compare every remaining frame to the latest keyframe at once; jump to the first that falls below.
        sims = np.einsum("tpd,pd->tp", emb[t:], emb[keys[-1]]).min(axis=1)
        below = np.flatnonzero(sims < threshold)
        if len(below) == 0:
            break
        t = t + int(below[0])
        keys.append(t)
        t += 1
    return keys


def keyframes_per_second(keyframe_lists: Sequence[Sequence[int]], lengths: Sequence[int], fps: float) -> float:
    """Return the mean number of keyframes per second over motions."""
    total_kf = sum(len(k) for k in keyframe_lists)
    total_s = sum(lengths) / fps
    return float(total_kf / total_s) if total_s > 0 else 0.0
