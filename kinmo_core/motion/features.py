"""HumanML3D's 263-d motion features: extraction from joint positions, recovery, and mirroring.

A clip of N joint frames (22 joints, Y up, metres) becomes N-1 feature rows laid out as

    root      0:4     root rotation velocity about Y (half angle, radians/frame), root XZ velocity in the
                      body's heading frame (2), root height
    ric       4:67    joints 1..21 relative to the root's XZ, turned into the body's heading frame
    rot6d     67:193  joints 1..21 local rotations, first two matrix columns (HumanML3D convention)
    velocity  193:259 all 22 joints' world displacement to the next frame, in the heading frame
    contacts  259:263 left ankle, left foot, right ankle, right foot (1 = still)

`joints_to_features` reproduces HumanML3D's `process_file` so features of users' own HumanML3D data
match ours, with one exception by default: where the heading passes 180 degrees HumanML3D's arcsin of a
half-angle quaternion takes the wrong sign for one frame (its issue #156), which spins the recovered
body; KinMo takes the short way round. `humanml3d_compat=True` keeps that quirk for bit-exact HumanML3D
features. `features_to_joints` is its `recover_from_ric`. Every function
takes numpy arrays or torch tensors with any leading batch dimensions and returns the same kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion import rotations as R
from kinmo_core.motion.contacts import foot_contacts
from kinmo_core.motion.skeleton import (
    BONE_LENGTHS,
    FACE_JOINTS,
    KINEMATIC_CHAINS,
    LEFT_RIGHT_SWAP,
    NUM_JOINTS,
    PARENTS,
    RAW_OFFSETS,
)

Array = TypeVar("Array", np.ndarray, torch.Tensor)

FEATURE_DIM: int = 263
FEATURE_SLICES: dict[str, slice] = {
    "root": slice(0, 4),
    "ric": slice(4, 67),
    "rot6d": slice(67, 193),
    "velocity": slice(193, 259),
    "contacts": slice(259, 263),
}
"""Named blocks of the 263-d feature vector (see the module docstring)."""

ROOT_ROT_VELOCITY = slice(0, 1)
ROOT_LINEAR_VELOCITY = slice(1, 3)
ROOT_HEIGHT = slice(3, 4)
LEFT_CONTACTS = slice(259, 261)
RIGHT_CONTACTS = slice(261, 263)


def joint_channels(joints: Iterable[int]) -> np.ndarray:
    """Return the indices of the feature channels that describe the given joints (position, rotation, velocity).

    The pelvis (0) has no position or rotation channels of its own (the root block describes it) but a velocity.
    """
    out: list[int] = []
    for j in map(int, joints):
        if not 0 <= j < NUM_JOINTS:
            raise KinmoInputError(f"joint index {j} is outside 0..{NUM_JOINTS - 1}")
        if j > 0:
            ric, rot = FEATURE_SLICES["ric"].start, FEATURE_SLICES["rot6d"].start
            out += range(ric + 3 * (j - 1), ric + 3 * j)
            out += range(rot + 6 * (j - 1), rot + 6 * j)
        vel = FEATURE_SLICES["velocity"].start
        out += range(vel + 3 * j, vel + 3 * j + 3)
    return np.array(sorted(set(out)), dtype=np.int64)


SMOOTH_FORWARD_SIGMA: float = 20.0
"""Gaussian sigma (frames) HumanML3D applies to the facing direction before computing root rotations."""

# HumanML3D measures the retarget scale on the right leg: knee (hip->knee bone) and ankle (knee->ankle bone).
_SCALE_BONES = (5, 8)

# Chain-first joints start their IK from the root quaternion, not from their parent's bone: that is
# HumanML3D's walk over KINEMATIC_CHAINS, where the arm chains restart at spine3 with the root rotation.
_CHAIN_FIRST = frozenset(chain[1] for chain in KINEMATIC_CHAINS)

_MIRROR_X = (-1.0, 1.0, 1.0)
# Reflecting X turns a rotation matrix M into S M S (S = diag(-1, 1, 1)); on its first two columns
# (x0, y0, z0, x1, y1, z1) that flips these signs.
_MIRROR_6D = (1.0, -1.0, -1.0, -1.0, 1.0, 1.0)


def _ancestor_matrix() -> np.ndarray:
    # A[j, k] = 1 when bone k (parent(k) -> k) lies on the path from the root to joint j, so that
    # joint positions are root + A @ bone_vectors.
    a = np.zeros((NUM_JOINTS, NUM_JOINTS))
    for j in range(1, NUM_JOINTS):
        k = j
        while k > 0:
            a[j, k] = 1.0
            k = PARENTS[k]
    return a


_ANCESTORS = _ancestor_matrix()


def _gaussian_kernel(sigma: float) -> np.ndarray:
    # Same taps as scipy.ndimage.gaussian_filter1d with its default truncate=4.0.
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


_KERNEL = _gaussian_kernel(SMOOTH_FORWARD_SIGMA)


# ----------------------------------------------------------------------------------------------- io helpers


def _to_torch(x, what: str) -> tuple[torch.Tensor, bool, np.dtype | None]:
    if isinstance(x, torch.Tensor):
        t = x if x.is_floating_point() else x.to(torch.get_default_dtype())
        return t, False, None
    try:
        a = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise KinmoInputError(f"{what} must be a numeric array: {exc}") from None
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise KinmoInputError(f"{what} must be a numeric array, got dtype {a.dtype}")
    out_dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.dtype(np.float64)
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)), True, out_dtype


def _from_torch(t: torch.Tensor, was_numpy: bool, dtype: np.dtype | None):
    if not was_numpy:
        return t
    return t.detach().numpy().astype(dtype, copy=False)


def _check_finite(t: torch.Tensor, what: str) -> None:
    if not bool(torch.isfinite(t).all()):
        raise KinmoInputError(f"{what} contain NaN or infinite values")


def _check_joints(t: torch.Tensor, min_frames: int) -> None:
    if t.ndim < 3 or tuple(t.shape[-2:]) != (NUM_JOINTS, 3):
        raise KinmoInputError(f"joints must have shape (..., frames, {NUM_JOINTS}, 3), got {tuple(t.shape)}")
    if t.shape[-3] < min_frames:
        raise KinmoInputError(f"joints need at least {min_frames} frames, got {t.shape[-3]}")
    _check_finite(t, "joints")


def _check_features(t: torch.Tensor) -> None:
    if t.ndim < 2 or t.shape[-1] != FEATURE_DIM:
        raise KinmoInputError(f"features must have shape (..., frames, {FEATURE_DIM}), got {tuple(t.shape)}")
    if t.shape[-2] < 1:
        raise KinmoInputError("features need at least 1 frame")
    _check_finite(t, "features")


def _const(values, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values), dtype=like.dtype, device=like.device)


# ----------------------------------------------------------------------------------------------- retargeting


def _uniform_skeleton(j: torch.Tensor) -> torch.Tensor:
    # HumanML3D runs IK on the source joints and FK with the target offsets; its IK gives every bone the
    # global rotation that turns the rest direction onto the bone, so FK places each joint at its parent plus
    # the target bone length along the source bone's direction. Computed directly, which is the same map
    # without the quaternion round trip (and without its NaN for bones pointing exactly against rest).
    par = list(PARENTS)
    par[0] = 0
    bones = j - j[..., par, :]
    length = bones.norm(dim=-1, keepdim=True)
    src_leg = length[..., 0, _SCALE_BONES[0], 0] + length[..., 0, _SCALE_BONES[1], 0]
    tgt_leg = float(BONE_LENGTHS[_SCALE_BONES[0]] + BONE_LENGTHS[_SCALE_BONES[1]])
    scale = tgt_leg / src_leg
    direction = bones / length.clamp_min(1e-12)
    scaled = direction * _const(BONE_LENGTHS, j)[:, None]
    root = j[..., :1, :] * scale[..., None, None, None]
    return root + torch.einsum("jk,...kc->...jc", _const(_ANCESTORS, j), scaled)


def uniform_skeleton(joints: Array) -> Array:
    """Retarget joint positions (..., N, 22, 3) to the target skeleton's bone lengths, HumanML3D's way."""
    t, was_numpy, dtype = _to_torch(joints, "joints")
    _check_joints(t, 1)
    out = _uniform_skeleton(t)
    _check_finite(out, "retargeted joints (a bone has zero length)")
    return _from_torch(out, was_numpy, dtype)


# ----------------------------------------------------------------------------------------------- extraction


def _smooth_time(x: torch.Tensor) -> torch.Tensor:
    # gaussian_filter1d(x, 20, axis=time, mode='nearest') on (B, N, C): edge-replicate padding then correlation.
    b, n, c = x.shape
    kernel = _const(_KERNEL, x)
    radius = (kernel.numel() - 1) // 2
    flat = x.permute(0, 2, 1).reshape(b * c, 1, n)
    flat = F.pad(flat, (radius, radius), mode="replicate")
    out = F.conv1d(flat, kernel.view(1, 1, -1))
    return out.reshape(b, c, n).permute(0, 2, 1)


def _forward_direction(across: torch.Tensor) -> torch.Tensor:
    across = across / across.norm(dim=-1, keepdim=True)
    up = torch.zeros_like(across)
    up[..., 1] = 1.0
    return torch.cross(up, across, dim=-1)


def _ik_quaternions(j: torch.Tensor, smooth: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Return HumanML3D's root quaternions (B, N, 4) and joint quaternions (B, N, 21, 4) of joints (B, N, 22, 3)."""
    # HumanML3D's Skeleton.inverse_kinematics_np unpacks FACE_JOINTS (r_hip, l_hip, r_sdr, l_sdr) as
    # (l_hip, r_hip, sdr_r, sdr_l), so its "across" is (left hip - right hip) + (right shoulder - left shoulder):
    # the shoulders outweigh the hips, which keeps it pointing to the body's right. Kept for identical features.
    rh, lh, rs, ls = FACE_JOINTS
    across = (j[..., lh, :] - j[..., rh, :]) + (j[..., rs, :] - j[..., ls, :])
    forward = _forward_direction(across)
    if smooth:
        forward = _smooth_time(forward)
    forward = forward / forward.norm(dim=-1, keepdim=True)
    target = torch.zeros_like(forward)
    target[..., 2] = 1.0
    root_quat = R.qbetween(forward, target)
    # HumanML3D's released features were made with the root quaternion of frame 0 set to the identity (a line
    # of its skeleton.py, commented out in later copies; the fixtures' first rows only match with it), so
    # frame 0 is expressed in the canonical +Z frame rather than in the smoothed heading.
    identity = torch.zeros_like(root_quat[..., :1, :])
    identity[..., 0] = 1.0
    root_quat = torch.cat((identity, root_quat[..., 1:, :]), dim=-2)

    par = list(PARENTS)
    par[0] = 0
    u = _const(RAW_OFFSETS[1:], j).expand(j.shape[:-2] + (NUM_JOINTS - 1, 3))
    v = j[..., 1:, :] - j[..., par[1:], :]
    v = v / v.norm(dim=-1, keepdim=True)
    bone_rot = R.qbetween(u, v)  # global rotation of each bone (rest direction -> actual direction)
    # The rotation each joint is expressed relative to: the root quaternion at the start of a chain, else the
    # parent bone's global rotation.
    prev_index = [0 if jj in _CHAIN_FIRST else PARENTS[jj] for jj in range(1, NUM_JOINTS)]
    with_root = torch.cat((root_quat[..., None, :], bone_rot), dim=-2)
    prev = with_root[..., prev_index, :]
    local = R.qmul(R.qinv(prev), bone_rot)
    return root_quat, local


def _canonical_placement(j: torch.Tensor) -> torch.Tensor:
    # HumanML3D's placement: feet on the floor (y = 0), the first frame's root over the origin, facing +Z.
    floor = j[..., 1].amin(dim=(1, 2))
    j = j - torch.stack((torch.zeros_like(floor), floor, torch.zeros_like(floor)), dim=-1)[:, None, None, :]

    first = j[:, 0]
    root_xz = first[:, 0] * _const([1.0, 0.0, 1.0], j)
    j = j - root_xz[:, None, None, :]

    rh, lh, rs, ls = FACE_JOINTS
    across = (first[:, rh] - first[:, lh]) + (first[:, rs] - first[:, ls])
    forward = _forward_direction(across)
    forward = forward / forward.norm(dim=-1, keepdim=True)
    target = torch.zeros_like(forward)
    target[..., 2] = 1.0
    face = R.qbetween(forward, target)
    j = R.qrot(face[:, None, None, :], j)
    return j


def _joints_to_features(j: torch.Tensor, uniform: bool, compat: bool = False, canonical: bool = True) -> torch.Tensor:
    """Batched core on (B, N, 22, 3)."""
    if uniform:
        j = _uniform_skeleton(j)
    if canonical:
        j = _canonical_placement(j)
    glob = j

    contact = foot_contacts(glob).to(j.dtype)
    feet_l, feet_r = contact[..., :2], contact[..., 2:]

    r_rot, local = _ik_quaternions(j, smooth=True)
    cont6d = R.quat_to_cont6d(local)

    velocity = R.qrot(r_rot[:, 1:], j[:, 1:, 0] - j[:, :-1, 0])
    r_velocity = R.qmul(r_rot[:, 1:], R.qinv(r_rot[:, :-1]))
    if not compat:
        # q and -q are the same turn; with w < 0 the arcsin below would read the long way round.
        r_velocity = torch.where(r_velocity[..., :1] < 0, -r_velocity, r_velocity)

    root_xz_t = j[:, :, :1] * _const([1.0, 0.0, 1.0], j)
    local_pos = R.qrot(r_rot[:, :, None, :], j - root_xz_t)
    root_y = local_pos[:, :, 0, 1:2]

    b, n = j.shape[:2]
    root_data = torch.cat(
        (torch.asin(r_velocity[..., 2:3].clamp(-1.0, 1.0)), velocity[..., 0:1], velocity[..., 2:3], root_y[:, :-1]),
        dim=-1,
    )
    ric = local_pos[:, :-1, 1:].reshape(b, n - 1, -1)
    rot = cont6d[:, :-1].reshape(b, n - 1, -1)
    local_vel = R.qrot(r_rot[:, :-1, None, :], glob[:, 1:] - glob[:, :-1]).reshape(b, n - 1, -1)
    return torch.cat((root_data, ric, rot, local_vel, feet_l, feet_r), dim=-1)


def joints_to_features(joints: Array, *, uniform_skeleton: bool = True, humanml3d_compat: bool = False,
                       canonical: bool = True) -> Array:
    """Return HumanML3D features (..., N-1, 263) of joint positions (..., N, 22, 3), as its process_file does.

    humanml3d_compat=True also keeps HumanML3D's wrong-signed turn velocity where the heading passes 180 degrees.
    canonical=False keeps the joints where they are (no floor, origin or facing normalisation): with the first
    frame's root at x = z = 0, `features_to_joints` then returns the input joints themselves (edited motions).
    """
    t, was_numpy, dtype = _to_torch(joints, "joints")
    _check_joints(t, 2)
    lead = t.shape[:-3]
    flat = t.reshape((-1,) + tuple(t.shape[-3:]))
    out = _joints_to_features(flat, uniform_skeleton, humanml3d_compat, canonical)
    if not bool(torch.isfinite(out).all()):
        raise KinmoInputError(
            "joints are degenerate: a bone has zero length, or hips and shoulders give no facing direction"
        )
    out = out.reshape(tuple(lead) + tuple(out.shape[-2:]))
    return _from_torch(out, was_numpy, dtype)


# ----------------------------------------------------------------------------------------------- recovery


def _recover_root(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rot_vel = f[..., 0]
    # Frame t's heading is the sum of the velocities of frames 0..t-1; frame 0 is the identity.
    ang = torch.cat((torch.zeros_like(rot_vel[..., :1]), torch.cumsum(rot_vel[..., :-1], dim=-1)), dim=-1)
    zero = torch.zeros_like(ang)
    # HumanML3D stores half angles, so the angle goes straight into cos/sin of the quaternion.
    quat = torch.stack((torch.cos(ang), zero, torch.sin(ang), zero), dim=-1)
    step = torch.zeros(f.shape[:-1] + (3,), dtype=f.dtype, device=f.device)
    step_xz = f[..., :-1, 1:3]
    step = torch.cat(
        (
            torch.zeros_like(step[..., :1, :]),
            torch.stack((step_xz[..., 0], torch.zeros_like(step_xz[..., 0]), step_xz[..., 1]), dim=-1),
        ),
        dim=-2,
    )
    step = R.qrot(R.qinv(quat), step)
    pos = torch.cumsum(step, dim=-2)
    pos = torch.stack((pos[..., 0], f[..., 3], pos[..., 2]), dim=-1)
    return quat, pos


def features_to_root(features: Array) -> tuple[Array, Array]:
    """Return the root quaternion (..., T, 4) (world -> heading frame, HumanML3D's) and position (..., T, 3)."""
    t, was_numpy, dtype = _to_torch(features, "features")
    _check_features(t)
    quat, pos = _recover_root(t)
    return _from_torch(quat, was_numpy, dtype), _from_torch(pos, was_numpy, dtype)


def features_to_joints(features: Array) -> Array:
    """Return joint positions (..., T, 22, 3) recovered from features (..., T, 263), HumanML3D's recover_from_ric."""
    t, was_numpy, dtype = _to_torch(features, "features")
    _check_features(t)
    quat, pos = _recover_root(t)
    ric = t[..., FEATURE_SLICES["ric"]].reshape(t.shape[:-1] + (NUM_JOINTS - 1, 3))
    world = R.qrot(R.qinv(quat)[..., None, :], ric)
    world = world + (pos * _const([1.0, 0.0, 1.0], pos))[..., None, :]
    out = torch.cat((pos[..., None, :], world), dim=-2)
    return _from_torch(out, was_numpy, dtype)


def features_to_local_rotations(features: Array) -> Array:
    """Return HumanML3D-convention quaternions (..., T, 22, 4): root (world -> heading) then the rot6d joints."""
    t, was_numpy, dtype = _to_torch(features, "features")
    _check_features(t)
    quat, _ = _recover_root(t)
    d6 = t[..., FEATURE_SLICES["rot6d"]].reshape(t.shape[:-1] + (NUM_JOINTS - 1, 6))
    out = torch.cat((quat[..., None, :], R.cont6d_to_quat(d6)), dim=-2)
    return _from_torch(out, was_numpy, dtype)


# ----------------------------------------------------------------------------------------------- mirroring


def mirror_joints(joints: Array) -> Array:
    """Return joints (..., 22, 3) reflected across the body's sagittal plane (X negated, left/right swapped)."""
    t, was_numpy, dtype = _to_torch(joints, "joints")
    if t.ndim < 2 or tuple(t.shape[-2:]) != (NUM_JOINTS, 3):
        raise KinmoInputError(f"joints must have shape (..., {NUM_JOINTS}, 3), got {tuple(t.shape)}")
    out = t[..., list(LEFT_RIGHT_SWAP), :] * _const(_MIRROR_X, t)
    return _from_torch(out, was_numpy, dtype)


def mirror_features(features: Array) -> Array:
    """Return the features of the mirrored motion, as HumanML3D's mirror augmentation computes them."""
    t, was_numpy, dtype = _to_torch(features, "features")
    if t.ndim < 2 or t.shape[-1] != FEATURE_DIM:
        raise KinmoInputError(f"features must have shape (..., frames, {FEATURE_DIM}), got {tuple(t.shape)}")
    lead = t.shape[:-1]
    # A reflection reverses yaw and the sideways component of every vector; the features are equivariant.
    root = t[..., 0:4] * _const([-1.0, -1.0, 1.0, 1.0], t)
    swap21 = [LEFT_RIGHT_SWAP[j] - 1 for j in range(1, NUM_JOINTS)]
    ric = t[..., FEATURE_SLICES["ric"]].reshape(lead + (NUM_JOINTS - 1, 3))[..., swap21, :] * _const(_MIRROR_X, t)
    rot = t[..., FEATURE_SLICES["rot6d"]].reshape(lead + (NUM_JOINTS - 1, 6))[..., swap21, :] * _const(_MIRROR_6D, t)
    vel = t[..., FEATURE_SLICES["velocity"]].reshape(lead + (NUM_JOINTS, 3))[..., list(LEFT_RIGHT_SWAP), :]
    vel = vel * _const(_MIRROR_X, t)
    contacts = torch.cat((t[..., RIGHT_CONTACTS], t[..., LEFT_CONTACTS]), dim=-1)
    out = torch.cat(
        (root, ric.reshape(lead + (-1,)), rot.reshape(lead + (-1,)), vel.reshape(lead + (-1,)), contacts), dim=-1
    )
    return _from_torch(out, was_numpy, dtype)
