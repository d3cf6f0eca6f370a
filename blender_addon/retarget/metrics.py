"""Quality figures of a retargeted motion: foot skating of the rig and of the source, bone direction errors.
"""

from __future__ import annotations

import numpy as np

from ..core import contacts
from ..core import quaternions as Q
from ..core import skeleton as S
from .rig import AIM_CHAINS, RigSpec


def _skate_speeds(feet: np.ndarray, contact: np.ndarray, fps: float, up) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal speeds (T-1, F) of `contacts.skate_steps` (foot skating as KinMo defines it) and where they count."""
    speed = np.linalg.norm(contacts.skate_steps(feet, contact, up), axis=-1) * fps
    return speed, contact[1:] & contact[:-1]


def foot_skate(
    rig: RigSpec, bone_map: dict[str, str], heads: np.ndarray, contact: np.ndarray, fps: float, scale: float,
    basis: np.ndarray,
) -> dict[str, float]:  # fmt: skip
    """Mean skating speed (`contacts.skate_steps`, in source metres per second) of the rig's mapped foot joints."""
    up = basis @ np.array([0.0, 1.0, 0.0])
    out: dict[str, float] = {}
    speeds = []
    for col, joint in enumerate(("left_ankle", "left_foot", "right_ankle", "right_foot")):
        bone = bone_map.get(joint)
        if bone is None or heads.shape[0] < 2:
            continue
        speed, on = _skate_speeds(heads[:, rig.index[bone]][:, None], contact[:, col : col + 1], fps, up)
        if on.any():
            s = speed[on] / scale
            out[joint] = float(s.mean())
            speeds.append(s)
    out["mean"] = float(np.concatenate(speeds).mean()) if speeds else 0.0
    return out


def source_skate(joints: np.ndarray, contact: np.ndarray, fps: float) -> dict[str, float]:
    """Mean skating speed (`contacts.skate_steps`, metres per second) of the source's foot joints."""
    speed, on = _skate_speeds(joints[:, list(contacts.FOOT_JOINTS)], contact, fps, contacts.Y_UP)
    return {"mean": float(speed[on].mean()) if on.any() else 0.0}


def direction_errors(
    rig: RigSpec, bone_map: dict[str, str], heads: np.ndarray, source_joints: np.ndarray, basis: np.ndarray
) -> dict[str, float]:
    """Largest angle (degrees) over frames between each mapped bone's direction (head to the next mapped head along
    its chain) and the source's direction between the same joints."""
    out = {}
    for joint, bone in bone_map.items():
        aim = next((a for a in AIM_CHAINS.get(joint, ()) if a in bone_map), None)
        if aim is None:
            continue
        d_rig = heads[:, rig.index[bone_map[aim]]] - heads[:, rig.index[bone]]
        d_src = source_joints[:, S.JOINT_INDEX[aim]] - source_joints[:, S.JOINT_INDEX[joint]]
        out[joint] = float(Q.angle_between(d_rig, (basis @ d_src.T).T).max())
    return out


