"""Text-to-motion generation metrics of Guo et al. (T2M), as the paper's Table 2 reports them.

All metrics work on embeddings from the text-motion evaluator (`kinmo_core.models.evaluator`):
- FID: Frechet distance between Gaussians fitted to real and generated motion embeddings (trace of the matrix
  root through symmetric eigendecompositions; scipy's sqrtm, as in Guo's code, is available and agrees).
- Diversity: mean Euclidean distance of `DIVERSITY_TIMES` (300) random pairs of motion embeddings.
- MultiModality: for each text, the mean distance of `MULTIMODALITY_TIMES` (10) random pairs among the
  generations of that text (Guo uses 30 generations per text), averaged over texts.
- R-precision (top 1-3) and MM-Dist: the pairs are shuffled with a seed and cut into batches of 32 (the remainder
  dropped); in each batch the Euclidean distances between every text and every motion embedding are ranked per
  text; top-k counts texts whose own motion is among the k nearest; MM-Dist is the mean distance of the true pairs.
- `repeat_evaluation`: run a seeded evaluation 20 times; report mean and 95% confidence interval
  (1.96 * std / sqrt(n), std with ddof=0 as in Guo's code).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy import linalg
from tqdm import tqdm

from kinmo_core.errors import KinmoInputError

DIVERSITY_TIMES: int = 300
MULTIMODALITY_TIMES: int = 10
R_PRECISION_BATCH: int = 32
TOP_K: int = 3
REPEATS: int = 20
CONFIDENCE_Z: float = 1.96

GENERATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("R-precision top-1", "R-Precision Top-1 ↑"),
    ("R-precision top-2", "Top-2 ↑"),
    ("R-precision top-3", "Top-3 ↑"),
    ("FID", "FID ↓"),
    ("MM-Dist", "MM-Dist ↓"),
    ("Diversity", "Diversity →"),
    ("MultiModality", "MModality ↑"),
)


def _emb(x, name: str, ndim: int = 2) -> np.ndarray:
    a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    if a.ndim != ndim or 0 in a.shape:
        raise KinmoInputError(f"{name} must be a non-empty {ndim}-d array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise KinmoInputError(f"{name} contains NaN or infinite values")
    return a


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def activation_statistics(embeddings) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean (D,) and covariance (D, D) of embeddings (N, D), N >= 2."""
    e = _emb(embeddings, "embeddings")
    if len(e) < 2:
        raise KinmoInputError("need at least 2 embeddings to estimate a covariance")
    return e.mean(axis=0), np.cov(e, rowvar=False)


def _sqrtm(m: np.ndarray) -> np.ndarray | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            root = linalg.sqrtm(m)
        except (linalg.LinAlgError, ValueError):
            return None
    return root if np.all(np.isfinite(root)) else None


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """Tr (S1 S2)^(1/2) of symmetric PSD matrices by eigendecompositions (no complex round-off, ~100x faster)."""
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    # S1 S2 and S1^(1/2) S2 S1^(1/2) share their eigenvalues; the latter is symmetric PSD.
    lam = np.linalg.eigvalsh(root @ ((s2 + s2.T) / 2) @ root)
    return float(np.sum(np.sqrt(np.clip(lam, 0.0, None))))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6, method: str = "eigh") -> float:
    """Return the Frechet distance ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians.

    method 'eigh' (default) takes the trace of the root through symmetric eigendecompositions; 'sqrtm' uses
    scipy.linalg.sqrtm as Guo's code does (retrying with an `eps` ridge when the root fails or turns complex).
    Both agree to round-off on covariance matrices; 'sqrtm' takes seconds at 512 dimensions.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise KinmoInputError(f"mismatched statistics: means {mu1.shape} {mu2.shape}, "
                              f"covariances {s1.shape} {s2.shape}")
    if not (np.all(np.isfinite(s1)) and np.all(np.isfinite(s2)) and np.all(np.isfinite(mu1 - mu2))):
        raise KinmoInputError("FID statistics contain NaN or infinite values")
    diff = mu1 - mu2
    if method == "eigh":
        tr_covmean = _trace_sqrt_product(s1, s2)
    elif method == "sqrtm":
        offset = np.eye(len(s1)) * eps
        covmean = _sqrtm(s1 @ s2)
        if covmean is None:
            # Singular products (fewer samples than dimensions) can defeat sqrtm; a tiny ridge makes it well posed.
            covmean = _sqrtm((s1 + offset) @ (s2 + offset))
        if covmean is None:
            raise KinmoInputError("FID: the covariance product has no usable square root (degenerate embeddings?)")
        if np.iscomplexobj(covmean):
            # Round-off gives small imaginary parts; large ones mean the root cannot be trusted: retry with the ridge.
            if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
                retry = _sqrtm((s1 + offset) @ (s2 + offset))
                covmean = covmean if retry is None else retry
            covmean = np.real(covmean)
        tr_covmean = float(np.trace(covmean))
    else:
        raise KinmoInputError(f"method must be 'eigh' or 'sqrtm', got {method!r}")
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(value, 0.0)


def fid(real_embeddings, generated_embeddings) -> float:
    """Return the FID between real and generated motion embeddings (N, D) and (M, D)."""
    mu1, s1 = activation_statistics(real_embeddings)
    mu2, s2 = activation_statistics(generated_embeddings)
    if mu1.shape != mu2.shape:
        raise KinmoInputError(f"embedding sizes differ: {mu1.shape[0]} and {mu2.shape[0]}")
    return frechet_distance(mu1, s1, mu2, s2)


def diversity(embeddings, times: int = DIVERSITY_TIMES, seed: int | np.random.Generator = 0) -> float:
    """Return the mean distance of `times` random pairs (two draws without replacement) of embeddings (N, D)."""
    e = _emb(embeddings, "embeddings")
    if len(e) <= times:
        raise KinmoInputError(f"Diversity with {times} pairs needs more than {times} motions, got {len(e)}")
    rng = _rng(seed)
    first = rng.choice(len(e), times, replace=False)
    second = rng.choice(len(e), times, replace=False)
    return float(np.linalg.norm(e[first] - e[second], axis=1).mean())


def multimodality(embeddings, times: int = MULTIMODALITY_TIMES, seed: int | np.random.Generator = 0) -> float:
    """Return MultiModality of embeddings (texts, generations per text, D): mean distance of random same-text pairs."""
    e = _emb(embeddings, "embeddings", ndim=3)
    if e.shape[1] <= times:
        raise KinmoInputError(f"MultiModality with {times} pairs needs more than {times} generations per text, "
                              f"got {e.shape[1]}")
    rng = _rng(seed)
    first = rng.choice(e.shape[1], times, replace=False)
    second = rng.choice(e.shape[1], times, replace=False)
    return float(np.linalg.norm(e[:, first] - e[:, second], axis=2).mean())


def euclidean_distance_matrix(a, b) -> np.ndarray:
    """Return the (N, M) Euclidean distances between rows of a (N, D) and b (M, D)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sq = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None]
    return np.sqrt(np.maximum(sq, 0.0))


def r_precision(text_embeddings, motion_embeddings, batch_size: int = R_PRECISION_BATCH, top_k: int = TOP_K,
                seed: int | np.random.Generator = 0) -> dict[str, float]:
    """Return 'R-precision top-1'..top-k and 'MM-Dist' of paired embeddings, in seeded batches of `batch_size`."""
    t, m = _emb(text_embeddings, "text embeddings"), _emb(motion_embeddings, "motion embeddings")
    if t.shape != m.shape:
        raise KinmoInputError(f"text and motion embeddings must have the same shape, got {t.shape} and {m.shape}")
    if len(t) < batch_size:
        raise KinmoInputError(f"R-precision in batches of {batch_size} needs at least {batch_size} pairs, got {len(t)}")
    perm = _rng(seed).permutation(len(t))
    hits = np.zeros(top_k)
    mm_dist = 0.0
    count = 0
    for i in range(len(t) // batch_size):
        b = perm[i * batch_size:(i + 1) * batch_size]
        dist = euclidean_distance_matrix(t[b], m[b])
        mm_dist += float(np.trace(dist))
        # Rank of each text's own motion: the number of motions strictly nearer than it.
        rank = (dist < np.diag(dist)[:, None]).sum(axis=1)
        hits += [(rank < k).sum() for k in range(1, top_k + 1)]
        count += batch_size
    out = {f"R-precision top-{k}": float(hits[k - 1] / count) for k in range(1, top_k + 1)}
    out["MM-Dist"] = mm_dist / count
    return out


def evaluate_generation(real_motion, generated_motion, text, multimodal_motion=None,
                        seed: int = 0, diversity_times: int = DIVERSITY_TIMES,
                        multimodality_times: int = MULTIMODALITY_TIMES) -> dict[str, float]:
    """Return one repeat of Table 2's metrics from evaluator embeddings.

    real_motion (N, D) and text (N, D) are the test pairs; generated_motion (N, D) are motions generated from those
    texts (pass real_motion again to get the 'Real' row); multimodal_motion (texts, generations, D) is optional.
    Diversity uses min(diversity_times, N - 1) pairs so small test sets still get a figure.
    """
    rng = np.random.default_rng(seed)
    out = r_precision(text, generated_motion, seed=rng)
    out["FID"] = fid(real_motion, generated_motion)
    out["Diversity"] = diversity(generated_motion, min(diversity_times, len(np.asarray(generated_motion)) - 1), rng)
    if multimodal_motion is not None:
        out["MultiModality"] = multimodality(multimodal_motion, multimodality_times, rng)
    return out


def summarize(runs: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Return {metric: (mean, 95% confidence half-width)} over repeated runs."""
    if not runs:
        raise KinmoInputError("no runs to summarise")
    keys = [k for k in runs[0] if all(k in r for r in runs)]
    out = {}
    for key in keys:
        v = np.asarray([r[key] for r in runs], dtype=np.float64)
        out[key] = (float(v.mean()), float(CONFIDENCE_Z * v.std() / np.sqrt(len(v))))
    return out


def repeat_evaluation(evaluate: Callable[[int], dict[str, float]], repeats: int = REPEATS, seed: int = 0,
                      progress: bool = True) -> dict[str, tuple[float, float]]:
    """Call evaluate(seed + r) for r in range(repeats) and return the mean and 95% interval of each metric."""
    if repeats < 1:
        raise KinmoInputError(f"repeats must be at least 1, got {repeats}")
    runs = [evaluate(seed + r) for r in tqdm(range(repeats), desc="evaluation repeats", disable=not progress)]
    return summarize(runs)


def format_generation_table(rows: dict[str, dict[str, tuple[float, float]]], digits: int = 3) -> str:
    """Return a Markdown table like the paper's Table 2 from {method: {metric: (mean, interval)}}."""
    lines = ["| Method | " + " | ".join(title for _, title in GENERATION_COLUMNS) + " |",
             "|" + "---|" * (len(GENERATION_COLUMNS) + 1)]
    for method, summary in rows.items():
        cells = []
        for key, _ in GENERATION_COLUMNS:
            if key in summary:
                mean, ci = summary[key]
                cells.append(f"{mean:.{digits}f} ± {ci:.{digits}f}")
            else:
                cells.append("-")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
