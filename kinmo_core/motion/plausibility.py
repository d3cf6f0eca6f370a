"""Physical plausibility figures of joint motions: foot skate, ground penetration, bone lengths, joint limits, jerks.

Foot contacts and skate come from `kinmo_core.motion.contacts` (HumanML3D's rule), so the figures describe what a
model trained on the features sees. Every function takes joints (T, 22, 3) in metres, Y up.
"""

from __future__ import annotations

import numpy as np

from kinmo_core.motion.contacts import FOOT_JOINTS, skate_per_phase
from kinmo_core.motion.skeleton import JOINT_INDEX, bone_lengths

J = JOINT_INDEX

JOINT_LIMITS: dict[str, tuple[float, float]] = {
    "knee_flexion": (0.0, 150.0),
    "elbow_flexion": (0.0, 150.0),
    "spine_bend": (0.0, 100.0),
    "neck_bend": (0.0, 75.0),
}
"""Allowed ranges in degrees: knee and elbow flexion (0 = straight), spine bend (pelvis-to-spine3 direction against
the pelvis-to-spine1 direction), and head bend against the upper spine."""

KNEE_HYPEREXTENSION_TOLERANCE = 0.01
"""Metres a knee may sit behind the hip-ankle line (toward the back of the body) before it counts as bent backward."""


def _angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cos = np.sum(u * v, -1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def joint_angles(joints: np.ndarray) -> dict[str, np.ndarray]:
    """Return per-frame angles in degrees: knee and elbow flexion (T, 2), spine bend (T,), neck bend (T,)."""
    out = {}
    knees, elbows = [], []
    for pre in ("left_", "right_"):
        hip, knee, ankle = joints[:, J[pre + "hip"]], joints[:, J[pre + "knee"]], joints[:, J[pre + "ankle"]]
        knees.append(_angle(knee - hip, ankle - knee))
        sh, el, wr = joints[:, J[pre + "shoulder"]], joints[:, J[pre + "elbow"]], joints[:, J[pre + "wrist"]]
        elbows.append(_angle(el - sh, wr - el))
    out["knee_flexion"] = np.stack(knees, -1)
    out["elbow_flexion"] = np.stack(elbows, -1)
    pelvis = joints[:, J["pelvis"]]
    out["spine_bend"] = _angle(joints[:, J["spine1"]] - pelvis, joints[:, J["spine3"]] - joints[:, J["spine1"]])
    neck = joints[:, J["neck"]]
    out["neck_bend"] = _angle(neck - joints[:, J["spine2"]], joints[:, J["head"]] - neck)
    return out


def knee_backward(joints: np.ndarray) -> np.ndarray:
    """Return (T, 2) how far (metres) each knee lies behind its hip-ankle line; positive means bent backward."""
    out = []
    # The body's forward direction from the hips: up x (left hip - right hip).
    across = joints[:, J["left_hip"]] - joints[:, J["right_hip"]]
    fwd = np.cross(across, np.array([0.0, 1.0, 0.0]))
    fwd = fwd / np.maximum(np.linalg.norm(fwd, axis=-1, keepdims=True), 1e-9)
    for pre in ("left_", "right_"):
        hip, knee, ankle = joints[:, J[pre + "hip"]], joints[:, J[pre + "knee"]], joints[:, J[pre + "ankle"]]
        u = ankle - hip
        u = u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-9)
        rel = knee - hip
        off = rel - np.sum(rel * u, -1, keepdims=True) * u
        out.append(-np.sum(off * fwd, -1))
    return np.stack(out, -1)


def plausibility(joints: np.ndarray, contact: np.ndarray | None = None) -> dict[str, float]:
    """Return the plausibility figures of one motion (joints with the floor at y = 0)."""
    joints = np.asarray(joints, dtype=np.float64)
    skate = skate_per_phase(joints, contact)
    lengths = bone_lengths(joints)[:, 1:]
    angles = joint_angles(joints)
    vel = np.diff(joints, axis=0)
    acc = np.linalg.norm(np.diff(vel, axis=0), axis=-1) if len(joints) > 2 else np.zeros((1, 22))
    out = {
        "frames": float(len(joints)),
        "skate_max": float(skate.max()) if len(skate) else 0.0,
        "skate_mean": float(skate.mean()) if len(skate) else 0.0,
        "contact_phases": float(len(skate)),
        "skate_phases_over_2cm": float(np.sum(skate > 0.02)),
        "min_foot_height": float(joints[:, list(FOOT_JOINTS), 1].min()),
        "min_joint_height": float(joints[:, :, 1].min()),
        "bone_length_drift": float(np.max(np.abs(lengths - lengths[:1]))),
        "max_accel": float(acc.max()),
        "knee_backward": float(knee_backward(joints).max()),
    }
    for name, (lo, hi) in JOINT_LIMITS.items():
        a = angles[name]
        out[name + "_max"] = float(a.max())
        out[name + "_violations"] = float(np.sum((a < lo - 1e-6) | (a > hi)))
    return out
