"""The source side of retargeting: KinMo motion files read with numpy alone, resampled for the scene.

KinMo motion space: y up, the body faces +z at rest, its left is +x, metres, 20 fps. Quaternions are (w, x, y, z).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import contacts
from ..core import quaternions as Q
from ..core import skeleton as S

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
    return SourceMotion(joints, Q.qnormalize(rotations), offsets, fps, text)


def default_offsets() -> np.ndarray:
    """Return the (22, 3) rest offsets of KinMo's target skeleton (HumanML3D rest: arms down, facing +z)."""
    return S.TARGET_OFFSETS.copy()


def forward_kinematics_rotations(local: np.ndarray, parents=S.PARENTS) -> np.ndarray:
    """Return global rotations (..., J, 4) from local ones in the standard convention G[j] = G[parent] * L[j]."""
    glob = np.empty_like(np.asarray(local, dtype=np.float64))
    for j, p in enumerate(parents):
        glob[..., j, :] = local[..., j, :] if p < 0 else Q.qmul(glob[..., p, :], local[..., j, :])
    return glob


def foot_contacts(joints: np.ndarray) -> np.ndarray:
    """Return (T, 4) booleans for left ankle, left foot, right ankle, right foot (`contacts.foot_contacts`' rule)."""
    contact = contacts.foot_contacts(np.asarray(joints))
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
    rotations = Q.qslerp(motion.rotations[lo], motion.rotations[hi], np.broadcast_to(frac[:, None], lo.shape + (22,)))
    return joints, rotations, pos
