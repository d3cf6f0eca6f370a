"""Quaternions in numpy: (w, x, y, z), Hamilton products, float64, broadcasting over leading axes.

Part of the numpy-only core (no torch, no scipy): `make addon` copies this module into the Blender add-on, whose
Python has numpy but neither torch nor scipy. The torch counterparts used by the features and IK, where gradients
and batches on tensors matter, are in `kinmo_core.motion.rotations`; tests/test_quaternions.py checks both agree.
"""

from __future__ import annotations

import numpy as np


def qnormalize(q: np.ndarray) -> np.ndarray:
    """Return unit quaternions."""
    q = np.asarray(q, dtype=np.float64)
    return q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)


def qinv(q: np.ndarray) -> np.ndarray:
    """Return the conjugate of unit quaternions."""
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the Hamilton product a * b (rotation b first, then a), broadcasting."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ),
        axis=-1,
    )


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + q[..., :1] * t + np.cross(u, t)


def qbetween(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Return the shortest-arc unit quaternions turning direction u into direction v."""
    u = unit(u)
    v = unit(v)
    u, v = np.broadcast_arrays(u, v)
    w = 1.0 + np.sum(u * v, axis=-1, keepdims=True)
    xyz = np.cross(u, v)
    # Opposite directions: any axis orthogonal to u works; take the one least aligned with u.
    flip = w[..., 0] < 1e-9
    if np.any(flip):
        uf = u[flip]
        helper = np.where(np.abs(uf[:, :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
        xyz = xyz.copy()
        w = w.copy()
        xyz[flip] = unit(np.cross(uf, helper))
        w[flip] = 0.0
    return qnormalize(np.concatenate((w, xyz), axis=-1))


def quat_from_axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Return unit quaternions rotating by `angle` radians about unit `axis`."""
    angle = np.asarray(angle, dtype=np.float64)[..., None]
    return np.concatenate((np.cos(angle / 2), np.sin(angle / 2) * unit(axis)), axis=-1)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Return (..., 3, 3) rotation matrices of unit quaternions."""
    w, x, y, z = np.moveaxis(qnormalize(q), -1, 0)
    return np.stack(
        (
            np.stack((1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)), -1),
            np.stack((2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)), -1),
            np.stack((2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)), -1),
        ),
        axis=-2,
    )


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Return unit quaternions (w >= 0) of (..., 3, 3) rotation matrices (Shepperd's method, stable everywhere)."""
    m = np.asarray(m, dtype=np.float64)
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    cands = np.stack(
        (
            np.stack(
                (1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                 m[..., 1, 0] - m[..., 0, 1]), -1),
            np.stack(
                (m[..., 2, 1] - m[..., 1, 2], 1 + 2 * m[..., 0, 0] - tr, m[..., 0, 1] + m[..., 1, 0],
                 m[..., 0, 2] + m[..., 2, 0]), -1),
            np.stack(
                (m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 + 2 * m[..., 1, 1] - tr,
                 m[..., 1, 2] + m[..., 2, 1]), -1),
            np.stack(
                (m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                 1 + 2 * m[..., 2, 2] - tr), -1),
        ),
        axis=-2,
    )  # fmt: skip
    diag = np.stack((tr, m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]), -1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    q = qnormalize(q)
    return np.where(q[..., :1] < 0, -q, q)


def qslerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between unit quaternions a and b at fractions t (broadcast over the last axis)."""
    a = qnormalize(a)
    b = qnormalize(b)
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0, -b, b)
    dot = np.abs(dot)
    t = np.asarray(t, dtype=np.float64)[..., None]
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(theta)
    small = sin < 1e-6
    safe = np.where(small, 1.0, sin)
    wa = np.where(small, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    wb = np.where(small, t, np.sin(t * theta) / safe)
    return qnormalize(wa * a + wb * b)


def qcontinuous(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip signs along `axis` (time) so neighbouring quaternions stay in one hemisphere; F-curves then stay smooth."""
    q = np.array(q, dtype=np.float64, copy=True)
    q = np.moveaxis(q, axis, 0)
    for i in range(1, q.shape[0]):
        flip = np.sum(q[i] * q[i - 1], axis=-1) < 0
        q[i][flip] *= -1
    return np.moveaxis(q, 0, axis)


def angle_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Return the angle in degrees between directions u and v."""
    c = np.sum(unit(u) * unit(v), axis=-1)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def unit(v: np.ndarray) -> np.ndarray:
    """Return vectors scaled to unit length (zero vectors stay zero)."""
    v = np.asarray(v, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
