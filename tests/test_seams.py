"""Seam cross-fade of edits (issue 17): fast new motion next to a calm source is faded in, exactness kept."""

from __future__ import annotations

import numpy as np

from kinmo_core.editing.composite import SEAM_TARGET_FACTOR, SEAM_WINDOW, blend_seams
from kinmo_core.motion.kinematic import GROUP_JOINTS
from kinmo_core.motion.skeleton import NUM_JOINTS, PARENTS


def _seam_peak(joints: np.ndarray, seam: int, joint_ids: list[int]) -> float:
    acc = np.linalg.norm(np.diff(joints[:, joint_ids], 2, axis=0), axis=-1)
    return float(acc[max(0, seam - SEAM_WINDOW - 1):seam + SEAM_WINDOW].max())


def _scene() -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A calm source (a slow sway) and a copy whose left arm shakes fast from the range's first frame."""
    rng = np.random.default_rng(0)
    t = np.arange(100, dtype=np.float64)
    rest = rng.normal(0.0, 0.3, (NUM_JOINTS, 3))
    src = rest[None] + 0.05 * np.sin(t / 10.0)[:, None, None]
    arm = [j for j in GROUP_JOINTS["left_arm"] if j != GROUP_JOINTS["left_arm"][0]]
    out = src.copy()
    shake = 0.1 * np.sin(t[20:80] * 0.2)[:, None, None] * np.array([1.0, 0.5, 0.0])
    out[20:80, arm] += shake
    return src, out, arm


def test_crossfade_brings_seams_under_the_target_and_keeps_exactness():
    src, out, arm = _scene()
    res = blend_seams(out, src, 20, 80)
    hermite = blend_seams(out, src, 20, 80, blend=6)
    assert np.array_equal(res[:20], src[:20]) and np.array_equal(res[80:], src[80:])
    untouched = [j for j in range(NUM_JOINTS) if j not in arm]
    assert np.array_equal(res[:, untouched], src[:, untouched])
    p95 = float(np.percentile(np.linalg.norm(np.diff(src, 2, axis=0), axis=-1), 95))
    for seam in (20, 80):
        assert _seam_peak(hermite, seam, arm) > SEAM_TARGET_FACTOR * p95  # the case needs the fade
        assert _seam_peak(res, seam, arm) <= SEAM_TARGET_FACTOR * p95 * 1.01
    # The new motion is kept in the middle of the range; the faded frames take the source's bone lengths.
    assert np.array_equal(res[45:55], hermite[45:55])
    faded = np.abs(res - hermite).max(axis=(1, 2)) > 0
    assert faded[22:30].all() and faded[70:78].all()
    for j in arm:
        p = PARENTS[j]
        np.testing.assert_allclose(np.linalg.norm(res[faded, j] - res[faded, p], axis=-1),
                                   np.linalg.norm(src[faded, j] - src[faded, p], axis=-1), atol=1e-9)


def test_no_fade_where_the_seam_is_already_calm():
    src, _, arm = _scene()
    calm = src.copy()
    calm[20:80, arm] += np.array([0.01, 0.0, 0.0]) * np.linspace(0, 1, 60)[:, None, None] ** 3
    res = blend_seams(calm, src, 20, 80)
    # Only the short Hermite blend touches the frames next to the seams: the rest of the new motion is kept as is.
    np.testing.assert_array_equal(res[30:70], calm[30:70])


def test_a_seam_is_held_to_the_calm_motion_it_joins():
    """A track ending where a busy stretch turns calm (a walk, then a stand) blends at the calm stretch's scale."""
    from kinmo_core.editing.composite import seam_scales

    rng = np.random.default_rng(1)
    t = np.arange(160, dtype=np.float64)
    src = rng.normal(0.0, 0.3, (NUM_JOINTS, 3))[None] + np.zeros((160, 1, 1))
    src[:40] += 0.08 * np.sin(t[:40] * 1.3)[:, None, None]  # busy until frame 40, then still
    arm = [j for j in GROUP_JOINTS["left_arm"] if j != GROUP_JOINTS["left_arm"][0]]
    out = src.copy()
    out[40:100, arm] += np.array([0.0, 0.6, 0.0])  # the arm raised over the range, dropped at its stop seam
    p95 = lambda j: float(np.percentile(np.linalg.norm(np.diff(j, 2, axis=0), axis=-1), 95))  # noqa: E731
    scales = seam_scales(src, 40, 100)
    assert scales["stop"] == p95(src[100:140]) < p95(src) / 10
    assert scales["start"] == min(p95(src), p95(src[:40]))  # never above the whole source
    res = blend_seams(out, src, 40, 100)
    # Judged against the stand it joins, the arm comes down gently: under the least blend acceleration (2 m/s^2),
    # where a blend at the whole source's scale would drop it within a few frames.
    assert _seam_peak(res, 100, arm) <= 2.0 / 400
    assert _seam_peak(blend_seams(out, src, 40, 100, blend=6), 100, arm) > 4 * 2.0 / 400
