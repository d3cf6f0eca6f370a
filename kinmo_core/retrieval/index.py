"""A flat cosine-similarity index of motion embeddings for text-to-motion search.

The index keeps L2-normalised float32 embeddings (N, D), one id and one text per motion, and the version string of
the model that produced them (the caller hashes the model config and weights, e.g. with
`kinmo_core.models.io.model_version`). Queries from another model version would be meaningless, so `load` refuses an
index whose version differs from the expected one. On disk an index is two files written atomically:
`<name>.safetensors` (the embeddings) and `<name>.json` (ids, texts, version and a checksum tying the two together).

A large index is searched in two stages because a float32 scan of 100,000 x 768 reads 307 MB per query and is bound by
memory bandwidth: a float16 copy scores every motion first, the best candidates are scored again in float32, and
the result is the exact float32 top k (checked against the float16 error bound, with a full float32 scan when the
check cannot prove it).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file
from safetensors.numpy import save as safetensors_bytes

from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.fileio import atomic_output

INDEX_FORMAT_VERSION: int = 1
TWO_STAGE_MIN: int = 8192  # below this many motions one float32 scan is already fast
CANDIDATES: int = 256  # candidates kept by the float16 stage beyond k
# |float16 score - float32 score| for unit vectors: both operands rounded (2 x 2^-11 relative) plus float32
# accumulation; generous so that the exactness check never passes wrongly.
FP16_SCORE_ERROR: float = 4e-3


@dataclass(frozen=True)
class Hit:
    """One search result: position in the index, motion id, its text and the cosine similarity."""

    index: int
    id: str
    text: str
    score: float


def _paths(path: str | os.PathLike) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix == ".json":
        p = p.with_suffix(".safetensors")
    if p.suffix != ".safetensors":
        p = p.with_name(p.name + ".safetensors")
    return p, p.with_suffix(".json")


def _checksum(embeddings: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(embeddings, dtype="<f4").tobytes()).hexdigest()


class RetrievalIndex:
    """Normalised embeddings with ids and texts; top-k cosine search without a full sort."""

    def __init__(self, embeddings: np.ndarray, ids: list[str], texts: list[str], model_version: str) -> None:
        """Wrap already-normalised float32 embeddings; use `build` to start from raw vectors."""
        self.embeddings = embeddings
        self.ids = ids
        self.texts = texts
        self.model_version = model_version
        self._half = None  # float16 torch copy for the first search stage, made on the first large search

    @classmethod
    def build(cls, embeddings, ids, texts=None, model_version: str = "") -> RetrievalIndex:
        """Return an index of (N, D) embeddings (normalised here), N ids and optional N texts."""
        e = np.asarray(embeddings.detach().cpu().numpy() if hasattr(embeddings, "detach") else embeddings)
        if e.ndim != 2 or e.shape[1] == 0:
            raise KinmoInputError(f"embeddings must be an (N, D) matrix, got shape {e.shape}")
        if e.shape[0] == 0:
            raise KinmoInputError("cannot build an index of zero motions")
        e = e.astype(np.float32)
        if not np.all(np.isfinite(e)):
            raise KinmoInputError("embeddings contain NaN or infinite values")
        norms = np.linalg.norm(e, axis=1, keepdims=True)
        if np.any(norms < 1e-12):
            raise KinmoInputError(f"{int(np.sum(norms < 1e-12))} embeddings are zero vectors and have no direction")
        ids = [str(i) for i in ids]
        if len(ids) != len(e):
            raise KinmoInputError(f"{len(ids)} ids for {len(e)} embeddings")
        if len(set(ids)) != len(ids):
            raise KinmoInputError("ids must be unique")
        texts = [""] * len(ids) if texts is None else [str(t) for t in texts]
        if len(texts) != len(e):
            raise KinmoInputError(f"{len(texts)} texts for {len(e)} embeddings")
        if not isinstance(model_version, str) or not model_version:
            raise KinmoInputError("model_version must be a non-empty string (a hash of the model config and weights)")
        return cls(np.ascontiguousarray(e / norms, dtype=np.float32), ids, texts, model_version)

    def __len__(self) -> int:
        """Return the number of motions."""
        return len(self.ids)

    @property
    def dim(self) -> int:
        """Return the embedding size."""
        return int(self.embeddings.shape[1])

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write `<path>.safetensors` and its `.json` sidecar atomically; return the .safetensors path."""
        weights, sidecar = _paths(path)
        if not weights.parent.is_dir():
            raise KinmoInputError(f"folder does not exist: {weights.parent}")
        if not overwrite and (weights.exists() or sidecar.exists()):
            raise KinmoInputError(f"{weights} or {sidecar} already exists (pass overwrite=True to replace it)")
        checksum = _checksum(self.embeddings)
        meta = {"format_version": INDEX_FORMAT_VERSION, "model_version": self.model_version, "count": len(self),
                "dim": self.dim, "checksum": checksum, "ids": self.ids, "texts": self.texts}
        with atomic_output(weights, overwrite=overwrite) as tmp:
            # save_file makes a fresh private file in place of the temporary one: write the bytes into it instead.
            tmp.write_bytes(safetensors_bytes({"embeddings": self.embeddings}, metadata={"checksum": checksum}))
        with atomic_output(sidecar, overwrite=overwrite) as tmp:
            tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return weights

    @classmethod
    def load(cls, path: str | os.PathLike, expected_version: str | None = None) -> RetrievalIndex:
        """Read an index; KinmoModelError when files are missing, damaged, or built by another model version."""
        weights, sidecar = _paths(path)
        for p in (weights, sidecar):
            if not p.is_file():
                raise KinmoModelError(f"retrieval index file not found: {p}")
        try:
            with open(sidecar, encoding="utf-8") as f:
                meta = json.load(f)
            ids, texts, version = list(meta["ids"]), list(meta["texts"]), str(meta["model_version"])
            checksum, fmt = str(meta["checksum"]), int(meta["format_version"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KinmoModelError(f"damaged retrieval index sidecar {sidecar}: {exc}") from None
        if fmt > INDEX_FORMAT_VERSION:
            raise KinmoModelError(f"{sidecar} has index format {fmt}; this KinMo reads up to {INDEX_FORMAT_VERSION}")
        if expected_version is not None and version != expected_version:
            raise KinmoModelError(f"the index {weights} was built by model version {version[:16]}, not by the loaded "
                                  f"model ({expected_version[:16]}); rebuild the index")
        try:
            e = load_file(str(weights))["embeddings"]
        except (SafetensorError, OSError, KeyError, ValueError) as exc:
            raise KinmoModelError(f"damaged retrieval index {weights}: {exc}") from None
        if e.ndim != 2 or e.dtype != np.float32 or len(e) != len(ids) or len(texts) != len(ids):
            raise KinmoModelError(f"retrieval index {weights} is inconsistent: embeddings {e.shape} {e.dtype}, "
                                  f"{len(ids)} ids, {len(texts)} texts")
        if _checksum(e) != checksum:
            raise KinmoModelError(f"{weights} and {sidecar} do not belong together (checksum mismatch)")
        return cls(np.ascontiguousarray(e), ids, texts, version)

    def _check_query(self, vec) -> np.ndarray:
        q = np.asarray(vec.detach().cpu().numpy() if hasattr(vec, "detach") else vec, dtype=np.float32)
        if q.ndim not in (1, 2) or q.shape[-1] != self.dim:
            raise KinmoInputError(f"query must have shape ({self.dim},) or (Q, {self.dim}), got {q.shape}")
        if not np.all(np.isfinite(q)):
            raise KinmoInputError("query contains NaN or infinite values")
        norm = np.linalg.norm(q, axis=-1, keepdims=True)
        if np.any(norm < 1e-12):
            raise KinmoInputError("query is a zero vector")
        return q / norm

    def search(self, queries, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Return (indices, scores), each (Q, k'), of the best k' = min(k, N) motions per query, best first."""
        if len(self) == 0:
            raise KinmoInputError("the retrieval index is empty")
        if k < 1:
            raise KinmoInputError(f"k must be at least 1, got {k}")
        q = self._check_query(queries)
        q2 = q[None] if q.ndim == 1 else q
        k = min(k, len(self))
        if len(self) >= TWO_STAGE_MIN and k + CANDIDATES < len(self):
            top = self._two_stage_top(q2, k)
        else:
            top = _exact_top(q2 @ self.embeddings.T, k)
        top_scores = np.einsum("qkd,qd->qk", self.embeddings[top], q2)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)

    def _two_stage_top(self, q2: np.ndarray, k: int) -> np.ndarray:
        """Exact float32 top-k positions (unsorted) via a float16 scan and a float32 rescoring of its candidates."""
        import torch

        if self._half is None:
            self._half = torch.from_numpy(self.embeddings).to(torch.float16)
        c = k + CANDIDATES
        with torch.no_grad():
            # One matrix-vector product per query: torch's float16 mv is fast where its float16 matmul is not.
            qh = torch.from_numpy(q2).to(torch.float16)
            best = [torch.topk(torch.mv(self._half, qh[i]), c, sorted=True) for i in range(len(q2))]
        coarse_top = torch.stack([b.values for b in best]).float()
        cand = torch.stack([b.indices for b in best]).numpy()
        exact = np.einsum("qcd,qd->qc", self.embeddings[cand], q2)
        top = np.take_along_axis(cand, _exact_top(exact, k), axis=1)
        # A motion outside the candidates scored at most coarse_top[:, -1] in float16, so at most that plus the
        # error bound in float32; where the k-th exact score is not clearly above it, scan that query in float32.
        kth = np.take_along_axis(exact, _exact_top(exact, k), axis=1).min(axis=1)
        unsure = kth <= coarse_top[:, -1].numpy() + 2 * FP16_SCORE_ERROR
        for row in np.flatnonzero(unsure):
            top[row] = _exact_top(self.embeddings @ q2[row][:, None], k, axis=0)[:, 0]
        return top

    def query(self, vec, k: int = 10) -> list[Hit]:
        """Return the k motions most similar (cosine) to one query vector (D,), best first."""
        q = self._check_query(vec)
        if q.ndim != 1:
            raise KinmoInputError(f"query expects one vector of shape ({self.dim},); use search() for a batch")
        idx, scores = self.search(q, k)
        return [Hit(int(i), self.ids[i], self.texts[i], float(s)) for i, s in zip(idx[0], scores[0], strict=True)]


def _exact_top(scores: np.ndarray, k: int, axis: int = 1) -> np.ndarray:
    """Positions of the k largest scores along `axis` (unsorted): argpartition finds them in linear time."""
    n = scores.shape[axis]
    if k >= n:
        shape = [1, 1]
        shape[axis] = n
        return np.broadcast_to(np.arange(n).reshape(shape), scores.shape).copy()
    return np.argpartition(scores, n - k, axis=axis).take(np.arange(n - k, n), axis=axis)
