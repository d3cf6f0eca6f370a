"""The kinematic-group and group-interaction representation of the KinMo paper (Sec. 3.1, Eq. 1-3).

Every quantity is read off the 263-d HumanML3D features (see `kinmo_core.motion.features`), per frame:

- group position P_g: the mean of its joints' root-frame positions (the ric block, with the pelvis at
  (0, root height, 0)), stored with each joint's offset from P_g;
- limb angles Theta_g: the rot6d rotations of its joints (the pelvis has none: its rotation is the root's);
- group velocity V_g: the mean of its joints' velocities (the velocity block), stored with each joint's
  residual from V_g;
- per pair (g, h) of `kinematic.PAIRS`: dP = P_h - P_g, dTheta = the rotation at the connecting joint,
  dV = V_h - V_g together with the connecting joint's velocity.

The map features -> groups is linear and `groups_to_features` inverts it exactly: a joint's position is
P_g plus its offset, its velocity V_g plus its residual; root and contact channels are carried unchanged.
A flat (..., T, GROUP_VECTOR_DIM) form and its layout are provided for models; the inverse of a flat vector
that breaks the constraints (offsets or residuals of a group not summing to zero, as a model may produce)
is the least-squares projection: the group's mean offset is removed before adding P_g.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import torch

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.features import FEATURE_DIM, FEATURE_SLICES, ROOT_HEIGHT
from kinmo_core.motion.kinematic import GROUP_JOINTS, GROUPS, PAIR_CONNECTING_JOINT, PAIR_GROUPS, PAIRS
from kinmo_core.motion.skeleton import NUM_JOINTS

Tensor: TypeAlias = np.ndarray | torch.Tensor
"""A numpy array or a torch tensor; a GroupMotion holds one kind throughout."""

ROTATION_JOINTS: dict[str, tuple[int, ...]] = {g: tuple(j for j in GROUP_JOINTS[g] if j != 0) for g in GROUPS}
"""Joints whose rot6d forms each group's limb angles (every joint but the pelvis, which has no rot6d)."""


@dataclass
class GroupMotion:
    """A motion as kinematic groups; arrays are all numpy or all torch, with the same leading (..., T) shape."""

    root: Tensor
    """(..., T, 4) the features' root channels, unchanged."""
    contacts: Tensor
    """(..., T, 4) the features' foot contacts, unchanged."""
    position: dict[str, Tensor]
    """P_g (..., T, 3) per group."""
    offsets: dict[str, Tensor]
    """(..., T, n_g, 3) each joint's root-frame position minus P_g, in GROUP_JOINTS order."""
    rotation: dict[str, Tensor]
    """Theta_g (..., T, m_g, 6) rot6d of the group's ROTATION_JOINTS."""
    velocity: dict[str, Tensor]
    """V_g (..., T, 3) per group."""
    velocity_residual: dict[str, Tensor]
    """(..., T, n_g, 3) each joint's velocity minus V_g."""

    @property
    def is_numpy(self) -> bool:
        """Whether the arrays are numpy (else torch)."""
        return isinstance(self.root, np.ndarray)

    def joint_positions(self, group: str) -> Tensor:
        """Return the root-frame positions (..., T, n_g, 3) of a group's joints."""
        return self.position[group][..., None, :] + self.offsets[group]

    def joint_velocities(self, group: str) -> Tensor:
        """Return the velocities (..., T, n_g, 3) of a group's joints."""
        return self.velocity[group][..., None, :] + self.velocity_residual[group]


# ----------------------------------------------------------------------------------------------- flat layout


def _vector_layout() -> dict[str, slice]:
    layout: dict[str, slice] = {}
    at = 0

    def put(name: str, size: int) -> None:
        nonlocal at
        layout[name] = slice(at, at + size)
        at += size

    put("root", 4)
    for g in GROUPS:
        n = len(GROUP_JOINTS[g])
        put(f"{g}/position", 3)
        put(f"{g}/offsets", 3 * n)
        put(f"{g}/rotation", 6 * len(ROTATION_JOINTS[g]))
        put(f"{g}/velocity", 3)
        put(f"{g}/velocity_residual", 3 * n)
    put("contacts", 4)
    return layout


GROUP_VECTOR_LAYOUT: dict[str, slice] = _vector_layout()
"""Named slices of the flat group vector: 'root', then per group '<g>/position', '<g>/offsets',
'<g>/rotation', '<g>/velocity', '<g>/velocity_residual' (groups in GROUPS order, each contiguous), 'contacts'."""

GROUP_VECTOR_DIM: int = GROUP_VECTOR_LAYOUT["contacts"].stop
"""Width of the flat group vector (302: 263 feature channels plus the pelvis position and one redundant
offset and residual per group, which make every group self-contained)."""

GROUP_VECTOR_SLICES: dict[str, slice] = {
    g: slice(GROUP_VECTOR_LAYOUT[f"{g}/position"].start, GROUP_VECTOR_LAYOUT[f"{g}/velocity_residual"].stop)
    for g in GROUPS
}
"""The contiguous block of each group in the flat group vector."""


def _pair_layout() -> dict[str, slice]:
    layout: dict[str, slice] = {}
    at = 0
    for k in PAIRS:
        fields = [("delta_position", 3), ("delta_velocity", 3)]
        if PAIR_CONNECTING_JOINT[k] is not None:
            fields += [("connecting_rotation", 6), ("connecting_velocity", 3)]
        for name, size in fields:
            layout[f"{k}/{name}"] = slice(at, at + size)
            at += size
    return layout


PAIR_VECTOR_LAYOUT: dict[str, slice] = _pair_layout()
"""Named slices of the flat pair vector: per pair key '<key>/delta_position', '<key>/delta_velocity' and, for
pairs with a connecting joint, '<key>/connecting_rotation', '<key>/connecting_velocity'."""

PAIR_VECTOR_DIM: int = max(s.stop for s in PAIR_VECTOR_LAYOUT.values())


# ----------------------------------------------------------------------------------------------- helpers


def _kind(x) -> tuple[Tensor, bool]:
    if isinstance(x, torch.Tensor):
        return x, False
    try:
        a = np.asarray(x)
    except Exception as exc:
        raise KinmoInputError(f"features must be a numeric array: {exc}") from None
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise KinmoInputError(f"features must be a numeric array, got dtype {a.dtype}")
    return (a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float64)), True


def _cat(parts: list, is_numpy: bool, axis: int):
    return np.concatenate(parts, axis=axis) if is_numpy else torch.cat(parts, dim=axis)


def _stack(parts: list, is_numpy: bool, axis: int):
    return np.stack(parts, axis=axis) if is_numpy else torch.stack(parts, dim=axis)


def _joint_table(features, is_numpy: bool):
    """Root-frame positions (..., T, 22, 3), pelvis at (0, height, 0)."""
    lead = features.shape[:-1]
    ric = features[..., FEATURE_SLICES["ric"]].reshape(lead + (NUM_JOINTS - 1, 3))
    h = features[..., ROOT_HEIGHT]
    zero = h * 0
    pelvis = _cat([zero, h, zero], is_numpy, -1)[..., None, :]
    return _cat([pelvis, ric], is_numpy, -2)


# ----------------------------------------------------------------------------------------------- conversion


def features_to_groups(features: Tensor) -> GroupMotion:
    """Return the group representation of features (..., T, 263), numpy or torch."""
    f, is_numpy = _kind(features)
    if f.ndim < 2 or f.shape[-1] != FEATURE_DIM:
        raise KinmoInputError(f"features must have shape (..., frames, {FEATURE_DIM}), got {tuple(f.shape)}")
    lead = f.shape[:-1]
    pos = _joint_table(f, is_numpy)
    vel = f[..., FEATURE_SLICES["velocity"]].reshape(lead + (NUM_JOINTS, 3))
    rot = f[..., FEATURE_SLICES["rot6d"]].reshape(lead + (NUM_JOINTS - 1, 6))
    position, offsets, rotation, velocity, residual = {}, {}, {}, {}, {}
    for g in GROUPS:
        idx = list(GROUP_JOINTS[g])
        p = pos[..., idx, :]
        v = vel[..., idx, :]
        position[g] = p.mean(-2)
        offsets[g] = p - position[g][..., None, :]
        velocity[g] = v.mean(-2)
        residual[g] = v - velocity[g][..., None, :]
        rotation[g] = rot[..., [j - 1 for j in ROTATION_JOINTS[g]], :]
    return GroupMotion(
        root=f[..., FEATURE_SLICES["root"]],
        contacts=f[..., FEATURE_SLICES["contacts"]],
        position=position,
        offsets=offsets,
        rotation=rotation,
        velocity=velocity,
        velocity_residual=residual,
    )


def groups_to_features(groups: GroupMotion) -> Tensor:
    """Return the features (..., T, 263) of a group representation (the exact inverse of features_to_groups)."""
    is_numpy = groups.is_numpy
    pos: list = [None] * NUM_JOINTS
    vel: list = [None] * NUM_JOINTS
    rot: list = [None] * NUM_JOINTS
    for g in GROUPS:
        # Removing the mean offset makes this the least-squares inverse for vectors that break the constraint.
        off = groups.offsets[g]
        res = groups.velocity_residual[g]
        p = groups.position[g][..., None, :] + off - off.mean(-2)[..., None, :]
        v = groups.velocity[g][..., None, :] + res - res.mean(-2)[..., None, :]
        for i, j in enumerate(GROUP_JOINTS[g]):
            pos[j] = p[..., i, :]
            vel[j] = v[..., i, :]
        for i, j in enumerate(ROTATION_JOINTS[g]):
            rot[j] = groups.rotation[g][..., i, :]
    lead = groups.root.shape[:-1]
    ric = _stack(pos[1:], is_numpy, -2).reshape(lead + (-1,))
    r6 = _stack(rot[1:], is_numpy, -2).reshape(lead + (-1,))
    v = _stack(vel, is_numpy, -2).reshape(lead + (-1,))
    return _cat([groups.root, ric, r6, v, groups.contacts], is_numpy, -1)


def groups_to_vector(groups: GroupMotion) -> Tensor:
    """Return the flat (..., T, GROUP_VECTOR_DIM) vector of a group representation, in GROUP_VECTOR_LAYOUT order."""
    is_numpy = groups.is_numpy
    lead = groups.root.shape[:-1]
    parts = [groups.root]
    for g in GROUPS:
        parts += [
            groups.position[g],
            groups.offsets[g].reshape(lead + (-1,)),
            groups.rotation[g].reshape(lead + (-1,)),
            groups.velocity[g],
            groups.velocity_residual[g].reshape(lead + (-1,)),
        ]
    parts.append(groups.contacts)
    return _cat(parts, is_numpy, -1)


def vector_to_groups(vector: Tensor) -> GroupMotion:
    """Return the group representation of a flat (..., T, GROUP_VECTOR_DIM) vector."""
    x, _ = _kind(vector)
    if x.ndim < 2 or x.shape[-1] != GROUP_VECTOR_DIM:
        raise KinmoInputError(f"group vectors must have shape (..., frames, {GROUP_VECTOR_DIM}), got {tuple(x.shape)}")
    lead = x.shape[:-1]
    L = GROUP_VECTOR_LAYOUT
    return GroupMotion(
        root=x[..., L["root"]],
        contacts=x[..., L["contacts"]],
        position={g: x[..., L[f"{g}/position"]] for g in GROUPS},
        offsets={g: x[..., L[f"{g}/offsets"]].reshape(lead + (-1, 3)) for g in GROUPS},
        rotation={g: x[..., L[f"{g}/rotation"]].reshape(lead + (-1, 6)) for g in GROUPS},
        velocity={g: x[..., L[f"{g}/velocity"]] for g in GROUPS},
        velocity_residual={g: x[..., L[f"{g}/velocity_residual"]].reshape(lead + (-1, 3)) for g in GROUPS},
    )


def features_to_group_vector(features: Tensor) -> Tensor:
    """Return the flat group vector (..., T, GROUP_VECTOR_DIM) of features (..., T, 263)."""
    return groups_to_vector(features_to_groups(features))


def group_vector_to_features(vector: Tensor) -> Tensor:
    """Return features (..., T, 263) of a flat group vector (least-squares where it breaks the constraints)."""
    return groups_to_features(vector_to_groups(vector))


# ----------------------------------------------------------------------------------------------- interactions


def _joint_rotation(groups: GroupMotion, joint: int):
    for g in GROUPS:
        if joint in ROTATION_JOINTS[g]:
            return groups.rotation[g][..., ROTATION_JOINTS[g].index(joint), :]
    raise KeyError(joint)


def _joint_velocity(groups: GroupMotion, joint: int):
    for g in GROUPS:
        if joint in GROUP_JOINTS[g]:
            i = GROUP_JOINTS[g].index(joint)
            return groups.velocity[g] + groups.velocity_residual[g][..., i, :]
    raise KeyError(joint)


def pair_delta(groups: GroupMotion, g: str, h: str) -> dict[str, Tensor]:
    """Return Eq. 3 for the ordered pair (g, h): P_h - P_g, V_h - V_g, and the connecting joint's rotation, velocity."""
    # The connecting joint's entries exist only where the groups touch and do not depend on the order.
    if g == h or g not in GROUP_JOINTS or h not in GROUP_JOINTS:
        raise KinmoInputError(f"not a pair of two different groups: {g!r}, {h!r}")
    out = {
        "delta_position": groups.position[h] - groups.position[g],
        "delta_velocity": groups.velocity[h] - groups.velocity[g],
    }
    joint = PAIR_CONNECTING_JOINT["|".join(sorted((g, h)))]
    if joint is not None:
        out["connecting_rotation"] = _joint_rotation(groups, joint)
        out["connecting_velocity"] = _joint_velocity(groups, joint)
    return out


def pair_features(groups: GroupMotion) -> dict[str, dict[str, Tensor]]:
    """Return Eq. 3 for all fifteen pairs, keyed by kinematic.PAIRS; 'a|b' holds the deltas b minus a."""
    return {k: pair_delta(groups, *PAIR_GROUPS[k]) for k in PAIRS}


def pair_vector(groups: GroupMotion) -> Tensor:
    """Return the flat (..., T, PAIR_VECTOR_DIM) pair vector in PAIR_VECTOR_LAYOUT order."""
    pairs = pair_features(groups)
    parts = [pairs[name.split("/")[0]][name.split("/")[1]] for name in PAIR_VECTOR_LAYOUT]
    return _cat(parts, groups.is_numpy, -1)
