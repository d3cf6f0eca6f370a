"""Text-motion retrieval metrics and the four protocols of the paper's Table 1 (TMR's evaluation).

Every function works on embeddings: `text_emb` (N, D) and `motion_emb` (N, D) where row i of each belongs to the
same pair, and `caption_emb` (N, E) sentence embeddings of the captions (MiniLM here, sBERT in the paper) used to
find near-identical captions. Similarities are cosines.

Ranking rules (TMR's `contrastive_metrics`): the rank of the ground truth in a row is its 0-based position among
the row's scores sorted best first; when other candidates score exactly the same, the rank is the average of the
tied positions. R@k is the share (in %) of queries whose rank is below k; MedR is the median rank plus one.

Protocols:
  (a) `all`: the whole test split.
  (b) `threshold`: like (a), but any candidate whose caption is near-identical to the query pair's caption counts as
      correct: the best score among them is the ground truth score. As in TMR's code, `threshold` lives by default
      on the rescaled similarity (cos + 1) / 2, so the paper's 0.8 means a caption cosine above 0.6
      (`scale="cosine"` applies it to the cosine itself).
  (c) `dissimilar`: 100 pairs whose captions are far apart (see `dissimilar_subset`).
  (d) `small_batches`: the split shuffled with a seed, cut into batches of 32 (the remainder dropped), the metrics
      of each batch averaged.
"""

from __future__ import annotations

import numpy as np

from kinmo_core.errors import KinmoInputError

RECALL_RANKS: tuple[int, ...] = (1, 2, 3, 5, 10)
DIRECTIONS: tuple[str, ...] = ("t2m", "m2t")
PROTOCOLS: tuple[str, ...] = ("all", "threshold", "dissimilar", "small_batches")
PROTOCOL_TITLES: dict[str, str] = {
    "all": "(a) All",
    "threshold": "(b) All with threshold",
    "dissimilar": "(c) Dissimilar subset",
    "small_batches": "(d) Small batches",
}
DEFAULT_THRESHOLD: float = 0.8
DISSIMILAR_SIZE: int = 100
SMALL_BATCH_SIZE: int = 32


def _matrix(x, name: str) -> np.ndarray:
    a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise KinmoInputError(f"{name} must be a non-empty (N, D) matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise KinmoInputError(f"{name} contains NaN or infinite values")
    return a


def _normalize(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def _pairs(text_emb, motion_emb) -> tuple[np.ndarray, np.ndarray]:
    t, m = _matrix(text_emb, "text embeddings"), _matrix(motion_emb, "motion embeddings")
    if t.shape != m.shape:
        raise KinmoInputError(f"text and motion embeddings must have the same shape, got {t.shape} and {m.shape}")
    return t, m


def similarity_matrix(text_emb, motion_emb) -> np.ndarray:
    """Return the (N, M) cosine similarities of text rows against motion rows."""
    t, m = _matrix(text_emb, "text embeddings"), _matrix(motion_emb, "motion embeddings")
    if t.shape[1] != m.shape[1]:
        raise KinmoInputError(f"embedding sizes differ: text {t.shape[1]}, motion {m.shape[1]}")
    return _normalize(t) @ _normalize(m).T


def caption_similarity(caption_emb) -> np.ndarray:
    """Return the (N, N) cosine similarities between caption sentence embeddings."""
    c = _normalize(_matrix(caption_emb, "caption embeddings"))
    return c @ c.T


def ground_truth_ranks(sims: np.ndarray, text_selfsim: np.ndarray | None = None,
                       cosine_threshold: float | None = None) -> np.ndarray:
    """Return the 0-based rank (float, ties averaged) of each row's ground truth in a square score matrix.

    With caption similarities and a cosine threshold, every candidate whose caption is more similar than the
    threshold to the query's caption counts as a ground truth; the best-scored of them is ranked.
    """
    sims = np.asarray(sims, dtype=np.float64)
    if sims.ndim != 2 or sims.shape[0] != sims.shape[1] or sims.shape[0] == 0:
        raise KinmoInputError(f"the similarity matrix must be square and non-empty, got shape {sims.shape}")
    gt = np.diag(sims).copy()
    if text_selfsim is not None and cosine_threshold is not None:
        selfsim = np.asarray(text_selfsim, dtype=np.float64)
        if selfsim.shape != sims.shape:
            raise KinmoInputError(f"caption similarities {selfsim.shape} do not match the scores {sims.shape}")
        similar = (selfsim > cosine_threshold) | np.eye(len(sims), dtype=bool)  # a pair always matches itself
        gt = np.where(similar, sims, -np.inf).max(axis=1)
    better = (sims > gt[:, None]).sum(axis=1)
    tied = (sims == gt[:, None]).sum(axis=1)
    return better + (tied - 1) / 2.0


def ranks_to_metrics(ranks: np.ndarray) -> dict[str, float]:
    """Return R@1, 2, 3, 5, 10 (in %) and MedR of 0-based ground-truth ranks."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out = {f"R@{k}": 100.0 * float(np.mean(ranks < k)) for k in RECALL_RANKS}
    out["MedR"] = float(np.median(ranks) + 1.0)
    return out


def contrastive_metrics(sims: np.ndarray, caption_selfsim: np.ndarray | None = None,
                        cosine_threshold: float | None = None) -> dict[str, float]:
    """Return both directions' metrics ('t2m/R@1', ..., 'm2t/MedR', 'len') of a square text x motion score matrix."""
    sims = np.asarray(sims, dtype=np.float64)
    out: dict[str, float] = {}
    for direction, matrix in (("t2m", sims), ("m2t", sims.T)):
        for key, value in ranks_to_metrics(ground_truth_ranks(matrix, caption_selfsim, cosine_threshold)).items():
            out[f"{direction}/{key}"] = value
    out["len"] = float(len(sims))
    return out


def retrieval_all(text_emb, motion_emb) -> dict[str, float]:
    """Protocol (a): every pair of the split against every other."""
    t, m = _pairs(text_emb, motion_emb)
    return contrastive_metrics(similarity_matrix(t, m))


def retrieval_threshold(text_emb, motion_emb, caption_emb, threshold: float = DEFAULT_THRESHOLD,
                        scale: str = "tmr") -> dict[str, float]:
    """Protocol (b): like (a), near-identical captions count as correct.

    scale 'tmr' (default, TMR's code and so the paper's numbers): `threshold` applies to (cos + 1) / 2, so 0.8 means
    a caption cosine above 0.6; scale 'cosine': `threshold` applies to the cosine itself.
    """
    t, m = _pairs(text_emb, motion_emb)
    c = _matrix(caption_emb, "caption embeddings")
    if len(c) != len(t):
        raise KinmoInputError(f"{len(c)} caption embeddings for {len(t)} pairs")
    if scale == "tmr":
        if not 0.0 <= threshold <= 1.0:
            raise KinmoInputError(f"threshold must lie in [0, 1] on TMR's scale (cos + 1) / 2, got {threshold}")
        cosine = 2.0 * threshold - 1.0
    elif scale == "cosine":
        if not -1.0 <= threshold <= 1.0:
            raise KinmoInputError(f"a cosine threshold must lie in [-1, 1], got {threshold}")
        cosine = threshold
    else:
        raise KinmoInputError(f"scale must be 'tmr' or 'cosine', got {scale!r}")
    return contrastive_metrics(similarity_matrix(t, m), caption_similarity(c), cosine)


def dissimilar_subset(caption_emb, size: int = DISSIMILAR_SIZE) -> np.ndarray:
    """Return the indices (sorted) of `size` pairs whose captions are mutually far apart; deterministic.

    Greedy farthest-point selection on caption cosine similarity: start with the caption whose closest other caption
    is least similar (the most isolated one), then repeatedly add the caption whose highest similarity to the chosen
    set is lowest. Ties go to the lowest index, so the same embeddings always give the same subset.
    """
    c = _normalize(_matrix(caption_emb, "caption embeddings"))
    n = len(c)
    if not 1 <= size <= n:
        raise KinmoInputError(f"cannot choose {size} dissimilar pairs out of {n}")
    nearest = np.full(n, -np.inf)
    for start in range(0, n, 2048):
        block = c[start:start + 2048] @ c.T
        block[np.arange(len(block)), np.arange(start, start + len(block))] = -np.inf
        nearest[start:start + len(block)] = block.max(axis=1)
    first = int(np.argmin(nearest)) if n > 1 else 0
    chosen = [first]
    closest_to_chosen = c @ c[first]
    closest_to_chosen[first] = np.inf
    for _ in range(size - 1):
        nxt = int(np.argmin(closest_to_chosen))
        chosen.append(nxt)
        closest_to_chosen = np.maximum(closest_to_chosen, c @ c[nxt])
        closest_to_chosen[nxt] = np.inf
    return np.sort(np.asarray(chosen))


def retrieval_dissimilar(text_emb, motion_emb, caption_emb, size: int = DISSIMILAR_SIZE) -> dict[str, float]:
    """Protocol (c): retrieval among the `size` pairs chosen by `dissimilar_subset`."""
    t, m = _pairs(text_emb, motion_emb)
    c = _matrix(caption_emb, "caption embeddings")
    if len(c) != len(t):
        raise KinmoInputError(f"{len(c)} caption embeddings for {len(t)} pairs")
    idx = dissimilar_subset(c, size)
    return contrastive_metrics(similarity_matrix(t[idx], m[idx]))


def small_batch_indices(n: int, batch_size: int = SMALL_BATCH_SIZE, seed: int = 0) -> list[np.ndarray]:
    """Return the seeded random batches of protocol (d): a permutation of range(n) cut into full batches."""
    if n < batch_size:
        raise KinmoInputError(f"need at least {batch_size} pairs for batches of {batch_size}, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    return [perm[i * batch_size:(i + 1) * batch_size] for i in range(n // batch_size)]


def retrieval_small_batches(text_emb, motion_emb, batch_size: int = SMALL_BATCH_SIZE,
                            seed: int = 0) -> dict[str, float]:
    """Protocol (d): metrics averaged over seeded random batches of `batch_size` pairs."""
    t, m = _pairs(text_emb, motion_emb)
    runs = [contrastive_metrics(similarity_matrix(t[b], m[b])) for b in small_batch_indices(len(t), batch_size, seed)]
    out = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
    out["batches"] = float(len(runs))
    return out


def evaluate_protocols(text_emb, motion_emb, caption_emb, threshold: float = DEFAULT_THRESHOLD,
                       dissimilar_size: int = DISSIMILAR_SIZE, batch_size: int = SMALL_BATCH_SIZE,
                       seed: int = 0) -> dict[str, dict[str, float]]:
    """Return the metrics of all four protocols, keyed 'all', 'threshold', 'dissimilar', 'small_batches'."""
    return {
        "all": retrieval_all(text_emb, motion_emb),
        "threshold": retrieval_threshold(text_emb, motion_emb, caption_emb, threshold),
        "dissimilar": retrieval_dissimilar(text_emb, motion_emb, caption_emb, min(dissimilar_size, len(caption_emb))),
        "small_batches": retrieval_small_batches(text_emb, motion_emb, batch_size, seed),
    }


def format_retrieval_table(results: dict[str, dict[str, dict[str, float]]], digits: int = 2) -> str:
    """Return a Markdown table like the paper's Table 1 from {method: {protocol: metrics}}."""
    cols = [f"{d}/R@{k}" for d in DIRECTIONS for k in RECALL_RANKS]
    cols.insert(len(RECALL_RANKS), "t2m/MedR")
    cols.append("m2t/MedR")
    heads = [c.replace("t2m/", "T2M ").replace("m2t/", "M2T ") for c in cols]
    lines = ["| Protocol | Method | " + " | ".join(heads) + " |", "|" + "---|" * (len(cols) + 2)]
    for protocol in PROTOCOLS:
        first = True
        for method, per_protocol in results.items():
            if protocol not in per_protocol:
                continue
            m = per_protocol[protocol]
            cells = [f"{m[c]:.{digits}f}" if c in m else "-" for c in cols]
            title = PROTOCOL_TITLES[protocol] if first else ""
            lines.append(f"| {title} | {method} | " + " | ".join(cells) + " |")
            first = False
    return "\n".join(lines)
