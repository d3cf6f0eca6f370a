"""Retargeting math of the KinMo add-on: numpy only, no bpy, so it is testable without Blender.

Conventions. KinMo motion space: y up, the body faces +z at rest, its left is +x, metres, 20 fps. Quaternions are
(w, x, y, z). A target rig is described by `RigSpec` (armature space, Blender's bone conventions): for each bone its
parent, rest head and rest rotation (`bone.matrix_local`). A pose bone's local rotation L gives its armature-space
rotation R = R_parent @ R_rest_parent^-1 @ R_rest @ L, which is what `local_from_global` inverts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from . import smpl22 as S

# ---------------------------------------------------------------------------------------------------- quaternions


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
    u = _unit(u)
    v = _unit(v)
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
        xyz[flip] = _unit(np.cross(uf, helper))
        w[flip] = 0.0
    return qnormalize(np.concatenate((w, xyz), axis=-1))


def quat_from_axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Return unit quaternions rotating by `angle` radians about unit `axis`."""
    angle = np.asarray(angle, dtype=np.float64)[..., None]
    return np.concatenate((np.cos(angle / 2), np.sin(angle / 2) * _unit(axis)), axis=-1)


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
    c = np.sum(_unit(u) * _unit(v), axis=-1)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


# ---------------------------------------------------------------------------------------------------- source side

KINMO_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""KinMo axes (y up, facing +z) to Blender's (z up, a character faces -y); the body's left stays +x."""


@dataclass
class SourceMotion:
    """A KinMo motion as read from the .npz contract: joints (T,22,3), local rotations (T,22,4), offsets (22,3)."""

    joints: np.ndarray
    rotations: np.ndarray
    offsets: np.ndarray
    fps: float = float(S.FPS)
    text: str = ""
    joint_names: tuple[str, ...] = S.JOINT_NAMES
    parents: tuple[int, ...] = S.PARENTS

    def rest_positions(self) -> np.ndarray:
        """Return the (22, 3) rest joint positions of the source skeleton (the root at the origin)."""
        p = np.zeros((len(self.parents), 3))
        for j, par in enumerate(self.parents):
            if par >= 0:
                p[j] = p[par] + self.offsets[j]
        return p


class MotionFileError(ValueError):
    """A motion file that does not follow the KinMo .npz contract; the message is one line for the UI."""


def load_motion_npz(path: str) -> SourceMotion:
    """Read a KinMo .npz motion file with numpy alone and check its shapes (MotionFileError when it is wrong)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise MotionFileError(f"motion file not found: {path}") from None
    except Exception as exc:  # zip/pickle/format errors all mean "not a KinMo motion file"
        raise MotionFileError(f"cannot read {path} as a KinMo .npz motion file ({type(exc).__name__})") from None
    return motion_from_fields(fields, path)


def motion_from_fields(fields: dict, where: str = "motion") -> SourceMotion:
    """Build a SourceMotion from contract fields (arrays or nested lists), checking names, shapes and values."""
    missing = [k for k in ("joints", "rotations") if k not in fields]
    if missing:
        raise MotionFileError(f"{where} lacks the field(s) {', '.join(missing)} of the KinMo motion contract")
    joints = np.asarray(fields["joints"], dtype=np.float64)
    rotations = np.asarray(fields["rotations"], dtype=np.float64)
    nj = len(S.JOINT_NAMES)
    if joints.ndim != 3 or joints.shape[1:] != (nj, 3) or joints.shape[0] < 1:
        raise MotionFileError(f"{where}: joints must have shape (T, {nj}, 3), got {tuple(joints.shape)}")
    if rotations.shape != joints.shape[:2] + (4,):
        raise MotionFileError(f"{where}: rotations must have shape {joints.shape[:2] + (4,)}, got {rotations.shape}")
    if not (np.isfinite(joints).all() and np.isfinite(rotations).all()):
        raise MotionFileError(f"{where}: joints or rotations contain NaN or infinite values")
    if "joint_names" in fields:
        names = tuple(str(n) for n in np.asarray(fields["joint_names"]).tolist())
        if names != S.JOINT_NAMES:
            raise MotionFileError(f"{where}: joint_names are not the SMPL-22 joints KinMo writes")
    if "parents" in fields and tuple(int(p) for p in np.asarray(fields["parents"]).tolist()) != S.PARENTS:
        raise MotionFileError(f"{where}: parents are not the SMPL-22 hierarchy")
    if "offsets" in fields:
        offsets = np.asarray(fields["offsets"], dtype=np.float64)
        if offsets.shape != (nj, 3) or not np.isfinite(offsets).all():
            raise MotionFileError(f"{where}: offsets must have shape ({nj}, 3), got {offsets.shape}")
    else:
        offsets = default_offsets()
    fps = float(np.asarray(fields.get("fps", S.FPS)))
    if not fps > 0:
        raise MotionFileError(f"{where}: fps must be positive, got {fps}")
    text = str(np.asarray(fields.get("text", "")).tolist()) if "text" in fields else ""
    return SourceMotion(joints, qnormalize(rotations), offsets, fps, text)


def default_offsets() -> np.ndarray:
    """Return the (22, 3) rest offsets of KinMo's target skeleton (HumanML3D rest: arms down, facing +z)."""
    raw = {
        0: (0, 0, 0), 1: (1, 0, 0), 2: (-1, 0, 0), 3: (0, 1, 0), 4: (0, -1, 0), 5: (0, -1, 0), 6: (0, 1, 0),
        7: (0, -1, 0), 8: (0, -1, 0), 9: (0, 1, 0), 10: (0, 0, 1), 11: (0, 0, 1), 12: (0, 1, 0), 13: (1, 0, 0),
        14: (-1, 0, 0), 15: (0, 0, 1),
    }  # fmt: skip
    dirs = np.array([raw.get(j, (0, -1, 0)) for j in range(len(S.JOINT_NAMES))], dtype=np.float64)
    return dirs * np.array(S.BONE_LENGTHS)[:, None]


def forward_kinematics_rotations(local: np.ndarray, parents=S.PARENTS) -> np.ndarray:
    """Return global rotations (..., J, 4) from local ones in the standard convention G[j] = G[parent] * L[j]."""
    glob = np.empty_like(np.asarray(local, dtype=np.float64))
    for j, p in enumerate(parents):
        glob[..., j, :] = local[..., j, :] if p < 0 else qmul(glob[..., p, :], local[..., j, :])
    return glob


def foot_contacts(joints: np.ndarray) -> np.ndarray:
    """Return (T, 4) booleans for left ankle, left foot, right ankle, right foot by HumanML3D's velocity rule."""
    feet = np.asarray(S.LEFT_FOOT_JOINTS + S.RIGHT_FOOT_JOINTS)
    disp = np.sum(np.diff(joints[:, feet], axis=0) ** 2, axis=-1)
    contact = disp < S.FOOT_CONTACT_VELOCITY_THRESHOLD
    # The last frame repeats its neighbour, as the features (which have T-1 frames) imply.
    return np.concatenate((contact, contact[-1:]), axis=0) if len(contact) else np.zeros((1, 4), dtype=bool)


def resample(motion: SourceMotion, fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample joints (linear) and local rotations (slerp) to `fps`; return (joints, rotations, source_times)."""
    t_count = motion.joints.shape[0]
    duration = (t_count - 1) / motion.fps
    n = int(np.floor(duration * fps + 1e-6)) + 1
    pos = np.arange(n) * (motion.fps / fps)
    lo = np.clip(np.floor(pos).astype(int), 0, t_count - 1)
    hi = np.clip(lo + 1, 0, t_count - 1)
    frac = pos - lo
    joints = motion.joints[lo] * (1 - frac)[:, None, None] + motion.joints[hi] * frac[:, None, None]
    rotations = qslerp(motion.rotations[lo], motion.rotations[hi], np.broadcast_to(frac[:, None], lo.shape + (22,)))
    return joints, rotations, pos


# ---------------------------------------------------------------------------------------------------- target side


@dataclass
class RigSpec:
    """A target armature without bpy: bone names, parent indices (-1 for roots), rest heads and rest rotations.

    Bones must be listed parents first (Blender's `armature.bones` order is; `from_unordered` sorts otherwise).
    Rest values are in armature space, as `bone.head_local` and the rotation part of `bone.matrix_local`.
    """

    names: list[str]
    parents: list[int]
    rest_heads: np.ndarray
    rest_rotations: np.ndarray
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.rest_heads = np.asarray(self.rest_heads, dtype=np.float64)
        self.rest_rotations = qnormalize(self.rest_rotations)
        self.index = {n: i for i, n in enumerate(self.names)}
        for i, p in enumerate(self.parents):
            if p >= i:
                raise ValueError("RigSpec bones must be listed parents first")

    @classmethod
    def from_unordered(cls, names, parent_names, rest_heads, rest_rotations) -> RigSpec:
        """Build a RigSpec from bones in any order (parent_names[i] is None for roots), sorting parents first."""
        pos = {n: i for i, n in enumerate(names)}
        order: list[int] = []
        seen: set[int] = set()

        def visit(i: int) -> None:
            if i in seen:
                return
            par = parent_names[i]
            if par is not None:
                visit(pos[par])
            seen.add(i)
            order.append(i)

        for i in range(len(names)):
            visit(i)
        new_index = {old: k for k, old in enumerate(order)}
        parents = [-1 if parent_names[i] is None else new_index[pos[parent_names[i]]] for i in order]
        heads = np.asarray(rest_heads, dtype=np.float64)[order]
        rots = np.asarray(rest_rotations, dtype=np.float64)[order]
        return cls([names[i] for i in order], parents, heads, rots)

    def children(self, i: int) -> list[int]:
        """Return the indices of the bones whose parent is bone i."""
        return [c for c, p in enumerate(self.parents) if p == i]

    def is_ancestor(self, a: int, b: int) -> bool:
        """Return True when bone a is a (strict) ancestor of bone b."""
        p = self.parents[b]
        while p >= 0:
            if p == a:
                return True
            p = self.parents[p]
        return False

    def depth(self, i: int) -> int:
        """Return the number of ancestors of bone i."""
        d, p = 0, self.parents[i]
        while p >= 0:
            d, p = d + 1, self.parents[p]
        return d


def global_from_local(rig: RigSpec, local: np.ndarray) -> np.ndarray:
    """Return armature-space pose rotations (T, B, 4) from pose-bone local rotations (T, B, 4)."""
    rest = rig.rest_rotations
    out = np.empty_like(local)
    for b, p in enumerate(rig.parents):
        if p < 0:
            out[:, b] = qmul(rest[b], local[:, b])
        else:
            out[:, b] = qmul(qmul(out[:, p], qmul(qinv(rest[p]), rest[b])), local[:, b])
    return out


def local_from_global(rig: RigSpec, glob: np.ndarray) -> np.ndarray:
    """Return pose-bone local rotations (T, B, 4) from armature-space pose rotations (T, B, 4)."""
    rest = rig.rest_rotations
    out = np.empty_like(glob)
    for b, p in enumerate(rig.parents):
        parent_frame = rest[b] if p < 0 else qmul(glob[:, p], qmul(qinv(rest[p]), rest[b]))
        out[:, b] = qmul(qinv(parent_frame), glob[:, b])
    return out


def pose_heads(rig: RigSpec, glob: np.ndarray, locations: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Return armature-space bone heads (T, B, 3) for pose rotations `glob` and pose locations of some bones."""
    locations = locations or {}
    t_count = glob.shape[0]
    heads = np.empty((t_count, len(rig.names), 3))
    rest_r, rest_h = rig.rest_rotations, rig.rest_heads
    for b, p in enumerate(rig.parents):
        loc = locations.get(b)
        if p < 0:
            heads[:, b] = rest_h[b] + (qrot(rest_r[b], loc) if loc is not None else 0.0)
        else:
            frame = qmul(glob[:, p], qinv(rest_r[p]))
            rel = rest_h[b] - rest_h[p]
            if loc is not None:
                rel = rel + qrot(rest_r[b], loc)
            heads[:, b] = heads[:, p] + qrot(frame, np.broadcast_to(rel, (t_count, 3)))
    return heads


# ---------------------------------------------------------------------------------------------------- bone maps

BONE_MAP_PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "SMPL": {n: (n,) for n in S.JOINT_NAMES},
    "SMPL_FBX": {
        n: (f"m_avg_{b}", f"f_avg_{b}", b)
        for n, b in zip(
            S.JOINT_NAMES,
            ("Pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle", "Spine3",
             "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder", "L_Elbow",
             "R_Elbow", "L_Wrist", "R_Wrist"),
            strict=True,
        )
    },  # fmt: skip
    "MIXAMO": {
        n: (f"mixamorig:{b}", b)
        for n, b in zip(
            S.JOINT_NAMES,
            ("Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot",
             "Spine2", "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm",
             "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand"),
            strict=True,
        )
    },  # fmt: skip
    "RIGIFY": {
        n: (b,)
        for n, b in zip(
            S.JOINT_NAMES,
            ("DEF-spine", "DEF-thigh.L", "DEF-thigh.R", "DEF-spine.001", "DEF-shin.L", "DEF-shin.R", "DEF-spine.002",
             "DEF-foot.L", "DEF-foot.R", "DEF-spine.003", "DEF-toe.L", "DEF-toe.R", "DEF-spine.004",
             "DEF-shoulder.L", "DEF-shoulder.R", "DEF-spine.006", "DEF-upper_arm.L", "DEF-upper_arm.R",
             "DEF-forearm.L", "DEF-forearm.R", "DEF-hand.L", "DEF-hand.R"),
            strict=True,
        )
    },  # fmt: skip
    "BANDAI_NAMCO": {
        "pelvis": ("Hips",), "spine1": ("Spine",), "spine3": ("Chest",), "neck": ("Neck",), "head": ("Head",),
        **{
            f"{side}_{j}": (f"{b}_{s}",)
            for side, s in (("left", "L"), ("right", "R"))
            for j, b in (("hip", "UpperLeg"), ("knee", "LowerLeg"), ("ankle", "Foot"), ("foot", "Toes"),
                         ("collar", "Shoulder"), ("shoulder", "UpperArm"), ("elbow", "LowerArm"), ("wrist", "Hand"))
        },
    },  # fmt: skip
    "CMU": {
        "pelvis": ("Hips",), "spine1": ("LowerBack",), "spine2": ("Spine",), "spine3": ("Spine1",),
        "neck": ("Neck",), "head": ("Head",),
        **{
            f"{side}_{j}": (f"{s}{b}",)
            for side, s in (("left", "Left"), ("right", "Right"))
            for j, b in (("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("foot", "ToeBase"),
                         ("collar", "Shoulder"), ("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"))
        },
    },  # fmt: skip
}
"""Bone names per SMPL-22 joint for common rigs: the first name an armature has wins. SMPL covers the SMPL-X add-on
(its bones use the SMPL joint names); SMPL_FBX covers the m_avg_/f_avg_ FBX rigs."""

PRESET_TITLES: dict[str, str] = {
    "SMPL": "SMPL / SMPL-X add-on",
    "SMPL_FBX": "SMPL FBX (m_avg_, f_avg_)",
    "MIXAMO": "Mixamo",
    "RIGIFY": "Rigify DEF bones",
    "BANDAI_NAMCO": "Bandai-Namco BVH",
    "CMU": "CMU BVH",
}


def _strip_namespace(name: str) -> str:
    return re.split(r"[:|]", name)[-1]


def preset_map(preset: str, bone_names: list[str]) -> dict[str, str]:
    """Return the joint -> bone map a preset gives on an armature (namespaced names like 'mixamorig1:Hips' match)."""
    table = BONE_MAP_PRESETS[preset]
    exact = set(bone_names)
    stripped: dict[str, str] = {}
    for b in bone_names:
        stripped.setdefault(_strip_namespace(b), b)
    out = {}
    for joint, candidates in table.items():
        for c in candidates:
            if c in exact:
                out[joint] = c
                break
            if _strip_namespace(c) in stripped:
                out[joint] = stripped[_strip_namespace(c)]
                break
    return out


_SIDE_TOKENS = {"left": "left", "l": "left", "lf": "left", "right": "right", "r": "right", "rt": "right"}
_DROP_TOKENS = {"def", "org", "mch", "bip", "bip01", "bip001", "mixamorig", "jnt", "joint", "bn", "bone", "c", "m"}
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "pelvis": ("pelvis", "hips", "hip", "root"),
    "neck": ("neck", "neck1", "neck0"),
    "head": ("head",),
    "collar": ("clavicle", "collar", "collarbone", "shoulder", "clav"),
    "shoulder": ("upperarm", "uparm", "arm", "shoulder"),
    "elbow": ("forearm", "lowerarm", "elbow", "loarm"),
    "wrist": ("hand", "wrist"),
    "hip": ("upleg", "thigh", "upperleg", "hip", "uprleg"),
    "knee": ("leg", "shin", "calf", "knee", "lowerleg", "loleg"),
    "ankle": ("foot", "ankle"),
    "foot": ("toe", "toes", "toebase", "ball"),
}
_SPINE_WORDS = ("spine", "chest", "back", "torso", "abdomen", "lowerback", "upperchest", "spine1", "spine2", "spine3")


def _tokens(name: str) -> tuple[str | None, str, int]:
    """Split a bone name into (side, stem, number): 'mixamorig:LeftUpLeg' -> ('left', 'upleg', 0)."""
    base = _strip_namespace(name)
    base = re.sub(r"([a-z])([A-Z])", r"\1 \2", base)
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", base) if p]
    side = None
    rest = []
    for p in parts:
        low = p.lower()
        if low in _SIDE_TOKENS and side is None:
            side = _SIDE_TOKENS[low]
            continue
        if low in _DROP_TOKENS:
            continue
        rest.append(low)
    # A trailing number part ('thigh.L.001', 'neck_01') marks a segment: kept out of the stem, ranked after bare names.
    number = 0
    while rest and rest[-1].isdigit():
        number = int(rest.pop()) or number
    return side, "".join(rest), number


def auto_bone_map(rig: RigSpec) -> tuple[dict[str, str], str]:
    """Detect a joint -> bone map: the best-covering preset, else name keywords checked against the hierarchy.

    Returns (map, how) where how names the preset or 'names'. A map is only kept where every mapped bone lies below
    the bone of its nearest mapped SMPL ancestor, so a wrongly named bone cannot break the chain.
    """
    best, best_name = {}, ""
    for preset in BONE_MAP_PRESETS:
        m = validate_bone_map(rig, preset_map(preset, rig.names))
        if len(m) > len(best):
            best, best_name = m, preset
    if len(best) >= 14:
        return best, best_name
    guess = validate_bone_map(rig, _keyword_map(rig))
    if len(guess) > len(best):
        return guess, "names"
    return best, best_name


def _keyword_map(rig: RigSpec) -> dict[str, str]:
    info = [_tokens(n) for n in rig.names]
    out: dict[str, str] = {}

    def pick(kind: str, side: str | None, below: str | None = None) -> str | None:
        anchor = rig.index.get(out[below]) if below and below in out else None
        found = []
        for i, (s, stem, numbered) in enumerate(info):
            if s != side or stem not in _KEYWORDS[kind]:
                continue
            if anchor is not None and not rig.is_ancestor(anchor, i):
                continue
            if rig.names[i] in out.values():
                continue
            found.append((numbered, _KEYWORDS[kind].index(stem), rig.depth(i), i))
        return rig.names[min(found)[3]] if found else None

    pelvis = pick("pelvis", None)
    if pelvis:
        out["pelvis"] = pelvis
    # Spine: the unsided spine-like bones between the pelvis and the neck, in hierarchy order.
    neck = pick("neck", None, "pelvis")
    if neck:
        out["neck"] = neck
    head = pick("head", None, "neck" if neck else "pelvis")
    if head:
        out["head"] = head
    spine = []
    if pelvis and neck:
        b = rig.parents[rig.index[neck]]
        while b >= 0 and rig.names[b] != pelvis:
            s, stem, _ = info[b]
            if s is None and any(stem.startswith(w) for w in _SPINE_WORDS):
                spine.append(rig.names[b])
            b = rig.parents[b]
        spine.reverse()
    if spine:
        out["spine1"] = spine[0]
        out["spine3"] = spine[-1] if len(spine) > 1 else spine[0]
        if len(spine) >= 3:
            out["spine2"] = spine[len(spine) // 2]
        if len(spine) == 1:
            del out["spine3"]
    for side in ("left", "right"):
        for kind, parent_kind in (("hip", "pelvis"), ("knee", "hip"), ("ankle", "knee"), ("foot", "ankle")):
            b = pick(kind, side, f"{side}_{parent_kind}" if parent_kind != "pelvis" else "pelvis")
            if b:
                out[f"{side}_{kind}"] = b
        arm_anchor = "spine3" if "spine3" in out else ("spine1" if "spine1" in out else "pelvis")
        collar = pick("collar", side, arm_anchor)
        if collar:
            out[f"{side}_collar"] = collar
        for kind, parent_kind in (("shoulder", "collar"), ("elbow", "shoulder"), ("wrist", "elbow")):
            anchor = f"{side}_{parent_kind}" if f"{side}_{parent_kind}" in out else arm_anchor
            b = pick(kind, side, anchor)
            if b:
                out[f"{side}_{kind}"] = b
        # A lone 'shoulder' bone with an upper-arm below it is the collar; with none it is the upper arm.
        if f"{side}_collar" in out and f"{side}_shoulder" not in out:
            out[f"{side}_shoulder"] = out.pop(f"{side}_collar")
    return out


def validate_bone_map(rig: RigSpec, bone_map: dict[str, str]) -> dict[str, str]:
    """Return the entries of a bone map that name existing, distinct bones consistent with the SMPL hierarchy."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for j, joint in enumerate(S.JOINT_NAMES):  # parents come first in SMPL order
        bone = bone_map.get(joint)
        if not bone or bone not in rig.index or bone in used:
            continue
        p = S.PARENTS[j]
        while p >= 0 and S.JOINT_NAMES[p] not in out:
            p = S.PARENTS[p]
        if p >= 0 and not rig.is_ancestor(rig.index[out[S.JOINT_NAMES[p]]], rig.index[bone]):
            continue
        out[joint] = bone
        used.add(bone)
    return out


# ---------------------------------------------------------------------------------------------------- retargeting


@dataclass
class RetargetResult:
    """Keys to bake: local rotations per mapped bone, the root bone's locations, and quality figures."""

    frames: int
    rotations: dict[str, np.ndarray]
    root_bone: str | None
    root_locations: np.ndarray | None
    scale: float
    basis: np.ndarray
    contacts: np.ndarray
    foot_skate: dict[str, float]
    source_joints: np.ndarray
    global_rotations: np.ndarray
    heads: np.ndarray


def facing_basis(rig: RigSpec, bone_map: dict[str, str], object_rotation: np.ndarray | None = None) -> np.ndarray:
    """Return the 3x3 map from KinMo axes to armature space for a rig.

    The motion faces the rig's own rest facing when the rig stands upright in its rest pose (spine within 30 degrees
    of world up); otherwise (BVH rigs whose rest pose lies flat) it faces Blender's front, -y in the world.
    """
    world_from_arm = np.eye(3) if object_rotation is None else np.asarray(object_rotation, dtype=np.float64)
    basis = KINMO_TO_BLENDER.copy()
    need = ("pelvis", "left_hip", "right_hip")
    top = next((j for j in ("neck", "spine3", "head", "spine2") if j in bone_map), None)
    if top and all(j in bone_map for j in need):
        h = {j: world_from_arm @ rig.rest_heads[rig.index[bone_map[j]]] for j in need + (top,)}
        up = _unit(h[top] - h["pelvis"])
        left = h["left_hip"] - h["right_hip"]
        if up[2] > np.cos(np.radians(30)) and np.linalg.norm(left) > 1e-9:
            fwd = np.cross(left, up)
            fwd[2] = 0.0
            if np.linalg.norm(fwd) > 1e-9:
                fwd = _unit(fwd)
                yaw = np.arctan2(fwd[1], fwd[0]) - np.arctan2(-1.0, 0.0)
                c, s = np.cos(yaw), np.sin(yaw)
                basis = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ basis
    return world_from_arm.T @ basis


def _leg_length(points: dict[str, np.ndarray]) -> float | None:
    lengths = []
    for s in ("left", "right"):
        chain = [points.get(f"{s}_{j}") for j in ("hip", "knee", "ankle")]
        if all(p is not None for p in chain):
            lengths.append(np.linalg.norm(chain[1] - chain[0]) + np.linalg.norm(chain[2] - chain[1]))
    return float(np.mean(lengths)) if lengths else None


def retarget(
    motion: SourceMotion,
    rig: RigSpec,
    bone_map: dict[str, str],
    basis: np.ndarray,
    fps: float = float(S.FPS),
    foot_cleanup: bool = False,
) -> RetargetResult:
    """Solve pose-bone keys that make the mapped bones point where the source's bones point, at `fps`.

    For each mapped joint j aiming at the next mapped joint a of its chain, the bone's armature-space pose rotation is
    C q_j(t) A_j C^-1 R_rest: A_j turns the rig's rest direction j->a onto the source's rest direction (rest-pose
    alignment, T- or A-pose), q_j(t) is the source's global rotation corrected so that it takes the source rest
    direction exactly onto the source's j->a direction at time t. Unmapped bones keep their rest pose relative to
    their parents, so chains with extra bones stay rigid between mapped ones. The root moves by the source root
    motion scaled by the leg-length ratio.
    """
    bone_map = validate_bone_map(rig, bone_map)
    if not bone_map:
        raise ValueError("no bone of the armature maps to a SMPL-22 joint")
    basis = np.asarray(basis, dtype=np.float64)
    q_basis = matrix_to_quat(basis)
    joints, local_src, _ = resample(motion, fps)
    contacts_src = foot_contacts(motion.joints)
    idx = np.clip(np.round(np.arange(joints.shape[0]) * motion.fps / fps).astype(int), 0, len(contacts_src) - 1)
    contacts = contacts_src[idx]
    glob_src = forward_kinematics_rotations(local_src)
    rest_src = motion.rest_positions()
    t_count = joints.shape[0]
    mapped = {S.JOINT_INDEX[j]: rig.index[b] for j, b in bone_map.items()}

    align: dict[int, np.ndarray] = {}
    correct: dict[int, np.ndarray] = {}
    deltas: dict[int, np.ndarray] = {}
    for j in sorted(mapped):
        name = S.JOINT_NAMES[j]
        aim = next((S.JOINT_INDEX[a] for a in S.AIM_CHAINS.get(name, ()) if S.JOINT_INDEX[a] in mapped), None)
        if aim is None:
            # A leaf takes the alignment and correction of its nearest mapped ancestor: in both rigs it continues
            # that bone's frame, so a leaf without source motion of its own keeps its rest pose relative to it.
            p = S.PARENTS[j]
            while p >= 0 and p not in align:
                p = S.PARENTS[p]
            align[j] = align[p] if p >= 0 else np.array([1.0, 0.0, 0.0, 0.0])
            correct[j] = correct[p] if p >= 0 else np.tile([1.0, 0.0, 0.0, 0.0], (t_count, 1))
        else:
            r_src = rest_src[aim] - rest_src[j]
            r_tgt = basis.T @ (rig.rest_heads[mapped[aim]] - rig.rest_heads[mapped[j]])
            align[j] = qbetween(r_tgt, r_src)
            d_true = joints[:, aim] - joints[:, j]
            d_pred = qrot(glob_src[:, j], np.broadcast_to(r_src, (t_count, 3)))
            correct[j] = qbetween(d_pred, d_true)
        q = qmul(correct[j], glob_src[:, j])
        deltas[mapped[j]] = qmul(qmul(q_basis, qmul(q, align[j])), qinv(q_basis))

    glob = _propagate(rig, deltas, t_count)

    # Root motion, scaled by the ratio of leg lengths (hip-knee-ankle) so steps cover the ground the legs can.
    tgt_pts = {j: rig.rest_heads[rig.index[b]] for j, b in bone_map.items()}
    src_pts = {n: rest_src[S.JOINT_INDEX[n]] for n in S.JOINT_NAMES}
    tgt_leg, src_leg = _leg_length(tgt_pts), _leg_length(src_pts)
    if tgt_leg and src_leg:
        scale = tgt_leg / src_leg
    else:
        spread = np.ptp(rig.rest_heads, axis=0).max() if len(rig.names) > 1 else 1.0
        scale = float(spread / max(np.ptp(rest_src, axis=0).max(), 1e-9))
    root_bone = bone_map.get("pelvis")
    root_loc = None
    locations: dict[int, np.ndarray] = {}
    if root_bone is not None:
        rb = rig.index[root_bone]
        feet = [S.JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
        rest_height = rest_src[0, 1] - rest_src[feet, 1].min()  # pelvis above the lowest foot joint at rest
        delta = joints[:, 0] - np.array([joints[0, 0, 0], rest_height, joints[0, 0, 2]])
        target = rig.rest_heads[rb] + (basis @ (scale * delta).T).T
        root_loc = _root_location(rig, glob, rb, target)
        locations[rb] = root_loc

    if foot_cleanup:
        glob = _clean_feet(rig, bone_map, glob, locations, contacts, basis, joints, scale, fps)

    local = qcontinuous(local_from_global(rig, glob))
    heads = pose_heads(rig, glob, locations)
    skate = foot_skate(rig, bone_map, heads, contacts, fps, scale, basis)
    skate.update({f"source_{k}": v for k, v in _source_skate(joints, contacts, fps).items()})
    rotations = {rig.names[b]: local[:, b] for b in mapped.values()}
    return RetargetResult(
        t_count, rotations, root_bone, root_loc, float(scale), basis, contacts, skate, joints, glob, heads
    )


def _propagate(rig: RigSpec, deltas: dict[int, np.ndarray], t_count: int) -> np.ndarray:
    """Armature-space pose rotations: mapped bones take delta * rest; others follow their parents rigidly."""
    rest = rig.rest_rotations
    glob = np.empty((t_count, len(rig.names), 4))
    for b, p in enumerate(rig.parents):
        if b in deltas:
            glob[:, b] = qmul(deltas[b], rest[b])
        elif p < 0:
            glob[:, b] = rest[b]
        else:
            glob[:, b] = qmul(glob[:, p], qmul(qinv(rest[p]), rest[b]))
    return glob


def _root_location(rig: RigSpec, glob: np.ndarray, b: int, target: np.ndarray) -> np.ndarray:
    """Pose location (bone rest frame) that puts bone b's head at `target`, its ancestors posed as in `glob`."""
    p = rig.parents[b]
    rest_r, rest_h = rig.rest_rotations, rig.rest_heads
    if p < 0:
        return qrot(qinv(rest_r[b]), target - rest_h[b])
    heads = pose_heads(rig, glob)
    frame = qmul(glob[:, p], qinv(rest_r[p]))
    rel = qrot(qinv(frame), target - heads[:, p]) - (rest_h[b] - rest_h[p])
    return qrot(qinv(rest_r[b]), rel)


def _clean_feet(
    rig: RigSpec,
    bone_map: dict[str, str],
    glob: np.ndarray,
    locations: dict[int, np.ndarray],
    contacts: np.ndarray,
    basis: np.ndarray,
    source_joints: np.ndarray,
    scale: float,
    fps: float,
) -> np.ndarray:
    """Keep each ankle from sliding while its foot is in contact, by two-bone IK on hip and knee."""
    up = basis @ np.array([0.0, 1.0, 0.0])
    lateral = basis @ np.array([1.0, 0.0, 0.0])
    glob = glob.copy()
    for col, side in ((0, "left"), (2, "right")):
        names = [bone_map.get(f"{side}_{j}") for j in ("hip", "knee", "ankle")]
        if any(n is None for n in names):
            continue
        bh, bk, ba = (rig.index[n] for n in names)
        heads = pose_heads(rig, glob, locations)
        ankle = heads[:, ba]
        in_contact = contacts[:, col] | contacts[:, col + 1]
        weight = _contact_weights(in_contact)
        if not weight.any():
            continue
        # While in contact the ankle may move only as the source's ankle does (scaled into the rig), and not at all
        # where the source's is nearly still: sliding caused by other proportions goes, the source's steps stay.
        src_ankle = source_joints[:, S.JOINT_INDEX[f"{side}_ankle"]]
        src_vel = np.diff(src_ankle, axis=0) * fps
        src_vel[:, 1] = 0.0
        still = np.linalg.norm(src_vel, axis=-1) < PLANTED_SPEED
        step = scale * (basis @ (src_vel / fps).T).T
        step[still] = 0.0
        offset = np.zeros_like(ankle)
        for start, stop in _runs(in_contact):
            path = ankle[start] + np.concatenate((np.zeros((1, 3)), np.cumsum(step[start : stop - 1], axis=0)))
            offset[start:stop] = path - ankle[start:stop]
            for i in range(1, RAMP_FRAMES + 1):  # fade the correction out around the run
                for f, edge in ((start - i, start), (stop - 1 + i, stop - 1)):
                    if 0 <= f < len(offset) and not in_contact[f]:
                        offset[f] = weight[f] * offset[edge]
        offset -= np.outer(offset @ up, up)  # only horizontal sliding is corrected
        goal = ankle + offset
        frames = np.nonzero(weight > 0)[0]
        two_bone_ik(rig, glob, (bh, bk, ba), heads, goal, frames, lateral)
    return glob


def two_bone_ik(rig: RigSpec, glob: np.ndarray, chain: tuple[int, int, int], heads: np.ndarray, goal: np.ndarray,
                frames: np.ndarray, lateral: np.ndarray) -> None:
    """Turn the upper and lower bones of chain (upper, lower, end bone indices) so the end's head reaches `goal`
    (T, 3) at `frames`, bending in the limb's own plane (`lateral` where it is straight); the end bone keeps its
    world orientation and bones below are rebuilt. heads: (T, B, 3) armature-space heads of glob. Edits glob."""
    bh, bk, ba = chain
    h, k, a, g = heads[frames, bh], heads[frames, bk], heads[frames, ba], goal[frames]
    l1 = np.linalg.norm(k - h, axis=-1)
    l2 = np.linalg.norm(a - k, axis=-1)
    dist = np.clip(np.linalg.norm(g - h, axis=-1), np.abs(l1 - l2) + 1e-6, (l1 + l2) * (1 - 1e-6))
    axis = np.cross(k - h, a - k)
    straight = np.linalg.norm(axis, axis=-1) < 1e-6 * np.maximum(l1 * l2, 1e-12)
    axis[straight] = lateral
    axis = _unit(axis)
    cos_now = np.sum(_unit(h - k) * _unit(a - k), axis=-1)
    cos_new = (l1**2 + l2**2 - dist**2) / np.maximum(2 * l1 * l2, 1e-12)
    bend = np.arccos(np.clip(cos_now, -1, 1)) - np.arccos(np.clip(cos_new, -1, 1))
    r_knee = quat_from_axis_angle(axis, bend)
    a_new = k + qrot(r_knee, a - k)
    r_hip = qbetween(a_new - h, g - h)
    end_glob = glob[frames, ba].copy()
    glob[frames, bh] = qmul(r_hip, glob[frames, bh])
    glob[frames, bk] = qmul(qmul(r_hip, r_knee), glob[frames, bk])
    # Rebuild everything below the upper bone from the new upper and lower ones, keeping the end's orientation.
    local = local_from_global(rig, glob[frames])
    fixed = {bh: glob[frames, bh], bk: glob[frames, bk], ba: end_glob}
    glob[frames] = _rebuild(rig, local, fixed)


def _rebuild(rig: RigSpec, local: np.ndarray, fixed: dict[int, np.ndarray]) -> np.ndarray:
    """Pose rotations from locals, except bones in `fixed` which take the given armature-space rotations."""
    rest = rig.rest_rotations
    out = np.empty_like(local)
    for b, p in enumerate(rig.parents):
        if b in fixed:
            out[:, b] = fixed[b]
        elif p < 0:
            out[:, b] = qmul(rest[b], local[:, b])
        else:
            out[:, b] = qmul(qmul(out[:, p], qmul(qinv(rest[p]), rest[b])), local[:, b])
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True))


PLANTED_SPEED = 0.15
"""Source foot speed (m/s, horizontal) below which a foot in contact counts as planted and is pinned."""
RAMP_FRAMES = 3


def _contact_weights(contact: np.ndarray, ramp: int = RAMP_FRAMES) -> np.ndarray:
    """1 inside contacts, fading linearly over `ramp` frames on either side, so pinning never pops."""
    w = contact.astype(np.float64)
    for start, stop in _runs(contact):
        for i in range(1, ramp + 1):
            for f in (start - i, stop - 1 + i):
                if 0 <= f < len(w):
                    w[f] = max(w[f], 1 - i / (ramp + 1))
    return w


def foot_skate(
    rig: RigSpec, bone_map: dict[str, str], heads: np.ndarray, contacts: np.ndarray, fps: float, scale: float,
    basis: np.ndarray,
) -> dict[str, float]:  # fmt: skip
    """Mean horizontal speed (source metres per second) of the rig's mapped foot joints while in contact."""
    up = basis @ np.array([0.0, 1.0, 0.0])
    out: dict[str, float] = {}
    speeds = []
    for col, joint in enumerate(("left_ankle", "left_foot", "right_ankle", "right_foot")):
        bone = bone_map.get(joint)
        if bone is None or heads.shape[0] < 2:
            continue
        v = np.diff(heads[:, rig.index[bone]], axis=0) * fps
        v -= np.outer(v @ up, up)
        on = contacts[1:, col] & contacts[:-1, col]
        if on.any():
            s = np.linalg.norm(v[on], axis=-1) / scale
            out[joint] = float(s.mean())
            speeds.append(s)
    out["mean"] = float(np.concatenate(speeds).mean()) if speeds else 0.0
    return out


def _source_skate(joints: np.ndarray, contacts: np.ndarray, fps: float) -> dict[str, float]:
    speeds = []
    for col, j in enumerate(S.LEFT_FOOT_JOINTS + S.RIGHT_FOOT_JOINTS):
        v = np.diff(joints[:, j], axis=0) * fps
        on = contacts[1:, col] & contacts[:-1, col]
        if on.any():
            speeds.append(np.linalg.norm(v[on][:, [0, 2]], axis=-1))
    return {"mean": float(np.concatenate(speeds).mean()) if speeds else 0.0}


def direction_errors(
    rig: RigSpec, bone_map: dict[str, str], heads: np.ndarray, source_joints: np.ndarray, basis: np.ndarray
) -> dict[str, float]:
    """Largest angle (degrees) over frames between each mapped bone's direction (head to the next mapped head along
    its chain) and the source's direction between the same joints."""
    out = {}
    for joint, bone in bone_map.items():
        aim = next((a for a in S.AIM_CHAINS.get(joint, ()) if a in bone_map), None)
        if aim is None:
            continue
        d_rig = heads[:, rig.index[bone_map[aim]]] - heads[:, rig.index[bone]]
        d_src = source_joints[:, S.JOINT_INDEX[aim]] - source_joints[:, S.JOINT_INDEX[joint]]
        out[joint] = float(angle_between(d_rig, (basis @ d_src.T).T).max())
    return out


def smpl_armature_layout(offsets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heads, tails and roll-axis vectors (22, 3 each, Blender axes, feet on z=0) of the default SMPL-22 armature.

    The rig stands in a T-pose with the bone lengths (and pelvis-to-hip offsets) of `offsets` (KinMo's target
    skeleton by default). Each bone
    runs from its joint to the next joint of its chain; end bones continue their parent's direction. The roll axis
    points the bone's local z forward (-y), or up for the feet, so bends are rotations about local x.
    """
    offsets = default_offsets() if offsets is None else np.asarray(offsets, dtype=np.float64)
    lengths = np.linalg.norm(offsets, axis=-1)
    pts = np.zeros((22, 3))
    for j, p in enumerate(S.PARENTS):
        name = S.JOINT_NAMES[j]
        if name.endswith("_hip") and lengths[j] > 0:
            # The hips keep the motion's own pelvis-to-hip direction: the pelvis bone aims up the spine, so this
            # is what puts the rig's legs (and feet) exactly where the source's are.
            pts[j] = offsets[j]
        elif p >= 0:
            pts[j] = pts[p] + lengths[j] * _unit(np.array(S.TPOSE_DIRECTIONS[name]))
    pts[:, 1] -= pts[:, 1].min()
    heads = (KINMO_TO_BLENDER @ pts.T).T
    tails = np.empty_like(heads)
    roll = np.tile(np.array([0.0, -1.0, 0.0]), (22, 1))
    for j, name in enumerate(S.JOINT_NAMES):
        aim = S.AIM_CHAINS.get(name)
        if aim:
            tails[j] = heads[S.JOINT_INDEX[aim[0]]]
        else:
            d = heads[j] - heads[S.PARENTS[j]]
            tails[j] = heads[j] + _unit(d) * max(0.5 * np.linalg.norm(d), 0.05)
        if name.endswith(("_ankle", "_foot")):
            roll[j] = (0.0, 0.0, 1.0)
    return heads, tails, roll


def bone_matrix(head: np.ndarray, tail: np.ndarray, roll_axis: np.ndarray) -> np.ndarray:
    """Rest rotation (3x3, columns x, y, z) Blender gives a bone from head to tail whose z axis is aligned to
    roll_axis (what `EditBone.align_roll` does)."""
    y = _unit(np.asarray(tail, dtype=np.float64) - np.asarray(head, dtype=np.float64))
    z = np.asarray(roll_axis, dtype=np.float64)
    z = _unit(z - (z @ y) * y)
    return np.stack((np.cross(y, z), y, z), axis=-1)


def forward_kinematics_positions(local: np.ndarray, root: np.ndarray, offsets: np.ndarray, parents=S.PARENTS):
    """Joint positions (T, J, 3) of local rotations (T, J, 4) in the standard convention, root positions (T, 3)."""
    glob = forward_kinematics_rotations(local, parents)
    pos = np.empty(local.shape[:-1] + (3,))
    for j, p in enumerate(parents):
        if p < 0:
            pos[..., j, :] = root
        else:
            pos[..., j, :] = pos[..., p, :] + qrot(glob[..., p, :], np.broadcast_to(offsets[j], pos[..., j, :].shape))
    return pos
