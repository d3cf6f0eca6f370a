"""The two quaternion implementations agree: numpy (motion/quaternions.py, the add-on's) and torch
(motion/rotations.py, features and IK), both checked against scipy's Rotation and Slerp."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from kinmo_core.motion import quaternions as Q
from kinmo_core.motion import rotations as R


def _wxyz(rot: Rotation) -> np.ndarray:
    xyzw = rot.as_quat()
    return np.concatenate((xyzw[..., 3:], xyzw[..., :3]), axis=-1)


def _same_rotation(a: np.ndarray, b: np.ndarray, tol: float = 1e-9) -> bool:
    return bool(np.all(np.abs(np.abs(np.sum(a * b, axis=-1)) - 1.0) < tol))


@pytest.fixture
def rots() -> tuple[Rotation, Rotation]:
    return Rotation.random(64, random_state=1), Rotation.random(64, random_state=2)


def test_products_rotations_and_inverses_match_scipy(rots):
    a, b = rots
    qa, qb = _wxyz(a), _wxyz(b)
    v = np.random.default_rng(0).normal(size=(64, 3))
    for impl, tol in ((Q, 1e-12), (R, 1e-6)):  # the torch one computes in float32
        assert _same_rotation(np.asarray(impl.qmul(qa, qb)), _wxyz(a * b), 100 * tol)
        np.testing.assert_allclose(np.asarray(impl.qrot(qa, v)), a.apply(v), atol=10 * tol)
        assert _same_rotation(np.asarray(impl.qinv(qa)), _wxyz(a.inv()), 100 * tol)
        np.testing.assert_allclose(np.asarray(impl.quat_to_matrix(qa)), a.as_matrix(), atol=10 * tol)
        assert _same_rotation(np.asarray(impl.matrix_to_quat(a.as_matrix())), qa, 100 * tol)


def test_shortest_arcs_and_axis_angles_agree():
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=(32, 3)), rng.normal(size=(32, 3))
    qn, qt = Q.qbetween(u, v), np.asarray(R.qbetween(u, v))
    assert _same_rotation(qn, qt, 1e-6)
    np.testing.assert_allclose(Q.qrot(qn, u / np.linalg.norm(u, axis=-1, keepdims=True)),
                               v / np.linalg.norm(v, axis=-1, keepdims=True), atol=1e-9)
    axis, angle = Q.unit(rng.normal(size=(32, 3))), rng.uniform(-3, 3, size=32)
    assert _same_rotation(Q.quat_from_axis_angle(axis, angle), np.asarray(R.quat_from_axis_angle(axis, angle)), 1e-6)
    assert _same_rotation(Q.quat_from_axis_angle(axis, angle), _wxyz(Rotation.from_rotvec(axis * angle[:, None])))


def test_slerp_matches_scipy(rots):
    a, b = rots
    t = np.linspace(0, 1, 64)
    ours = Q.qslerp(_wxyz(a), _wxyz(b), t)
    theirs = np.stack([_wxyz(Slerp([0, 1], Rotation.concatenate([a[i], b[i]]))(t[i])) for i in range(64)])
    assert _same_rotation(ours, theirs)
