"""Out-of-distribution prompts: how far a prompt is from every caption the model was trained on.

The score of a prompt is its nearest-neighbour cosine similarity, in the MiniLM sentence embedding space
(the encoder the model's length estimator reads; the caller passes its `encode`), to the training captions. A prompt
whose score is below the pipeline's threshold gets a warning; it is still generated.

The captions are stored as a cover: a subset such that every training caption has a stored one with cosine
similarity at least `COVER_SIMILARITY` (a greedy net over the deduplicated captions), as float16 unit vectors in
`prompt_scope.safetensors` beside the model, with the threshold, the cover similarity and the caption sources in
its metadata. The threshold is calibrated on labelled prompts kept apart from the benchmark lists
(`scripts/build_prompt_scope.py`; figures in BENCHMARKS.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kinmo_core.errors import KinmoModelError

SCOPE_FILE: str = "prompt_scope.safetensors"
COVER_SIMILARITY: float = 0.8
"""Every training caption has a stored caption at least this similar (cosine)."""

_CHUNK = 4096


@dataclass
class PromptScope:
    """Training-caption embeddings (a cover) and the similarity below which a prompt is out of scope."""

    embeddings: np.ndarray
    threshold: float
    encode: Callable[[list[str]], np.ndarray] | None = None
    """Sentence encoder (texts -> unit rows), the one the embeddings were made with (MiniLM)."""
    meta: dict = field(default_factory=dict)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self.encode is None:
            raise KinmoModelError("this prompt scope has no sentence encoder to score prompts with")
        return np.asarray(self.encode(texts), dtype=np.float32)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Return each text's nearest-neighbour cosine similarity to the training captions."""
        texts = list(texts)
        if not texts:
            return np.zeros(0, np.float32)
        return nearest_similarity(self._encode(texts), self.embeddings)

    def warnings(self, texts: Sequence[str]) -> list[str]:
        """Return per text a one-line warning when it is out of scope, else ""."""
        return [scope_warning(t, s, self.threshold) for t, s in zip(texts, self.scores(texts), strict=True)]

    @classmethod
    def load(cls, folder: str | os.PathLike, encode: Callable[[list[str]], np.ndarray] | None = None
             ) -> PromptScope | None:
        """Read folder/prompt_scope.safetensors (scoring with `encode`); None when the pipeline has none."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        path = Path(folder) / SCOPE_FILE
        if not path.is_file():
            return None
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as f:
                meta = dict(f.metadata() or {})
            emb = load_file(str(path))["embeddings"].astype(np.float32)
            threshold = float(meta["threshold"])
        except (SafetensorError, OSError, KeyError, ValueError) as e:
            raise KinmoModelError(f"{path}: damaged prompt scope file ({type(e).__name__}: {e})") from None
        if emb.ndim != 2 or not np.isfinite(emb).all():
            raise KinmoModelError(f"{path}: the caption embeddings must be a finite (N, D) array")
        return cls(emb, threshold, encode, meta)

    def save(self, folder: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write folder/prompt_scope.safetensors atomically (float16 embeddings, threshold in the metadata)."""
        from safetensors.numpy import save

        meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in self.meta.items()}
        meta["threshold"] = f"{self.threshold:.4f}"
        blob = save({"embeddings": self.embeddings.astype(np.float16)}, metadata=meta)
        from kinmo_core.fileio import write_atomic

        return write_atomic(Path(folder) / SCOPE_FILE, lambda f: f.write(blob), overwrite=overwrite)


def scope_warning(text: str, score: float, threshold: float) -> str:
    """The warning for a prompt with this score ("" when it is in scope)."""
    if score >= threshold:
        return ""
    shown = text if len(text) <= 60 else text[:57] + "..."
    return (f"the prompt {shown!r} is far from everything the model was trained on (similarity {score:.2f}, "
            f"below {threshold:.2f}): the motion may not follow it")


def nearest_similarity(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Return for each unit row of queries (Q, D) its largest cosine similarity to the unit rows of keys (N, D)."""
    q = np.asarray(queries, np.float32)
    best = np.full(len(q), -1.0, np.float32)
    for s in range(0, len(keys), _CHUNK):
        best = np.maximum(best, (q @ np.asarray(keys[s:s + _CHUNK], np.float32).T).max(1))
    return best


def greedy_cover(embeddings: np.ndarray, similarity: float = COVER_SIMILARITY, batch: int = 1024) -> np.ndarray:
    """Return indices of a subset such that every row has a kept row with cosine >= similarity (in row order)."""
    emb = np.asarray(embeddings, np.float32)
    kept: list[int] = []
    kept_emb = np.zeros((0, emb.shape[1]), np.float32)
    for s in range(0, len(emb), batch):
        chunk = emb[s:s + batch]
        covered = (nearest_similarity(chunk, kept_emb) >= similarity) if len(kept_emb) else np.zeros(len(chunk), bool)
        inner = chunk @ chunk.T
        new: list[int] = []
        for i in np.flatnonzero(~covered):
            if new and inner[i, new].max() >= similarity:
                continue
            new.append(int(i))
        kept += [s + i for i in new]
        kept_emb = np.concatenate((kept_emb, chunk[new]))
    return np.array(kept, dtype=np.int64)


def calibrate_threshold(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Return the threshold between the two score sets that classifies the most correctly (midpoint of the gap).

    Ties go to the largest margin; the result sits halfway between the neighbouring scores it separates.
    """
    a = np.sort(np.asarray(in_scores, np.float64))
    b = np.sort(np.asarray(out_scores, np.float64))
    candidates = np.unique(np.concatenate((a, b)))
    mids = np.concatenate(([candidates[0] - 1e-3], (candidates[1:] + candidates[:-1]) / 2, [candidates[-1] + 1e-3]))
    # A prompt warns when score < threshold: in-scope ones must be >= it, out-of-scope ones below.
    correct = np.searchsorted(b, mids, side="left") + (len(a) - np.searchsorted(a, mids, side="left"))
    best = np.flatnonzero(correct == correct.max())
    gaps = [np.min(np.abs(candidates - mids[i])) for i in best]
    return float(mids[best[int(np.argmax(gaps))]])
