"""The target side: an armature without bpy (`RigSpec`), its pose maths, and the add-on's default SMPL-22 armature.

A target rig is described by `RigSpec` (armature space, Blender's bone conventions): for each bone its parent, rest
head and rest rotation (`bone.matrix_local`). A pose bone's local rotation L gives its armature-space rotation
R = R_parent @ R_rest_parent^-1 @ R_rest @ L, which is what `local_from_global` inverts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import bonenames
from ..core import quaternions as Q
from ..core import skeleton as S
from .source import KINMO_TO_BLENDER, default_offsets, forward_kinematics_rotations


@dataclass
class RigSpec(bonenames.Hierarchy):
    """A target armature without bpy: bone names, parent indices (-1 for roots), rest heads and rest rotations.

    `names` and `parents` (and `is_ancestor`, `depth`) come from `bonenames.Hierarchy`.

    Bones must be listed parents first (Blender's `armature.bones` order is; `from_unordered` sorts otherwise).
    Rest values are in armature space, as `bone.head_local` and the rotation part of `bone.matrix_local`.
    """

    rest_heads: np.ndarray
    rest_rotations: np.ndarray
    follows: dict[int, int] = field(default_factory=dict)
    """Bones that copy another bone's transform by a constraint (index -> index): for `is_ancestor`, a bone below
    one of them hangs from what it copies (a Rigify FK arm below ORG-shoulder, which copies the shoulder control)."""
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.rest_heads = np.asarray(self.rest_heads, dtype=np.float64)
        self.rest_rotations = Q.qnormalize(self.rest_rotations)
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

    def is_ancestor(self, a: int, b: int) -> bool:
        """True when a is a strict ancestor of b through bone parents or the bones they copy (`follows`)."""
        seen: set[int] = set()
        stack = [b]
        while stack:
            x = stack.pop()
            for y in (self.parents[x], self.follows.get(x, -1)):
                if y == a:
                    return True
                if y >= 0 and y not in seen:
                    seen.add(y)
                    stack.append(y)
        return False

    def children(self, i: int) -> list[int]:
        """Return the indices of the bones whose parent is bone i."""
        return [c for c, p in enumerate(self.parents) if p == i]


def global_from_local(rig: RigSpec, local: np.ndarray) -> np.ndarray:
    """Return armature-space pose rotations (T, B, 4) from pose-bone local rotations (T, B, 4)."""
    rest = rig.rest_rotations
    out = np.empty_like(local)
    for b, p in enumerate(rig.parents):
        if p < 0:
            out[:, b] = Q.qmul(rest[b], local[:, b])
        else:
            out[:, b] = Q.qmul(Q.qmul(out[:, p], Q.qmul(Q.qinv(rest[p]), rest[b])), local[:, b])
    return out


def local_from_global(rig: RigSpec, glob: np.ndarray) -> np.ndarray:
    """Return pose-bone local rotations (T, B, 4) from armature-space pose rotations (T, B, 4)."""
    rest = rig.rest_rotations
    out = np.empty_like(glob)
    for b, p in enumerate(rig.parents):
        parent_frame = rest[b] if p < 0 else Q.qmul(glob[:, p], Q.qmul(Q.qinv(rest[p]), rest[b]))
        out[:, b] = Q.qmul(Q.qinv(parent_frame), glob[:, b])
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
            heads[:, b] = rest_h[b] + (Q.qrot(rest_r[b], loc) if loc is not None else 0.0)
        else:
            frame = Q.qmul(glob[:, p], Q.qinv(rest_r[p]))
            rel = rest_h[b] - rest_h[p]
            if loc is not None:
                rel = rel + Q.qrot(rest_r[b], loc)
            heads[:, b] = heads[:, p] + Q.qrot(frame, np.broadcast_to(rel, (t_count, 3)))
    return heads



# Where each joint's bone points: the first joint of its list that the bone map covers. A joint with several
# children (pelvis, spine3) aims along the spine, so its twist comes from the source rotation.
AIM_CHAINS: dict[str, tuple[str, ...]] = {
    "pelvis": ("spine1", "spine2", "spine3", "neck", "head"),
    "spine1": ("spine2", "spine3", "neck", "head"),
    "spine2": ("spine3", "neck", "head"),
    "spine3": ("neck", "head"),
    "neck": ("head",),
    **{
        f"{s}_{a}": rest
        for s in ("left", "right")
        for a, rest in (
            ("hip", (f"{s}_knee", f"{s}_ankle", f"{s}_foot")),
            ("knee", (f"{s}_ankle", f"{s}_foot")),
            ("ankle", (f"{s}_foot",)),
            ("collar", (f"{s}_shoulder", f"{s}_elbow", f"{s}_wrist")),
            ("shoulder", (f"{s}_elbow", f"{s}_wrist")),
            ("elbow", (f"{s}_wrist",)),
        )
    },
}

# Direction from each joint's parent to the joint in the add-on's default SMPL-22 armature: a T-pose in KinMo axes
# (x = the body's left, y = up, z = forward). Animators expect a T-pose; HumanML3D's arms-down rest is only a
# convention of its rotation files, and the retargeter aligns any rest pose anyway.
TPOSE_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "pelvis": (0.0, 0.0, 0.0),
    "left_hip": (0.6, -0.8, 0.0),
    "right_hip": (-0.6, -0.8, 0.0),
    "spine1": (0.0, 1.0, 0.0),
    "left_knee": (0.0, -1.0, 0.0),
    "right_knee": (0.0, -1.0, 0.0),
    "spine2": (0.0, 1.0, 0.0),
    "left_ankle": (0.0, -1.0, 0.0),
    "right_ankle": (0.0, -1.0, 0.0),
    "spine3": (0.0, 1.0, 0.0),
    "left_foot": (0.0, -0.35, 0.937),
    "right_foot": (0.0, -0.35, 0.937),
    "neck": (0.0, 1.0, 0.0),
    "left_collar": (1.0, 0.0, 0.0),
    "right_collar": (-1.0, 0.0, 0.0),
    "head": (0.0, 1.0, 0.0),
    "left_shoulder": (1.0, 0.0, 0.0),
    "right_shoulder": (-1.0, 0.0, 0.0),
    "left_elbow": (1.0, 0.0, 0.0),
    "right_elbow": (-1.0, 0.0, 0.0),
    "left_wrist": (1.0, 0.0, 0.0),
    "right_wrist": (-1.0, 0.0, 0.0),
}


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
            pts[j] = pts[p] + lengths[j] * Q.unit(np.array(TPOSE_DIRECTIONS[name]))
    pts[:, 1] -= pts[:, 1].min()
    heads = (KINMO_TO_BLENDER @ pts.T).T
    tails = np.empty_like(heads)
    roll = np.tile(np.array([0.0, -1.0, 0.0]), (22, 1))
    for j, name in enumerate(S.JOINT_NAMES):
        aim = AIM_CHAINS.get(name)
        if aim:
            tails[j] = heads[S.JOINT_INDEX[aim[0]]]
        else:
            d = heads[j] - heads[S.PARENTS[j]]
            tails[j] = heads[j] + Q.unit(d) * max(0.5 * np.linalg.norm(d), 0.05)
        if name.endswith(("_ankle", "_foot")):
            roll[j] = (0.0, 0.0, 1.0)
    return heads, tails, roll


def bone_matrix(head: np.ndarray, tail: np.ndarray, roll_axis: np.ndarray) -> np.ndarray:
    """Rest rotation (3x3, columns x, y, z) Blender gives a bone from head to tail whose z axis is aligned to
    roll_axis (what `EditBone.align_roll` does)."""
    y = Q.unit(np.asarray(tail, dtype=np.float64) - np.asarray(head, dtype=np.float64))
    z = np.asarray(roll_axis, dtype=np.float64)
    z = Q.unit(z - (z @ y) * y)
    return np.stack((np.cross(y, z), y, z), axis=-1)


def forward_kinematics_positions(local: np.ndarray, root: np.ndarray, offsets: np.ndarray, parents=S.PARENTS):
    """Joint positions (T, J, 3) of local rotations (T, J, 4) in the standard convention, root positions (T, 3)."""
    glob = forward_kinematics_rotations(local, parents)
    pos = np.empty(local.shape[:-1] + (3,))
    for j, p in enumerate(parents):
        if p < 0:
            pos[..., j, :] = root
        else:
            pos[..., j, :] = pos[..., p, :] + Q.qrot(glob[..., p, :], np.broadcast_to(offsets[j], pos[..., j, :].shape))
    return pos
