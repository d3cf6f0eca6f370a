"""Posing the 22-joint body from a root trajectory, upper-body angles and ankle targets (vectorised over frames).

The synthesiser describes a motion as: pelvis position and heading, spine / neck / arm angles per frame, and a
world-space target for each ankle. `pose_body` turns that into joint positions by forward kinematics along the
upper body and analytic two-bone IK (hip-knee-ankle) along the legs. Every bone is a fixed-length vector
(BONE_LENGTHS times a rest direction), so bone lengths are constant by construction.
"""

from __future__ import annotations

import numpy as np

from kinmo_core.motion.skeleton import BONE_LENGTHS, JOINT_INDEX, NUM_JOINTS

J = JOINT_INDEX

# Rest directions of each bone in the body frame (a natural standing posture: hips below and beside the pelvis,
# collars up and out, shoulders out, head slightly in front of the neck, foot pointing down-forward so the ankle
# sits above the toes). HumanML3D's own joints have this shape; the synthesiser poses bones relative to it.
_REST_DIRS = {
    "left_hip": (0.8, -0.6, 0.0),
    "right_hip": (-0.8, -0.6, 0.0),
    "spine1": (0.0, 0.97, -0.25),
    "spine2": (0.0, 1.0, 0.05),
    "spine3": (0.0, 0.9, 0.43),
    "neck": (0.0, 0.97, 0.24),
    "head": (0.0, 0.85, 0.53),
    "left_collar": (0.45, 0.89, 0.0),
    "right_collar": (-0.45, 0.89, 0.0),
    "left_shoulder": (0.98, -0.1, 0.0),
    "right_shoulder": (-0.98, -0.1, 0.0),
    "left_elbow": (0.0, -1.0, 0.0),
    "right_elbow": (0.0, -1.0, 0.0),
    "left_wrist": (0.0, -1.0, 0.0),
    "right_wrist": (0.0, -1.0, 0.0),
}


def _bone(name: str) -> np.ndarray:
    d = np.asarray(_REST_DIRS[name], dtype=np.float64)
    return d / np.linalg.norm(d) * BONE_LENGTHS[J[name]]


BONE = {name: _bone(name) for name in _REST_DIRS}
THIGH = (BONE_LENGTHS[J["left_knee"]], BONE_LENGTHS[J["right_knee"]])
SHIN = (BONE_LENGTHS[J["left_ankle"]], BONE_LENGTHS[J["right_ankle"]])
FOOT = (BONE_LENGTHS[J["left_foot"]], BONE_LENGTHS[J["right_foot"]])
FOOT_PITCH = float(np.arcsin(0.4))
"""Downward pitch of the ankle-to-toe bone when the foot is flat: the toe on the floor, the ankle above it."""
ANKLE_HEIGHT = tuple(f * np.sin(FOOT_PITCH) for f in FOOT)
"""Height of each ankle (left, right) above the floor when its foot is flat on the ground."""
LEG_REACH = tuple(0.985 * (a + b) for a, b in zip(THIGH, SHIN, strict=True))
"""Longest hip-ankle distance the IK may ask for: a leg is never locked perfectly straight."""
HIP_OFFSET = (BONE["left_hip"], BONE["right_hip"])
STAND_PELVIS_HEIGHT = float(min(ANKLE_HEIGHT[s] + 0.975 * (THIGH[s] + SHIN[s]) - HIP_OFFSET[s][1] for s in (0, 1)))
"""Pelvis height of a relaxed stance (knees very slightly bent)."""
FOOT_WIDTH = float(abs(HIP_OFFSET[0][0]))
"""Lateral distance of each foot from the body's centre line when standing."""


def rot_x(a: np.ndarray) -> np.ndarray:
    """Return rotation matrices (..., 3, 3) about X by angles a (...) in radians."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(c), np.zeros_like(c)
    return np.stack((np.stack((o, z, z), -1), np.stack((z, c, -s), -1), np.stack((z, s, c), -1)), -2)


def rot_y(a: np.ndarray) -> np.ndarray:
    """Return rotation matrices (..., 3, 3) about Y (up) by angles a (...) in radians."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(c), np.zeros_like(c)
    return np.stack((np.stack((c, z, s), -1), np.stack((z, o, z), -1), np.stack((-s, z, c), -1)), -2)


def rot_z(a: np.ndarray) -> np.ndarray:
    """Return rotation matrices (..., 3, 3) about Z by angles a (...) in radians."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(c), np.zeros_like(c)
    return np.stack((np.stack((c, -s, z), -1), np.stack((s, c, z), -1), np.stack((z, z, o), -1)), -2)


def _apply(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", m, v)


def hip_positions(pelvis: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """Return (T, 2, 3) left and right hip positions; the pelvis turns only about Y, so hips follow its heading."""
    ry = rot_y(heading)
    return np.stack([pelvis + _apply(ry, HIP_OFFSET[s]) for s in (0, 1)], axis=1)


def limit_pelvis_height(pelvis_y: np.ndarray, hips_xz_rel: np.ndarray, ankles: np.ndarray, pelvis_xz: np.ndarray,
                        planted: np.ndarray, smooth: float = 1.5) -> np.ndarray:
    """Return pelvis heights lowered where a leg could not reach its planted foot, smoothly, never above the limit.

    hips_xz_rel: (T, 2, 2) hip XZ offsets from the pelvis; ankles: (T, 2, 3) ankle targets; planted: (T, 2) bool.
    A swinging foot's target may be out of reach: the leg then stretches toward it instead of dragging the body down.
    """
    from scipy.ndimage import gaussian_filter1d, maximum_filter1d

    limit = np.full_like(pelvis_y, np.inf)
    for s in (0, 1):
        dh = np.linalg.norm(pelvis_xz + hips_xz_rel[:, s] - ankles[:, s, [0, 2]], axis=-1)
        dh = np.minimum(dh, LEG_REACH[s] * 0.999)
        reach = ankles[:, s, 1] + np.sqrt(LEG_REACH[s] ** 2 - dh**2) - HIP_OFFSET[s][1]
        limit = np.minimum(limit, np.where(planted[:, s], reach, np.inf))
    deficit = np.maximum(pelvis_y - limit, 0.0)
    if deficit.max() <= 0:
        return pelvis_y
    width = max(int(round(smooth * 2)), 1)
    spread = gaussian_filter1d(maximum_filter1d(deficit, size=2 * width + 1, mode="nearest"), smooth, mode="nearest")
    return np.minimum(pelvis_y - np.maximum(spread, deficit), limit)


def two_bone_ik(hip: np.ndarray, ankle: np.ndarray, pole: np.ndarray, l1: float, l2: float) -> tuple[np.ndarray, ...]:
    """Return (knee, ankle) positions (T, 3) with the knee bent toward `pole`; unreachable targets are pulled in."""
    d_vec = ankle - hip
    d = np.linalg.norm(d_vec, axis=-1, keepdims=True)
    d_c = np.clip(d, abs(l1 - l2) + 1e-4, (l1 + l2) * 0.9999)
    u = d_vec / np.maximum(d, 1e-9)
    ankle = hip + u * d_c
    cos_a = np.clip((l1**2 + d_c**2 - l2**2) / (2 * l1 * d_c), -1.0, 1.0)
    v = pole - np.sum(pole * u, axis=-1, keepdims=True) * u
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
    knee = hip + l1 * (cos_a * u + np.sqrt(1 - cos_a**2) * v)
    # Re-derive the ankle from the knee so the shin length is exact in floating point.
    shin = ankle - knee
    ankle = knee + shin / np.linalg.norm(shin, axis=-1, keepdims=True) * l2
    return knee, ankle


def _arm_matrix(flex: np.ndarray, abd: np.ndarray, twist: np.ndarray, side: int) -> np.ndarray:
    # Left arm: abduction about +Z lifts it out to +X, flexion about -X lifts it forward, twist turns the elbow's
    # bending plane about the upper arm. The right arm is the mirror image (abduction and twist negated).
    sign = 1.0 if side == 0 else -1.0
    return rot_z(sign * abd) @ rot_x(-flex) @ rot_y(sign * twist)


def pose_body(
    pelvis: np.ndarray,
    heading: np.ndarray,
    spine: np.ndarray,
    neck: np.ndarray,
    arms: np.ndarray,
    ankles: np.ndarray,
    foot_yaw: np.ndarray,
    foot_pitch: np.ndarray,
    knee_up: np.ndarray,
) -> np.ndarray:
    """Return joint positions (T, 22, 3) of a posed body.

    pelvis (T, 3); heading (T,) yaw in radians (0 faces +Z); spine (T, 3) bow / lean-left / twist-left angles;
    neck (T, 3) pitch-down / yaw-left / roll angles; arms (T, 2, 4) flexion, abduction, twist, elbow flexion of the
    left and right arm; ankles (T, 2, 3) ankle targets; foot_yaw, foot_pitch (T, 2) toe direction (pitch measured
    from the flat foot, positive = toes down); knee_up (T, 2) in [0, 1] tilts the knee's bending direction upward.
    """
    t = pelvis.shape[0]
    out = np.zeros((t, NUM_JOINTS, 3))
    out[:, J["pelvis"]] = pelvis
    g0 = rot_y(heading)
    # The bend is spread over the three spine joints, as a real back curves.
    ls = rot_y(spine[:, 2] / 3) @ rot_z(-spine[:, 1] / 3) @ rot_x(spine[:, 0] / 3)
    g = g0
    prev = pelvis
    for name in ("spine1", "spine2", "spine3"):
        prev = prev + _apply(g, BONE[name])
        out[:, J[name]] = prev
        g = g @ ls
    g9 = g
    gn = g9 @ rot_y(neck[:, 1]) @ rot_x(neck[:, 0]) @ rot_z(neck[:, 2])
    out[:, J["neck"]] = out[:, J["spine3"]] + _apply(g9, BONE["neck"])
    out[:, J["head"]] = out[:, J["neck"]] + _apply(gn, BONE["head"])
    for side, pre in ((0, "left_"), (1, "right_")):
        collar = out[:, J["spine3"]] + _apply(g9, BONE[pre + "collar"])
        shoulder = collar + _apply(g9, BONE[pre + "shoulder"])
        ga = g9 @ _arm_matrix(arms[:, side, 0], arms[:, side, 1], arms[:, side, 2], side)
        elbow = shoulder + _apply(ga, BONE[pre + "elbow"])
        gf = ga @ rot_x(-arms[:, side, 3])
        wrist = elbow + _apply(gf, BONE[pre + "wrist"])
        out[:, J[pre + "collar"]] = collar
        out[:, J[pre + "shoulder"]] = shoulder
        out[:, J[pre + "elbow"]] = elbow
        out[:, J[pre + "wrist"]] = wrist
    hips = hip_positions(pelvis, heading)
    up = np.array([0.0, 1.0, 0.0])
    for side, pre in ((0, "left_"), (1, "right_")):
        fwd = np.stack((np.sin(foot_yaw[:, side]), np.zeros(t), np.cos(foot_yaw[:, side])), -1)
        pole = fwd * np.cos(knee_up[:, side, None] * 1.2) + up * np.sin(knee_up[:, side, None] * 1.2)
        knee, ankle = two_bone_ik(hips[:, side], ankles[:, side], pole, THIGH[side], SHIN[side])
        pitch = FOOT_PITCH + foot_pitch[:, side]
        toe_dir = np.cos(pitch)[:, None] * fwd - np.sin(pitch)[:, None] * up
        out[:, J[pre + "hip"]] = hips[:, side]
        out[:, J[pre + "knee"]] = knee
        out[:, J[pre + "ankle"]] = ankle
        out[:, J[pre + "foot"]] = ankle + toe_dir * FOOT[side]
    return out
