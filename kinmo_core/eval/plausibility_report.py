"""Physical plausibility of generated motions: foot skating, ground penetration, floating, bone lengths, jerk.

Every function takes joints (T, 22, 3) in metres, Y up, sampled at `skeleton.FPS`, with the floor at y = FLOOR_HEIGHT
(HumanML3D puts the floor at the lowest joint of the clip's first frames, and features_to_joints keeps it there).
Thresholds are the named constants below; lengths in the results are in centimetres, speeds in metres per second.
"""

from __future__ import annotations

import numpy as np

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.contacts import skate_steps, true_runs
from kinmo_core.motion.skeleton import BONE_LENGTHS, FPS, JOINT_INDEX, NUM_JOINTS, bone_lengths

FLOOR_HEIGHT: float = 0.0
"""Height of the ground plane in metres."""

SKATE_FOOT_JOINTS: tuple[int, int] = (JOINT_INDEX["left_foot"], JOINT_INDEX["right_foot"])
"""The toe joints: the part of the foot that rests on the ground in nearly every stance."""

SKATE_HEIGHT_THRESHOLD: float = 0.05
"""A foot joint lower than this (metres above the floor) at both ends of a frame step is on the ground."""

SKATE_SPEED_THRESHOLD: float = 0.5
"""A grounded foot moving horizontally faster than this (m/s; 2.5 cm per frame at 20 fps) skates."""

PENETRATION_TOLERANCE: float = 0.0
"""Depth in metres below the floor that still counts as touching it."""

FLOAT_HEIGHT_THRESHOLD: float = 0.05
"""A frame floats when its lowest joint is higher than this above the floor (jumps count too: compare to real data)."""


def check_joints(joints, min_frames: int = 1) -> np.ndarray:
    """Return joints (T, 22, 3) as float64 numpy; KinmoInputError for a wrong shape, too few frames or NaN."""
    j = np.asarray(joints.detach().cpu().numpy() if hasattr(joints, "detach") else joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (NUM_JOINTS, 3):
        raise KinmoInputError(f"joints must have shape (T, {NUM_JOINTS}, 3), got {j.shape}")
    if len(j) < min_frames:
        raise KinmoInputError(f"need at least {min_frames} frames, got {len(j)}")
    if not np.all(np.isfinite(j)):
        raise KinmoInputError("joints contain NaN or infinite values")
    return j


def foot_skating(joints, height_threshold: float = SKATE_HEIGHT_THRESHOLD,
                 speed_threshold: float = SKATE_SPEED_THRESHOLD, fps: int = FPS) -> dict[str, float]:
    """Return the skating ratio and the mean horizontal slide per ground-contact phase (cm).

    Skating as `kinmo_core.motion.contacts.skate_steps` defines it, contact meaning a toe below `height_threshold`.
    skate_ratio: share of frame steps where some toe is on the ground (below `height_threshold` at both ends of the
    step) and moves horizontally faster than `speed_threshold`. skate_distance_cm: over every contact phase (a maximal
    run of such grounded steps of one foot), the horizontal path length the foot slides, averaged over phases.
    """
    j = check_joints(joints, min_frames=2)
    feet = j[:, list(SKATE_FOOT_JOINTS)]
    on_ground = feet[..., 1] - FLOOR_HEIGHT < height_threshold  # (T, 2): contact here is touching the floor
    grounded = on_ground[1:] & on_ground[:-1]  # (T-1, 2)
    step = np.linalg.norm(skate_steps(feet, on_ground), axis=-1)  # horizontal metres per grounded frame step
    skating = grounded & (step * fps > speed_threshold)
    phases = [float(step[a:b, f].sum()) for f in range(2) for a, b in true_runs(grounded[:, f])]
    return {
        "skate_ratio": float(np.mean(skating.any(axis=1))),
        "skate_distance_cm": 100.0 * float(np.mean(phases)) if phases else 0.0,
        "contact_phases": float(len(phases)),
    }


def ground_penetration(joints, tolerance: float = PENETRATION_TOLERANCE) -> dict[str, float]:
    """Return the mean (over frames) and max depth in cm of the lowest joint below the floor, and the frame share."""
    j = check_joints(joints)
    depth = np.maximum(FLOOR_HEIGHT - j[..., 1].min(axis=1) - tolerance, 0.0)
    return {
        "penetration_mean_cm": 100.0 * float(depth.mean()),
        "penetration_max_cm": 100.0 * float(depth.max()),
        "penetration_ratio": float(np.mean(depth > 0)),
    }


def floating(joints, threshold: float = FLOAT_HEIGHT_THRESHOLD) -> dict[str, float]:
    """Return the share of frames whose lowest joint is above `threshold` and the mean height of those frames (cm)."""
    j = check_joints(joints)
    low = j[..., 1].min(axis=1) - FLOOR_HEIGHT
    mask = low > threshold
    return {
        "float_ratio": float(mask.mean()),
        "float_height_cm": 100.0 * float(low[mask].mean()) if mask.any() else 0.0,
    }


def bone_length_deviation(joints, reference: np.ndarray | None = None) -> dict[str, float]:
    """Return bone-length errors in cm: mean |length - reference| (target skeleton by default) and mean temporal std.

    The temporal std ignores the body's proportions and measures only stretching over time; the error against the
    reference (BONE_LENGTHS) also catches a wrongly scaled skeleton.
    """
    j = check_joints(joints)
    lengths = bone_lengths(j)[:, 1:]
    ref = BONE_LENGTHS[1:] if reference is None else np.asarray(reference, np.float64).reshape(-1)[-lengths.shape[1]:]
    return {
        "bone_length_error_cm": 100.0 * float(np.abs(lengths - ref).mean()),
        "bone_length_std_cm": 100.0 * float(lengths.std(axis=0).mean()),
    }


def jerk(joints, fps: int = FPS) -> dict[str, float]:
    """Return the mean and max magnitude of the third time derivative of joint positions (m/s^3)."""
    j = check_joints(joints, min_frames=4)
    third = np.diff(j, n=3, axis=0) * float(fps) ** 3
    mag = np.linalg.norm(third, axis=-1)
    return {"jerk_mean": float(mag.mean()), "jerk_max": float(mag.max())}


def plausibility_report(joints, fps: int = FPS) -> dict[str, float]:
    """Return every plausibility figure of one motion (T >= 4 frames)."""
    j = check_joints(joints, min_frames=4)
    out: dict[str, float] = {}
    out.update(foot_skating(j, fps=fps))
    out.update(ground_penetration(j))
    out.update(floating(j))
    out.update(bone_length_deviation(j))
    out.update(jerk(j, fps=fps))
    return out


def aggregate_reports(reports: list[dict[str, float]]) -> dict[str, float]:
    """Return the mean of each figure over motions (maxima are maximised instead)."""
    if not reports:
        raise KinmoInputError("no plausibility reports to aggregate")
    out = {}
    for key in reports[0]:
        values = [r[key] for r in reports]
        out[key] = float(np.max(values)) if key.endswith("_max_cm") or key == "jerk_max" else float(np.mean(values))
    return out
