"""Retrieval metrics and the four protocols of Table 1."""

from __future__ import annotations

import numpy as np
import pytest

from kinmo_core.errors import KinmoInputError
from kinmo_core.eval import retrieval_metrics as rt


def reference_ranks(sims: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """TMR's rule written the slow way: sort each row best first, average the positions equal to the ground truth."""
    out = []
    for row, g in zip(sims, gt, strict=True):
        ordered = np.sort(row)[::-1]
        out.append(np.flatnonzero(ordered == g).mean())
    return np.asarray(out)


def test_ranks_match_sorting_reference_with_many_ties():
    rng = np.random.default_rng(0)
    sims = rng.integers(0, 4, size=(60, 60)).astype(float)  # coarse values: ties everywhere
    np.testing.assert_allclose(rt.ground_truth_ranks(sims), reference_ranks(sims, np.diag(sims)))


def test_metrics_by_hand():
    sims = np.array([
        [0.9, 0.1, 0.2],  # rank 0
        [0.5, 0.5, 0.1],  # tie with one other: rank 0.5
        [0.8, 0.7, 0.6],  # rank 2
    ])
    ranks = rt.ground_truth_ranks(sims)
    np.testing.assert_allclose(ranks, [0.0, 0.5, 2.0])
    m = rt.ranks_to_metrics(ranks)
    assert m["R@1"] == pytest.approx(200 / 3)
    assert m["R@2"] == pytest.approx(200 / 3)
    assert m["R@3"] == pytest.approx(100.0)
    assert m["MedR"] == pytest.approx(1.5)
    both = rt.contrastive_metrics(sims)
    # Motion -> text reads the columns: columns 0 and 2 put their own text first; column 1 (0.1 0.5 0.7) second.
    assert both["m2t/R@1"] == pytest.approx(200 / 3)
    assert both["m2t/MedR"] == pytest.approx(1.0)
    assert both["len"] == 3


def test_perfect_and_random_embeddings():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(200, 16))
    perfect = rt.retrieval_all(e, e * 3.0)  # cosine ignores scale
    assert perfect["t2m/R@1"] == 100.0 and perfect["m2t/MedR"] == 1.0
    rand = rt.retrieval_all(e, rng.normal(size=(200, 16)))
    assert rand["t2m/R@10"] < 20.0
    assert 60 < rand["t2m/MedR"] < 140


def test_threshold_counts_near_identical_captions():
    rng = np.random.default_rng(2)
    n = 40
    motions = rng.normal(size=(n, 8))
    texts = motions.copy()
    texts[[0, 1]] = texts[[1, 0]]  # texts 0 and 1 retrieve each other's motion ...
    captions = rng.normal(size=(n, 32))
    strict = rt.retrieval_all(texts, motions)
    assert strict["t2m/R@1"] == pytest.approx(100 * (n - 2) / n)
    # ... which is forgiven once their captions say the same thing.
    captions[1] = captions[0] * 2.0
    loose = rt.retrieval_threshold(texts, motions, captions, threshold=0.8)
    assert loose["t2m/R@1"] == 100.0 and loose["m2t/R@1"] == 100.0
    # TMR's threshold lives on (cos + 1) / 2: cosine 0.5 is 0.75 there, below 0.8.
    c2 = captions.copy()
    c2[1] = 0.5 * c2[0] / np.linalg.norm(c2[0]) + np.sqrt(0.75) * _orthogonal(c2[0], rng)
    assert rt.caption_similarity(c2)[0, 1] == pytest.approx(0.5)
    assert rt.retrieval_threshold(texts, motions, c2, threshold=0.8)["t2m/R@1"] < 100.0
    assert rt.retrieval_threshold(texts, motions, c2, threshold=0.7)["t2m/R@1"] == 100.0
    assert rt.retrieval_threshold(texts, motions, c2, threshold=0.45, scale="cosine")["t2m/R@1"] == 100.0
    assert rt.retrieval_threshold(texts, motions, c2, threshold=0.55, scale="cosine")["t2m/R@1"] < 100.0
    with pytest.raises(KinmoInputError, match="scale"):
        rt.retrieval_threshold(texts, motions, c2, scale="percent")


def _orthogonal(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    w = rng.normal(size=v.shape)
    w -= w @ v / (v @ v) * v
    return w / np.linalg.norm(w)


def test_dissimilar_subset_picks_one_per_cluster_and_is_deterministic():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(120, 64))
    labels = rng.integers(0, 120, size=1500)
    captions = centres[labels] + 0.05 * rng.normal(size=(1500, 64))
    idx = rt.dissimilar_subset(captions, 100)
    assert len(idx) == 100 and len(set(idx.tolist())) == 100
    assert len(set(labels[idx].tolist())) == 100  # never two near-duplicates
    np.testing.assert_array_equal(idx, rt.dissimilar_subset(captions.copy(), 100))
    sim = rt.caption_similarity(captions[idx])
    np.fill_diagonal(sim, -1)
    assert sim.max() < 0.6


def test_small_batches_are_seeded_full_batches():
    batches = rt.small_batch_indices(100, 32, seed=5)
    assert [len(b) for b in batches] == [32, 32, 32]
    assert len(set(np.concatenate(batches).tolist())) == 96
    again = rt.small_batch_indices(100, 32, seed=5)
    assert all((a == b).all() for a, b in zip(batches, again, strict=True))
    rng = np.random.default_rng(4)
    m = rng.normal(size=(100, 8))
    t = m + 0.8 * rng.normal(size=(100, 8))
    small = rt.retrieval_small_batches(t, m, seed=5)
    assert small["batches"] == 3
    # Fewer candidates make retrieval easier than against all 100.
    assert small["t2m/R@1"] > rt.retrieval_all(t, m)["t2m/R@1"]
    assert small == rt.retrieval_small_batches(t, m, seed=5)


def test_evaluate_protocols_and_table():
    rng = np.random.default_rng(6)
    m = rng.normal(size=(150, 16))
    t = m + 0.5 * rng.normal(size=(150, 16))
    caps = rng.normal(size=(150, 24))
    res = rt.evaluate_protocols(t, m, caps)
    assert set(res) == set(rt.PROTOCOLS)
    assert res["dissimilar"]["len"] == 100
    for metrics in res.values():
        assert 0 <= metrics["t2m/R@1"] <= metrics["t2m/R@10"] <= 100
    table = rt.format_retrieval_table({"Ours": res, "Random": {"all": rt.retrieval_all(rng.normal(size=(150, 16)), m)}})
    lines = table.splitlines()
    assert lines[0].startswith("| Protocol | Method | T2M R@1")
    assert len(lines) == 2 + 5
    assert "(a) All" in table and "(d) Small batches" in table
    assert f"{res['all']['t2m/R@1']:.2f}" in table


def test_bad_inputs():
    with pytest.raises(KinmoInputError, match="same shape"):
        rt.retrieval_all(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(KinmoInputError, match="non-empty"):
        rt.retrieval_all(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(KinmoInputError, match="NaN"):
        rt.retrieval_all(np.full((4, 3), np.nan), np.zeros((4, 3)))
    with pytest.raises(KinmoInputError, match="caption"):
        rt.retrieval_threshold(np.ones((4, 3)), np.ones((4, 3)), np.ones((5, 3)))
    with pytest.raises(KinmoInputError, match="at least 32"):
        rt.retrieval_small_batches(np.ones((10, 3)), np.ones((10, 3)))
    with pytest.raises(KinmoInputError, match="dissimilar"):
        rt.dissimilar_subset(np.ones((10, 3)), 11)
