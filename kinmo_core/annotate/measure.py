"""Body-frame measurements of a motion: the numbers every posecode and temporal rule reads.

Joint positions are expressed per frame in the body frame (root yaw removed: the hips
face +Z, the body's left is +X, Y up, the pelvis above the origin) so that "in front of",
"left of" and "above" mean the same thing whatever way the person walks. Everything is
vectorised over frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.skeleton import FPS, JOINT_INDEX, NUM_JOINTS, rest_pose

MIN_FRAMES: int = 10
"""Shortest motion (frames) the annotator accepts: half a second at 20 fps."""

J = JOINT_INDEX
SIDES: tuple[str, str] = ("left", "right")
OUTWARD: dict[str, float] = {"left": 1.0, "right": -1.0}  # sign of the body-frame x axis pointing away from the body

_REST = rest_pose()
STANDING_PELVIS_HEIGHT: float = 0.92
"""Pelvis height above the floor of a person standing relaxed on HumanML3D's skeleton (metres)."""
ARM_LENGTH: float = float(
    np.linalg.norm(_REST[J["left_shoulder"]] - _REST[J["left_elbow"]])
    + np.linalg.norm(_REST[J["left_elbow"]] - _REST[J["left_wrist"]])
)
LEG_LENGTH: float = float(
    np.linalg.norm(_REST[J["left_hip"]] - _REST[J["left_knee"]])
    + np.linalg.norm(_REST[J["left_knee"]] - _REST[J["left_ankle"]])
)


REST_HEAD_TILT: float = 18.0
"""Degrees the resting head (neck->head) leans further forward than the neck bone on HumanML3D-shaped skeletons."""
HEAD_YAW_LIMIT: float = 100.0  # degrees; no neck turns the head further


def validate_joints(joints: np.ndarray, motion_id: str = "motion") -> np.ndarray:
    """Return joints as float64 (T, 22, 3) or raise KinmoInputError naming the problem."""
    arr = np.asarray(joints)
    if arr.ndim != 3 or arr.shape[1:] != (NUM_JOINTS, 3):
        raise KinmoInputError(f"{motion_id}: joints must have shape (T, {NUM_JOINTS}, 3), got {tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.number):
        raise KinmoInputError(f"{motion_id}: joints are not numeric ({arr.dtype})")
    if arr.shape[0] < MIN_FRAMES:
        raise KinmoInputError(f"{motion_id}: too few frames ({arr.shape[0]} < {MIN_FRAMES})")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise KinmoInputError(f"{motion_id}: joints contain NaN or infinite values")
    return arr


def _angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cos = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _interior(joints: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    return _angle(joints[:, a] - joints[:, b], joints[:, c] - joints[:, b])


def _elevation(vec: np.ndarray) -> np.ndarray:
    """Angle of vectors from straight down, degrees: 0 hanging, 90 horizontal, 180 pointing up."""
    return _angle(vec, np.array([0.0, -1.0, 0.0]))


@dataclass
class BodyMeasures:
    """Per-frame measurements (each array has length T) of one motion in its body frame."""

    joints: np.ndarray  # (T, 22, 3) world positions, floor at y = 0
    local: np.ndarray  # (T, 22, 3) body frame: pelvis above the origin, hips facing +Z
    heading: np.ndarray  # (T,) yaw of the hips in radians (0 = facing +Z)
    root_velocity: np.ndarray  # (T, 3) pelvis velocity in the body frame, m/s (x left, y up, z forward)
    fps: float = FPS
    m: dict[str, np.ndarray] = field(default_factory=dict)  # named scalar series, see measure()

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.joints.shape[0])


def measure(joints: np.ndarray, fps: float = FPS, motion_id: str = "motion") -> BodyMeasures:
    """Compute every body-frame measurement of a (T, 22, 3) motion."""
    jw = validate_joints(joints, motion_id)
    jw = jw.copy()
    foot_ids = [J["left_ankle"], J["left_foot"], J["right_ankle"], J["right_foot"]]
    # The floor is where the feet are lowest over the motion; HumanML3D puts it at 0 but other sources may not.
    jw[..., 1] -= jw[:, foot_ids, 1].min()

    across = jw[:, J["right_hip"]] - jw[:, J["left_hip"]]
    fwd = np.stack([across[:, 2], np.zeros(len(jw)), -across[:, 0]], -1)
    fwd /= np.maximum(np.linalg.norm(fwd, axis=-1, keepdims=True), 1e-9)
    heading = np.unwrap(np.arctan2(fwd[:, 0], fwd[:, 2]))
    left = np.stack([fwd[:, 2], np.zeros(len(jw)), -fwd[:, 0]], -1)

    rel = jw - jw[:, :1] * np.array([1.0, 0.0, 1.0])
    local = np.stack([(rel * left[:, None]).sum(-1), rel[..., 1], (rel * fwd[:, None]).sum(-1)], -1)

    vel_w = np.gradient(jw[:, J["pelvis"]], axis=0) * fps
    root_velocity = np.stack([(vel_w * left).sum(-1), vel_w[:, 1], (vel_w * fwd).sum(-1)], -1)

    L = local
    m: dict[str, np.ndarray] = {}
    speed_w = np.linalg.norm(np.gradient(jw, axis=0) * fps, axis=-1)  # (T, 22) joint speeds, m/s

    for s in SIDES:
        o = OUTWARD[s]
        sh, el, wr = J[f"{s}_shoulder"], J[f"{s}_elbow"], J[f"{s}_wrist"]
        hip, kn, an, ft = J[f"{s}_hip"], J[f"{s}_knee"], J[f"{s}_ankle"], J[f"{s}_foot"]
        m[f"{s}_elbow_angle"] = _interior(L, sh, el, wr)
        m[f"{s}_knee_angle"] = _interior(L, hip, kn, an)
        m[f"{s}_upper_arm_elevation"] = _elevation(L[:, el] - L[:, sh])
        m[f"{s}_forearm_elevation"] = _elevation(L[:, wr] - L[:, el])
        m[f"{s}_arm_elevation"] = _elevation(L[:, wr] - L[:, sh])
        m[f"{s}_thigh_elevation"] = _elevation(L[:, kn] - L[:, hip])
        m[f"{s}_shin_elevation"] = _elevation(L[:, an] - L[:, kn])
        m[f"{s}_wrist_above_shoulder"] = L[:, wr, 1] - L[:, sh, 1]
        m[f"{s}_wrist_above_head"] = L[:, wr, 1] - L[:, J["head"], 1]
        m[f"{s}_wrist_above_pelvis"] = L[:, wr, 1] - L[:, J["pelvis"], 1]
        m[f"{s}_wrist_forward"] = L[:, wr, 2] - L[:, sh, 2]
        m[f"{s}_wrist_outward"] = o * L[:, wr, 0]
        m[f"{s}_elbow_outward"] = o * (L[:, el, 0] - L[:, sh, 0])
        m[f"{s}_wrist_reach"] = np.linalg.norm(L[:, wr] - L[:, sh], axis=-1) / ARM_LENGTH
        m[f"{s}_wrist_to_hip"] = np.linalg.norm(L[:, wr] - L[:, hip], axis=-1)
        m[f"{s}_wrist_to_head"] = np.linalg.norm(L[:, wr] - L[:, J["head"]], axis=-1)
        # Wrist speed relative to its shoulder, so walking, turning or jumping does not read as arm motion.
        m[f"{s}_wrist_speed"] = np.linalg.norm(np.gradient(L[:, wr] - L[:, sh], axis=0), axis=-1) * fps
        m[f"{s}_foot_height"] = np.minimum(jw[:, an, 1], jw[:, ft, 1])
        m[f"{s}_ankle_height"] = jw[:, an, 1]
        m[f"{s}_knee_height"] = jw[:, kn, 1]
        m[f"{s}_foot_forward"] = L[:, an, 2]
        m[f"{s}_foot_outward"] = o * L[:, an, 0]
        m[f"{s}_foot_speed"] = np.minimum(speed_w[:, an], speed_w[:, ft])
        m[f"{s}_foot_world_speed_xz"] = np.linalg.norm(np.gradient(jw[:, an][:, [0, 2]], axis=0), axis=-1) * fps

    m["hands_distance"] = np.linalg.norm(L[:, J["left_wrist"]] - L[:, J["right_wrist"]], axis=-1)
    m["feet_distance"] = np.linalg.norm(L[:, J["left_ankle"]] - L[:, J["right_ankle"]], axis=-1)
    m["feet_forward_gap"] = L[:, J["left_ankle"], 2] - L[:, J["right_ankle"], 2]
    m["pelvis_height"] = jw[:, J["pelvis"], 1]
    m["pelvis_drop"] = STANDING_PELVIS_HEIGHT - jw[:, J["pelvis"], 1]
    m["head_height"] = jw[:, J["head"], 1]

    spine = L[:, J["neck"]] - L[:, J["pelvis"]]
    m["torso_incline_forward"] = np.degrees(np.arctan2(spine[:, 2], spine[:, 1]))
    m["torso_incline_left"] = np.degrees(np.arctan2(spine[:, 0], spine[:, 1]))
    m["torso_incline"] = _angle(spine, np.array([0.0, 1.0, 0.0]))
    sh_across = L[:, J["left_shoulder"]] - L[:, J["right_shoulder"]]
    # Twist: yaw of the shoulder line against the hip line (+ = shoulders turned to the body's left).
    m["torso_twist"] = np.degrees(np.arctan2(-sh_across[:, 2], sh_across[:, 0]))

    # Head direction: the head joint sits in front of the neck at rest, so neck->head gives where the face points.
    # It is measured against the shoulders' frame so a twisted torso does not read as a head turn.
    head = L[:, J["head"]] - L[:, J["neck"]]
    tw = np.radians(m["torso_twist"])
    hx = head[:, 0] * np.cos(tw) - head[:, 2] * np.sin(tw)
    hz = head[:, 0] * np.sin(tw) + head[:, 2] * np.cos(tw)
    # Positive yaw = facing the body's left. Pitch is measured against the neck bone (spine3->neck) so that a
    # bowing torso does not read as a lowered head; positive = tipped up, 0 = the skeleton's resting head.
    # A head tipped far up or down has almost no horizontal direction: its yaw is noise, read it as 0.
    # A head tipped back past vertical points its neck->head line backward: read as a turn, that is a yaw near 180
    # degrees, which no neck makes (a look up read as "looks left" in rules-1); beyond HEAD_YAW_LIMIT it is a head
    # tipped back, whose face still points along the reversed line.
    flat = np.hypot(hx, hz) / np.maximum(np.linalg.norm(head, axis=-1), 1e-9)
    yaw = np.degrees(np.arctan2(hx, hz))
    yaw = np.where(np.abs(yaw) > HEAD_YAW_LIMIT, np.degrees(np.arctan2(-hx, -hz)), yaw)
    m["head_yaw"] = np.where(flat > 0.15, yaw, 0.0)
    neck_bone = L[:, J["neck"]] - L[:, J["spine3"]]
    nz = neck_bone[:, 0] * np.sin(tw) + neck_bone[:, 2] * np.cos(tw)
    head_tilt = np.degrees(np.arctan2(hz, head[:, 1])) - np.degrees(np.arctan2(nz, neck_bone[:, 1]))
    m["head_pitch"] = REST_HEAD_TILT - head_tilt

    m["root_speed"] = np.hypot(root_velocity[:, 0], root_velocity[:, 2])
    m["root_forward_speed"] = root_velocity[:, 2]
    m["root_left_speed"] = root_velocity[:, 0]
    m["root_vertical_speed"] = root_velocity[:, 1]
    m["turn_rate"] = np.degrees(np.gradient(heading)) * fps
    return BodyMeasures(joints=jw, local=local, heading=heading, root_velocity=root_velocity, fps=fps, m=m)
