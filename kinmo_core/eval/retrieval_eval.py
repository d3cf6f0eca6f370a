"""Run TMR's retrieval protocols (paper Table 1) on a dataset split with an HTMA aligner.

The metrics themselves are in `kinmo_core.eval.retrieval_metrics`; datasets, text sets and descriptions are read by
`kinmo_core.retrieval.search`, as at query time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from kinmo_core.alignment import HTMAAligner, TextFeatureCache
from kinmo_core.errors import KinmoInputError
from kinmo_core.eval import retrieval_metrics as R
from kinmo_core.retrieval.search import dataset_root, load_text_set


def evaluate_dataset(aligner: HTMAAligner, dataset: str | os.PathLike, split: str = "test",
                     descriptions: str = "annotations", annotations: str | os.PathLike | None = None,
                     levels: int | None = None, protocols: Sequence[str] | None = None, reasoner=None,
                     threshold: float | None = None, seed: int = 0) -> dict:
    """Return TMR's retrieval protocols on a split: one pair per motion (its first caption, its descriptions).

    descriptions: 'annotations' (the dataset's annotation file) or 'reasoner' (the Motion Reasoner writes them from
    the caption, as at query time). Returns {"metrics": {protocol: metrics}, "pairs": N, "levels": L, ...}.
    """
    lv = aligner._levels(levels)
    protocols = tuple(protocols or R.PROTOCOLS)
    unknown = [p for p in protocols if p not in R.PROTOCOLS]
    if unknown:
        raise KinmoInputError(f"unknown protocol(s) {unknown}; expected {R.PROTOCOLS}")
    ts = load_text_set(dataset, lv, descriptions if lv > 1 else "annotations", annotations, split, first_only=True,
                       reasoner=reasoner)
    root = dataset_root(dataset)
    feats = [np.load(root / "new_joint_vecs" / f"{m}.npy").astype(np.float32) for m in ts.motion_ids]
    text_mu = aligner.encode_texts(ts.captions, ts.descriptions, levels=lv, cached=True)
    t_emb = aligner.embed(text_mu, lv)
    m_emb = aligner.embed(aligner.encode_motions(feats), lv)
    # Near-identical captions are judged by MiniLM sentence embeddings whatever the model's own encoder is.
    sent = TextFeatureCache(None, aligner.text.cache_dir, progress=False).pooled(ts.captions)
    cap = np.stack([sent[c] for c in ts.captions]).astype(np.float32)
    n = len(ts.captions)
    out: dict[str, dict[str, float]] = {}
    for proto in protocols:
        if proto == "all":
            out[proto] = R.retrieval_all(t_emb, m_emb)
        elif proto == "threshold":
            out[proto] = R.retrieval_threshold(t_emb, m_emb, cap, threshold or R.DEFAULT_THRESHOLD)
        elif proto == "dissimilar":
            out[proto] = R.retrieval_dissimilar(t_emb, m_emb, cap, min(R.DISSIMILAR_SIZE, n))
        elif proto == "small_batches" and n >= R.SMALL_BATCH_SIZE:
            out[proto] = R.retrieval_small_batches(t_emb, m_emb, R.SMALL_BATCH_SIZE, seed)
    return {"metrics": out, "pairs": n, "levels": lv, "split": split, "dataset": str(root),
            "descriptions": descriptions if lv > 1 else "none", "model_version": aligner.version}
