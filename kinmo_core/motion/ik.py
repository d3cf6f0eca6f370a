"""Joint positions to local joint rotations (analytic, no optimisation) and forward kinematics.

Convention (the project's STANDARD one): rotations are local (w, x, y, z) quaternions; L[j] turns joint j's
frame relative to its parent's frame; the rest pose is `skeleton.rest_pose()` built from `TARGET_OFFSETS`
(arms hanging down, head forward, facing +Z, Y up); forward kinematics is

    G[0] = L[0];  G[j] = G[parent] * L[j];  p[j] = p[parent] + rotate(G[parent], offsets[j]).

How each joint's global rotation is found (every joint is exact in its bone direction, so only the two
joints with several children, pelvis and spine3, can leave a position error):

- pelvis, spine3 (several children): a two-vector frame (TRIAD). The first child direction (spine1, neck)
  is matched exactly and the left-minus-right child vector (hips, collars) fixes the rotation about it.
- hips, shoulders: swing onto the knee/elbow; the twist puts the rest bending axis (knee: +X, elbow: -X) on the
  normal of the limb's plane (hip-knee-ankle, shoulder-elbow-wrist) when the limb is bent; while it is straight
  (no plane) the twist relative to the frame carried over from the pelvis/collar is interpolated in time between
  the bent frames around it (a single pose uses the carried frame). Smooth weights keep this continuous.
- spine1, spine2: swing onto the next spine joint, twist interpolated between the pelvis and spine3.
- knees, ankles, elbows, collars, neck: swing onto the child with the least rotation relative to the parent
  (for a hinge whose parent's twist follows the bending plane this is the hinge rotation itself).
- leaves (feet, head, wrists): no child, so they keep their parent's rotation (local identity).

Positions are reproduced by forward kinematics with the motion's own rest offsets, `estimate_offsets(joints)`
(its bone lengths, and where its hips/collars sit around the pelvis/spine3: HumanML3D data do not have them on
the rest pose's X axis). With `TARGET_OFFSETS` the same rotations pose the target skeleton: every single-child
bone keeps its direction, the hips and collars take the rest placement. `rigs.retarget_to_target` keeps all
bone directions instead.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import solve_banded

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.rotations import matrix_to_quat, qbetween, qinv, qmul, qrot, quat_to_matrix
from kinmo_core.motion.skeleton import JOINT_INDEX, NUM_JOINTS, PARENTS, RAW_OFFSETS, TARGET_OFFSETS

_EPS = 1e-9
_J = JOINT_INDEX
_PELVIS, _SPINE1, _SPINE2, _SPINE3, _NECK = _J["pelvis"], _J["spine1"], _J["spine2"], _J["spine3"], _J["neck"]

# Sine of the hinge angle (knee, elbow) below which the bending plane is ignored, and above which it is used alone.
BEND_SIN_LOW: float = 0.10
BEND_SIN_HIGH: float = 0.35
# Weight of frame-to-frame twist changes against following the limb's plane (see _limb_twist).
TWIST_SMOOTHING: float = 0.1


def _as_tensor(x, name: str) -> tuple[torch.Tensor, bool]:
    if isinstance(x, torch.Tensor):
        return x, False
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise KinmoInputError(f"{name} must be a numeric array") from exc
    return torch.from_numpy(np.ascontiguousarray(arr)), True


def _check_joints(joints: torch.Tensor, name: str = "joints") -> None:
    if joints.ndim < 2 or tuple(joints.shape[-2:]) != (NUM_JOINTS, 3):
        raise KinmoInputError(f"{name} must have shape (..., {NUM_JOINTS}, 3), got {tuple(joints.shape)}")
    if not bool(torch.isfinite(joints).all()):
        raise KinmoInputError(f"{name} contain NaN or infinite values")


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(_EPS)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1, keepdim=True)


def _perp(v: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Part of v perpendicular to the unit direction d."""
    return v - _dot(v, d) * d


def _triad(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Orthonormal frame (columns) whose first axis is a and whose second lies in the (a, b) plane."""
    e1 = _unit(a)
    e2 = _unit(_perp(b, e1))
    e3 = torch.cross(e1, e2, dim=-1)
    return torch.stack((e1, e2, e3), dim=-1)


def _smoothstep(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _blend_about(d: torch.Tensor, xa: torch.Tensor, xb: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Turn xa towards xb about the unit axis d by the fraction w of their angle (both perpendicular to d)."""
    angle = torch.atan2(_dot(d, torch.cross(xa, xb, dim=-1)), _dot(xa, xb)) * w
    return xa * torch.cos(angle) + torch.cross(d, xa, dim=-1) * torch.sin(angle)


def _rot_between(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return quat_to_matrix(qbetween(u, v))


def _swing_from_parent(g_parent: torch.Tensor, d_rest: torch.Tensor, d_obs: torch.Tensor) -> torch.Tensor:
    """Global rotation: the parent's, then the least rotation taking the carried rest bone onto the observed one."""
    carried = (g_parent @ d_rest[..., None])[..., 0]
    return _rot_between(carried, d_obs) @ g_parent


def _frame_rotation(d_obs, x_obs, d_rest, x_rest) -> torch.Tensor:
    """Rotation taking the rest pair (d_rest, x_rest) onto the observed pair: exact on d, best fit for x."""
    rest = _triad(d_rest, x_rest)
    return _triad(d_obs, x_obs) @ rest.transpose(-1, -2)


def _check_offsets(offsets: torch.Tensor) -> None:
    if tuple(offsets.shape[-2:]) != (NUM_JOINTS, 3):
        raise KinmoInputError(f"offsets must have shape ({NUM_JOINTS}, 3), got {tuple(offsets.shape)}")
    if not bool(torch.isfinite(offsets).all()):
        raise KinmoInputError("offsets contain NaN or infinite values")
    if bool((offsets[..., 1:, :].norm(dim=-1) < 1e-8).any()):
        raise KinmoInputError("offsets contain a zero-length bone")


def _limb_twist(theta: torch.Tensor, w: torch.Tensor, temporal: bool) -> torch.Tensor:
    """Twist angle (..., T, 1) of a limb about its upper bone, relative to the frame carried over from its parent.

    theta is the twist that puts the bending axis on the limb's plane and w (0..1) how well that plane is defined.
    A single pose takes w * theta. Along time (axis -2) the twist is the smoothest curve that follows theta where
    the limb is bent: it minimises sum w (phi - theta)^2 + TWIST_SMOOTHING * sum (phi[t] - phi[t-1])^2, so while a
    limb is straight (its twist unobservable) the twist moves linearly from the value before to the value after,
    and it never snaps when the limb bends again in another plane. theta is first unwrapped along time.
    """
    if not temporal or theta.shape[-2] < 3:
        return w * theta
    th = theta[..., 0].detach().cpu().numpy().astype(np.float64)
    ww = w[..., 0].detach().cpu().numpy().astype(np.float64)
    lead = th.shape[:-1]
    th = th.reshape(-1, th.shape[-1])
    ww = ww.reshape(-1, ww.shape[-1])
    n = th.shape[-1]
    out = np.empty_like(th)
    lam, eps = TWIST_SMOOTHING, 1e-6
    for b in range(th.shape[0]):
        # Unwrap against a running estimate that only follows well-defined frames.
        ref = 0.0
        unwrapped = np.empty(n)
        for t in range(n):
            unwrapped[t] = ref + (th[b, t] - ref + np.pi) % (2 * np.pi) - np.pi
            ref += ww[b, t] * (unwrapped[t] - ref)
        ab = np.zeros((3, n))
        ab[1] = ww[b] + eps + 2 * lam
        ab[1, 0] -= lam
        ab[1, -1] -= lam
        ab[0, 1:] = -lam
        ab[2, :-1] = -lam
        out[b] = solve_banded((1, 1), ab, ww[b] * unwrapped)
    return torch.from_numpy(out.reshape(lead + (n, 1))).to(dtype=theta.dtype, device=theta.device)


def global_rotations_from_positions(joints, offsets=None, temporal: bool = False):
    """Return (..., 22, 3, 3) global rotation matrices of joint positions (..., 22, 3), analytically.

    With temporal=True axis -3 of `joints` is time and limb twists are kept consistent from frame to frame.
    """
    p, was_numpy = _as_tensor(joints, "joints")
    _check_joints(p)
    off, _ = _as_tensor(TARGET_OFFSETS if offsets is None else offsets, "offsets")
    _check_offsets(off)
    off = off.to(dtype=p.dtype, device=p.device)
    if off.ndim > 2:  # per-sequence offsets broadcast over frames
        off = off.unsqueeze(-3)
    shape = p.shape[:-2]
    dtype = p.dtype

    def rest(j: int) -> torch.Tensor:
        return off[..., j, :].expand(shape + (3,))

    def axis(v) -> torch.Tensor:
        return torch.tensor(v, dtype=dtype, device=p.device).expand(shape + (3,))

    def bone(parent: int, child: int) -> torch.Tensor:
        return p[..., child, :] - p[..., parent, :]

    g: list[torch.Tensor | None] = [None] * NUM_JOINTS
    lh, rh, lc, rc = _J["left_hip"], _J["right_hip"], _J["left_collar"], _J["right_collar"]
    g[_PELVIS] = _frame_rotation(
        bone(_PELVIS, _SPINE1), bone(rh, lh), rest(_SPINE1), rest(lh) - rest(rh)
    )
    g[_SPINE3] = _frame_rotation(bone(_SPINE3, _NECK), bone(rc, lc), rest(_NECK), rest(lc) - rest(rc))

    # Spine1 and spine2: swing onto the spine, twist a third and two thirds of the way from the pelvis to spine3.
    x_axis = axis([1.0, 0.0, 0.0])
    for joint, child, frac in ((_SPINE1, _SPINE2, 1.0 / 3.0), (_SPINE2, _SPINE3, 2.0 / 3.0)):
        d_obs = _unit(bone(joint, child))
        d_rest = _unit(rest(child))
        x_rest = _unit(_perp(x_axis, d_rest))
        xa = _unit(_perp((g[_PELVIS] @ x_rest[..., None])[..., 0], d_obs))
        xb = _unit(_perp((g[_SPINE3] @ x_rest[..., None])[..., 0], d_obs))
        x_obs = _blend_about(d_obs, xa, xb, torch.full(shape + (1,), frac, dtype=dtype, device=p.device))
        g[joint] = _frame_rotation(d_obs, x_obs, d_rest, x_rest)

    # Neck and collars hang off spine3 with the least extra rotation.
    for joint, child in ((_NECK, _J["head"]), (lc, _J["left_shoulder"]), (rc, _J["right_shoulder"])):
        g[joint] = _swing_from_parent(g[_SPINE3], _unit(rest(child)), bone(joint, child))

    # Limbs: the hip/shoulder turns onto the thigh/upper arm; its twist puts the rest bending axis on the normal of
    # the limb's plane when the knee/elbow is bent, and interpolates the twist relative to the frame carried over from
    # the pelvis/collar while the limb is straight (see _limb_twist). Knee/elbow and ankle follow as hinges.
    limbs = (
        ("left", "hip", "knee", "ankle", _PELVIS, 1.0),
        ("right", "hip", "knee", "ankle", _PELVIS, 1.0),
        ("left", "shoulder", "elbow", "wrist", lc, -1.0),
        ("right", "shoulder", "elbow", "wrist", rc, -1.0),
    )
    for side, top_name, mid_name, end_name, parent, bend_sign in limbs:
        top, mid, end = _J[f"{side}_{top_name}"], _J[f"{side}_{mid_name}"], _J[f"{side}_{end_name}"]
        upper, lower = bone(top, mid), bone(mid, end)
        d_obs, d_rest = _unit(upper), _unit(rest(mid))
        # Rest bending axis: +X for knees (the shin swings back), -X for elbows (the forearm swings forward).
        x_rest = _unit(_perp(x_axis * bend_sign, d_rest))
        carried = _swing_from_parent(g[parent], d_rest, d_obs)
        x_fb = _unit(_perp((carried @ x_rest[..., None])[..., 0], d_obs))
        normal = torch.cross(d_obs, _unit(lower), dim=-1)
        w_bend = _smoothstep(normal.norm(dim=-1, keepdim=True), BEND_SIN_LOW, BEND_SIN_HIGH)
        x_bend = _unit(_perp(normal, d_obs))
        theta = torch.atan2(_dot(d_obs, torch.cross(x_fb, x_bend, dim=-1)), _dot(x_fb, x_bend))
        phi = _limb_twist(theta, w_bend, temporal)
        x = x_fb * torch.cos(phi) + torch.cross(d_obs, x_fb, dim=-1) * torch.sin(phi)
        g[top] = _frame_rotation(d_obs, x, d_rest, x_rest)
        g[mid] = _swing_from_parent(g[top], _unit(rest(end)), lower)
        if top_name == "hip":
            foot = _J[f"{side}_foot"]
            g[end] = _swing_from_parent(g[mid], _unit(rest(foot)), bone(end, foot))
            g[foot] = g[end]
        else:
            g[end] = g[mid]
    g[_J["head"]] = g[_NECK]

    out = torch.stack(g, dim=-3)
    return out.numpy() if was_numpy else out


def _fix_time_signs(q: torch.Tensor) -> torch.Tensor:
    """Flip quaternion signs along the time axis (-3) so consecutive frames lie in the same hemisphere."""
    if q.shape[-3] < 2:
        return q
    dots = (q[..., 1:, :, :] * q[..., :-1, :, :]).sum(-1)
    flips = torch.cumsum((dots < 0).to(torch.int64), dim=-2) % 2
    sign = torch.cat((torch.zeros_like(flips[..., :1, :]), flips), dim=-2)
    return torch.where(sign[..., None].bool(), -q, q)


def local_from_global(global_quats):
    """Return local rotations (..., 22, 4) from global ones (..., 22, 4) on the 22-joint tree."""
    g, was_numpy = _as_tensor(global_quats, "rotations")
    parents = list(PARENTS)
    parents[0] = 0
    gp = g[..., parents, :]
    local = qmul(qinv(gp), g)
    local = torch.cat((g[..., :1, :], local[..., 1:, :]), dim=-2)
    return local.numpy() if was_numpy else local


def positions_to_rotations(joints, offsets=None):
    """Return local wxyz rotations (..., T, 22, 4), continuous in time, of joint positions (..., T, 22, 3)."""
    p, was_numpy = _as_tensor(joints, "joints")
    _check_joints(p)
    if p.ndim < 3:
        raise KinmoInputError(f"joints must have shape (..., T, {NUM_JOINTS}, 3), got {tuple(p.shape)}")
    if offsets is not None and not isinstance(offsets, torch.Tensor):
        offsets = torch.from_numpy(np.asarray(offsets, dtype=np.float64)).to(dtype=p.dtype, device=p.device)
    mats = global_rotations_from_positions(p, offsets, temporal=True)
    local = local_from_global(matrix_to_quat(mats))
    local = _fix_time_signs(local)
    return local.numpy() if was_numpy else local


def forward_kinematics(rotations, root_translation, offsets=None):
    """Return joint positions (..., 22, 3) from local wxyz rotations (..., 22, 4), root positions (..., 3), offsets."""
    q, was_numpy = _as_tensor(rotations, "rotations")
    root, _ = _as_tensor(root_translation, "root_translation")
    if q.ndim < 2 or tuple(q.shape[-2:]) != (NUM_JOINTS, 4):
        raise KinmoInputError(f"rotations must have shape (..., {NUM_JOINTS}, 4), got {tuple(q.shape)}")
    if tuple(root.shape) != tuple(q.shape[:-2]) + (3,):
        raise KinmoInputError(f"root_translation must have shape {tuple(q.shape[:-2]) + (3,)}, got {tuple(root.shape)}")
    off, _ = _as_tensor(TARGET_OFFSETS if offsets is None else offsets, "offsets")
    _check_offsets(off)
    root = root.to(dtype=q.dtype, device=q.device)
    off = off.to(dtype=q.dtype, device=q.device)
    if off.ndim > 2:
        off = off.unsqueeze(-3)
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    g: list[torch.Tensor] = [q[..., 0, :]]
    pos: list[torch.Tensor] = [root]
    for j in range(1, NUM_JOINTS):
        par = PARENTS[j]
        pos.append(pos[par] + qrot(g[par], off[..., j, :].expand_as(root)))
        g.append(qmul(g[par], q[..., j, :]))
    out = torch.stack(pos, dim=-2)
    return out.numpy() if was_numpy else out


def global_rotations(rotations):
    """Return global wxyz rotations (..., 22, 4) from local ones (..., 22, 4) on the 22-joint tree."""
    q, was_numpy = _as_tensor(rotations, "rotations")
    g: list[torch.Tensor] = [q[..., 0, :]]
    for j in range(1, NUM_JOINTS):
        g.append(qmul(g[PARENTS[j]], q[..., j, :]))
    out = torch.stack(g, dim=-2)
    return out.numpy() if was_numpy else out


def estimate_offsets(joints):
    """Return the (..., 22, 3) rest offsets of a motion (..., T, 22, 3): its own proportions, the target's rest frame.

    Single-child bones keep the target's rest direction with the motion's median length; the children of the pelvis
    and of spine3 keep their mean placement in the frame that `positions_to_rotations` gives those two joints, so
    forward kinematics with these offsets reproduces any rig whose hips/spine and collars/neck are rigidly attached.
    """
    p, was_numpy = _as_tensor(joints, "joints")
    _check_joints(p)
    if p.ndim < 3:
        raise KinmoInputError(f"joints must have shape (..., T, {NUM_JOINTS}, 3), got {tuple(p.shape)}")
    parents = list(PARENTS)
    parents[0] = 0
    lengths = (p - p[..., parents, :]).norm(dim=-1).median(dim=-2).values  # (..., 22)
    raw = torch.from_numpy(RAW_OFFSETS).to(dtype=p.dtype, device=p.device)
    off = raw * lengths[..., None]
    off[..., 0, :] = 0.0
    mats = global_rotations_from_positions(p)
    multi = ((_PELVIS, ("left_hip", "right_hip", "spine1")), (_SPINE3, ("left_collar", "right_collar", "neck")))
    for parent, kids in multi:
        inv = mats[..., parent, :, :].transpose(-1, -2)
        for name in kids:
            c = _J[name]
            local = (inv @ (p[..., c, :] - p[..., parent, :])[..., None])[..., 0]
            off[..., c, :] = local.mean(dim=-2)
    return off.numpy() if was_numpy else off


def mpjpe(a, b) -> float:
    """Return the mean per-joint position error between two (..., 22, 3) arrays, in their units."""
    ta, _ = _as_tensor(a, "a")
    tb, _ = _as_tensor(b, "b")
    return float((ta - tb.to(ta.dtype)).norm(dim=-1).mean())
