"""Quaternion and rotation-matrix helpers, batched, for numpy arrays and torch tensors alike.

Quaternions are (w, x, y, z) with w first, as in HumanML3D. Every function takes
numpy arrays or torch tensors of any leading shape and returns the same kind it was
given; numpy inputs are computed in float64.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

_EPS = 1e-9


def _t(x) -> tuple[torch.Tensor, bool]:
    if isinstance(x, torch.Tensor):
        return x, False
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)), True


def _out(x: torch.Tensor, was_numpy: bool):
    return x.numpy() if was_numpy else x


def qnormalize(q: Array) -> Array:
    """Return unit quaternions."""
    t, n = _t(q)
    return _out(t / t.norm(dim=-1, keepdim=True).clamp_min(_EPS), n)


def qinv(q: Array) -> Array:
    """Return the inverse (conjugate) of unit quaternions."""
    t, n = _t(q)
    return _out(t * t.new_tensor([1.0, -1.0, -1.0, -1.0]), n)


def qmul(q: Array, r: Array) -> Array:
    """Return the Hamilton product q * r (apply r first, then q)."""
    a, n = _t(q)
    b, _ = _t(r)
    b = b.to(a.dtype)
    w1, x1, y1, z1 = a.unbind(-1)
    w2, x2, y2, z2 = b.unbind(-1)
    out = torch.stack(
        (
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ),
        dim=-1,
    )
    return _out(out, n)


def qrot(q: Array, v: Array) -> Array:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4); leading shapes broadcast."""
    a, n = _t(q)
    b, _ = _t(v)
    b = b.to(a.dtype)
    w = a[..., :1]
    u = a[..., 1:]
    u, b = torch.broadcast_tensors(u, b)
    w = w.expand(u.shape[:-1] + (1,))
    uv = torch.cross(u, b, dim=-1)
    uuv = torch.cross(u, uv, dim=-1)
    return _out(b + 2.0 * (w * uv + uuv), n)


def qbetween(u: Array, v: Array) -> Array:
    """Return the shortest-arc unit quaternion that turns direction u onto direction v."""
    a, n = _t(u)
    b, _ = _t(v)
    b = b.to(a.dtype)
    a, b = torch.broadcast_tensors(a, b)
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    b = b / b.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    w = 1.0 + (a * b).sum(-1, keepdim=True)
    xyz = torch.cross(a, b, dim=-1)
    # Opposite directions: any axis perpendicular to u is a valid half turn.
    opposite = (w[..., 0] < 1e-7)
    if bool(opposite.any()):
        alt = torch.cross(a, a.new_tensor([1.0, 0.0, 0.0]).expand_as(a), dim=-1)
        small = alt.norm(dim=-1, keepdim=True) < 1e-6
        alt = torch.where(small, torch.cross(a, a.new_tensor([0.0, 1.0, 0.0]).expand_as(a), dim=-1), alt)
        xyz = torch.where(opposite[..., None], alt, xyz)
        w = torch.where(opposite[..., None], torch.zeros_like(w), w)
    q = torch.cat((w, xyz), dim=-1)
    return _out(q / q.norm(dim=-1, keepdim=True).clamp_min(_EPS), n)


def qfix(q: Array) -> Array:
    """Flip signs along axis 0 (time) so consecutive quaternions lie in the same hemisphere."""
    t, n = _t(q)
    t = t.clone()
    if t.shape[0] > 1:
        dots = (t[1:] * t[:-1]).sum(-1)
        flips = torch.cumsum((dots < 0).to(torch.int64), dim=0) % 2
        sign = torch.cat((torch.zeros_like(flips[:1]), flips), dim=0)
        t = torch.where(sign[..., None].bool(), -t, t)
    return _out(t, n)


def quat_to_matrix(q: Array) -> Array:
    """Return rotation matrices (..., 3, 3) of unit quaternions (..., 4)."""
    t, n = _t(q)
    t = t / t.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    w, x, y, z = t.unbind(-1)
    m = torch.stack(
        (
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ),
        dim=-1,
    ).reshape(t.shape[:-1] + (3, 3))
    return _out(m, n)


def matrix_to_quat(m: Array) -> Array:
    """Return unit quaternions (w >= 0) of rotation matrices (..., 3, 3), numerically stable."""
    t, n = _t(m)
    m00, m01, m02 = t[..., 0, 0], t[..., 0, 1], t[..., 0, 2]
    m10, m11, m12 = t[..., 1, 0], t[..., 1, 1], t[..., 1, 2]
    m20, m21, m22 = t[..., 2, 0], t[..., 2, 1], t[..., 2, 2]
    # Four candidate solutions; pick the one with the largest pivot for stability.
    cands = torch.stack(
        (
            torch.stack((1 + m00 + m11 + m22, m21 - m12, m02 - m20, m10 - m01), -1),
            torch.stack((m21 - m12, 1 + m00 - m11 - m22, m01 + m10, m02 + m20), -1),
            torch.stack((m02 - m20, m01 + m10, 1 - m00 + m11 - m22, m12 + m21), -1),
            torch.stack((m10 - m01, m02 + m20, m12 + m21, 1 - m00 - m11 + m22), -1),
        ),
        dim=-2,
    )
    pivots = torch.stack((1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22), -1)
    best = pivots.argmax(-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    q = torch.where(q[..., :1] < 0, -q, q)
    return _out(q, n)


def quat_to_cont6d(q: Array) -> Array:
    """Return the continuous 6-D representation (first two matrix columns, HumanML3D order) of quaternions."""
    t, n = _t(q)
    m = quat_to_matrix(t)
    return _out(torch.cat((m[..., 0], m[..., 1]), dim=-1), n)


def cont6d_to_matrix(d6: Array) -> Array:
    """Return rotation matrices from 6-D rotations by Gram-Schmidt (columns x, y, z = x cross y)."""
    t, n = _t(d6)
    x = t[..., 0:3]
    y = t[..., 3:6]
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    z = torch.cross(x, y, dim=-1)
    z = z / z.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    y = torch.cross(z, x, dim=-1)
    return _out(torch.stack((x, y, z), dim=-1), n)


def cont6d_to_quat(d6: Array) -> Array:
    """Return unit quaternions of 6-D rotations."""
    t, n = _t(d6)
    return _out(matrix_to_quat(cont6d_to_matrix(t)), n)


def quat_from_axis_angle(axis: Array, angle: Array) -> Array:
    """Return quaternions rotating by `angle` radians (...,) about unit `axis` (..., 3)."""
    a, n = _t(axis)
    ang, _ = _t(angle)
    ang = ang.to(a.dtype)
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    half = ang[..., None] / 2
    return _out(torch.cat((torch.cos(half), torch.sin(half) * a), dim=-1), n)


def quat_to_axis_angle(q: Array) -> Array:
    """Return axis-angle vectors (..., 3), angle in [0, pi], of unit quaternions."""
    t, n = _t(q)
    t = torch.where(t[..., :1] < 0, -t, t)
    s = t[..., 1:].norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(s, t[..., :1])
    axis = t[..., 1:] / s.clamp_min(_EPS)
    return _out(axis * angle, n)


def quat_angle(q: Array) -> Array:
    """Return the rotation angle in radians, in [0, pi], of unit quaternions."""
    t, n = _t(q)
    return _out(2 * torch.atan2(t[..., 1:].norm(dim=-1), t[..., 0].abs()), n)


def y_rotation(angle: Array) -> Array:
    """Return quaternions of rotations by `angle` radians about the up (Y) axis."""
    a, n = _t(angle)
    z = torch.zeros_like(a)
    return _out(torch.stack((torch.cos(a / 2), z, torch.sin(a / 2), z), dim=-1), n)
