"""Generation metrics of Table 2: FID, Diversity, MultiModality, R-precision, MM-Dist, repeats."""

from __future__ import annotations

import numpy as np
import pytest

from kinmo_core.errors import KinmoInputError
from kinmo_core.eval import generation_metrics as gm


def test_frechet_distance_closed_forms():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    assert gm.frechet_distance(mu1, np.eye(3), mu2, np.eye(3)) == pytest.approx(5.0)
    # Diagonal covariances: sum of (sqrt(a) - sqrt(b))^2.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert gm.frechet_distance(mu1, np.diag(a), mu1, np.diag(b)) == pytest.approx(expected)
    # Rotated (non-diagonal) covariances: FID is invariant to a common rotation.
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    assert gm.frechet_distance(q @ mu1, q @ np.diag(a) @ q.T, q @ mu1, q @ np.diag(b) @ q.T) == pytest.approx(
        np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-6)


def test_fid_of_samples():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(4000, 8))
    same = rng.normal(size=(4000, 8))
    shifted = rng.normal(size=(4000, 8)) + 1.0
    assert gm.fid(real, same) < 0.05
    assert gm.fid(real, shifted) == pytest.approx(8.0, rel=0.05)


def test_fid_with_singular_covariance_is_finite():
    rng = np.random.default_rng(2)
    few = rng.normal(size=(10, 32))  # rank-deficient covariances: sqrtm needs the ridge
    value = gm.fid(few, rng.normal(size=(12, 32)))
    assert np.isfinite(value) and value >= 0.0
    assert gm.fid(few, few) == pytest.approx(0.0, abs=1e-3)


def test_diversity_and_multimodality():
    rng = np.random.default_rng(3)
    e = rng.normal(size=(400, 6))
    d = gm.diversity(e, seed=7)
    assert gm.diversity(e * 2.0, seed=7) == pytest.approx(2 * d)
    assert d == pytest.approx(np.sqrt(2 * 6), rel=0.1)  # E|x - y| for unit Gaussians is about sqrt(2D)
    assert gm.diversity(np.ones((400, 6)), seed=0) == 0.0
    same_text = np.repeat(rng.normal(size=(20, 1, 6)), 30, axis=1)
    assert gm.multimodality(same_text) == 0.0
    varied = same_text + rng.normal(size=same_text.shape)
    assert gm.multimodality(varied, seed=1) == pytest.approx(np.sqrt(2 * 6), rel=0.15)
    with pytest.raises(KinmoInputError, match="more than 300"):
        gm.diversity(e[:300])
    with pytest.raises(KinmoInputError, match="generations per text"):
        gm.multimodality(varied[:, :10])


def test_r_precision_and_mm_dist():
    rng = np.random.default_rng(4)
    t = rng.normal(size=(96, 16))
    perfect = gm.r_precision(t, t)
    assert perfect["R-precision top-1"] == 1.0 and perfect["MM-Dist"] == pytest.approx(0.0, abs=1e-6)
    chance = gm.r_precision(t, rng.normal(size=(96, 16)))
    assert chance["R-precision top-3"] < 0.35
    assert chance["R-precision top-1"] <= chance["R-precision top-2"] <= chance["R-precision top-3"]
    # MM-Dist is the mean distance of the true pairs of the batches used (all 96 here).
    offset = t + 0.5
    assert gm.r_precision(t, offset)["MM-Dist"] == pytest.approx(np.sqrt(16) * 0.5)
    # Hand example: one batch of 2 where each text is nearer the other motion.
    swapped = gm.r_precision(np.array([[0.0], [1.0]]), np.array([[0.9], [0.1]]), batch_size=2, top_k=2)
    assert swapped["R-precision top-1"] == 0.0 and swapped["R-precision top-2"] == 1.0
    assert swapped["MM-Dist"] == pytest.approx(0.9)
    with pytest.raises(KinmoInputError, match="at least 32"):
        gm.r_precision(t[:10], t[:10])


def test_distance_matrix():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(7, 4)), rng.normal(size=(5, 4))
    np.testing.assert_allclose(gm.euclidean_distance_matrix(a, b),
                               np.linalg.norm(a[:, None] - b[None], axis=-1), atol=1e-9)


def test_evaluate_generation_real_row():
    rng = np.random.default_rng(6)
    motion = rng.normal(size=(320, 12))
    text = motion + 0.3 * rng.normal(size=(320, 12))
    real = gm.evaluate_generation(motion, motion, text, seed=0)
    assert real["FID"] == pytest.approx(0.0, abs=1e-6)
    assert real["R-precision top-1"] > 0.9
    noisy = gm.evaluate_generation(motion, rng.normal(size=(320, 12)) + 1.0, text, seed=0)
    assert noisy["FID"] > 1.0 and noisy["R-precision top-3"] < 0.3
    assert "MultiModality" not in noisy
    mm = gm.evaluate_generation(motion, motion, text, rng.normal(size=(10, 30, 12)), seed=0)
    assert mm["MultiModality"] > 0


def test_repeat_evaluation_mean_and_interval():
    summary = gm.repeat_evaluation(lambda seed: {"x": float(seed), "y": 2.0}, repeats=20, seed=0, progress=False)
    values = np.arange(20.0)
    assert summary["x"][0] == pytest.approx(9.5)
    assert summary["x"][1] == pytest.approx(1.96 * values.std() / np.sqrt(20))
    assert summary["y"] == (2.0, 0.0)
    # Seeds are passed through, so a seeded evaluation repeats exactly.
    rng_metric = lambda seed: {"d": gm.diversity(np.random.default_rng(9).normal(size=(400, 4)), seed=seed)}  # noqa: E731
    assert gm.repeat_evaluation(rng_metric, 3, progress=False) == gm.repeat_evaluation(rng_metric, 3, progress=False)


def test_table_format():
    table = gm.format_generation_table({
        "Real": {"R-precision top-1": (0.511, 0.003), "FID": (0.002, 0.0)},
        "Ours": {"R-precision top-1": (0.5321, 0.0024), "MultiModality": (1.3, 0.04)},
    })
    lines = table.splitlines()
    assert len(lines) == 4
    assert "0.511 ± 0.003" in lines[2] and "0.532 ± 0.002" in lines[3]
    assert lines[2].count("| - ") == 5


def test_fid_methods_agree():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(500, 64)) @ rng.normal(size=(64, 64)) * 0.2
    b = rng.normal(size=(500, 64)) @ rng.normal(size=(64, 64)) * 0.2 + 0.1
    mu1, s1 = gm.activation_statistics(a)
    mu2, s2 = gm.activation_statistics(b)
    via_sqrtm = gm.frechet_distance(mu1, s1, mu2, s2, method="sqrtm")
    assert gm.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(via_sqrtm, rel=1e-7)
    few = rng.normal(size=(10, 64))  # singular covariances
    mu3, s3 = gm.activation_statistics(few)
    assert gm.frechet_distance(mu1, s1, mu3, s3) == pytest.approx(
        gm.frechet_distance(mu1, s1, mu3, s3, method="sqrtm"), rel=1e-5)
    with pytest.raises(KinmoInputError, match="method"):
        gm.frechet_distance(mu1, s1, mu2, s2, method="svd")
