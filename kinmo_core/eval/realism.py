"""Realism of motions against real motion capture (issue 21): locomotion speed, foot skating, floor penetration,
jitter when standing, arm motion while walking, pelvis height.

Every function takes joints (T, 22, 3) in metres, Y up, floor at `plausibility_report.FLOOR_HEIGHT`, at
`skeleton.FPS`. Foot skating and floor penetration are the project's definitions
(`kinmo_core.eval.plausibility_report.foot_skating`, built on `motion.contacts.skate_steps`, and `ground_penetration`);
the body frame is part following's (`part_following.body_frame`). Clips are sorted into kinds
by their Bandai-Namco content label (`CONTENT_KIND`): the walks and runs give the speeds and the arm motion, the clips
that stand in place (waves, hand raises, bows, gestures) give the standing jitter.
"""

from __future__ import annotations

import numpy as np

from kinmo_core.eval.part_following import body_frame
from kinmo_core.eval.plausibility_report import FLOOR_HEIGHT, check_joints, foot_skating, ground_penetration
from kinmo_core.motion.skeleton import FPS, JOINT_INDEX

J = JOINT_INDEX
STANDING_SPEED: float = 0.25
"""A frame stands (for jitter) when the pelvis moves horizontally slower than this (m/s)."""

LOWER_BODY: tuple[int, ...] = tuple(J[n] for n in ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee",
                                                    "left_ankle", "right_ankle", "left_foot", "right_foot"))
"""The joints whose shaking is jitter when a body stands: nothing the prompts of a standing clip ask to move."""

ARM_JOINTS: tuple[int, ...] = tuple(J[n] for n in ("left_elbow", "right_elbow", "left_wrist", "right_wrist"))

CONTENT_KIND: dict[str, str] = {
    "walk": "walk", "run": "run",
    **{c: "stand" for c in ("raise-up-left-hand", "raise-up-right-hand", "raise-up-both-hands", "wave-left-hand",
                            "wave-right-hand", "wave-both-hands", "bow", "bye", "byebye", "guide", "call",
                            "respond")},
}
"""Kind of a Bandai-Namco content (dataset-1 and dataset-2); the rest (turns, side steps, dances, fights) count only
in the all-clips figures."""

KINDS: tuple[str, ...] = ("walk", "run", "stand", "all")


def horizontal_speed(joints, fps: int = FPS) -> np.ndarray:
    """Return the pelvis's horizontal speed (m/s) per frame step, (T-1,)."""
    j = check_joints(joints, min_frames=2)
    return np.linalg.norm(np.diff(j[:, 0, [0, 2]], axis=0), axis=-1) * fps


def locomotion_speed(joints, fps: int = FPS) -> float:
    """Return the mean horizontal pelvis speed over the clip (m/s)."""
    return float(horizontal_speed(joints, fps).mean())


def standing_jitter(joints, fps: int = FPS) -> float:
    """Return the mean acceleration magnitude (m/s^2) of the lower-body joints over frames where the body stands.

    NaN when no frame stands (the pelvis slower than STANDING_SPEED at both neighbouring steps)."""
    j = check_joints(joints, min_frames=3)
    speed = horizontal_speed(j, fps)
    standing = (speed[1:] < STANDING_SPEED) & (speed[:-1] < STANDING_SPEED)  # frames 1..T-2
    if not standing.any():
        return float("nan")
    acc = np.linalg.norm(np.diff(j[:, list(LOWER_BODY)], n=2, axis=0), axis=-1) * fps ** 2  # (T-2, 9)
    return float(acc[standing].mean())


def arm_energy(joints, fps: int = FPS) -> float:
    """Return the mean squared speed (m^2/s^2) of elbows and wrists in the body frame: arm swing, not travel."""
    b = body_frame(check_joints(joints, min_frames=2))
    v = np.linalg.norm(np.diff(b[:, list(ARM_JOINTS)], axis=0), axis=-1) * fps
    return float(np.mean(v ** 2))


def pelvis_height(joints) -> float:
    """Return the mean pelvis height above the floor (m)."""
    return float(np.mean(check_joints(joints)[:, 0, 1] - FLOOR_HEIGHT))


def realism_figures(joints, fps: int = FPS) -> dict[str, float]:
    """Return every realism figure of one clip."""
    j = check_joints(joints, min_frames=4)
    skate = foot_skating(j, fps=fps)
    pen = ground_penetration(j)
    return {
        "speed_mps": locomotion_speed(j, fps),
        "skate_ratio": skate["skate_ratio"],
        "penetration_mean_cm": pen["penetration_mean_cm"],
        "penetration_max_cm": pen["penetration_max_cm"],
        "below_floor_ratio": pen["penetration_ratio"],
        "pelvis_height_m": pelvis_height(j),
        "standing_jitter_mps2": standing_jitter(j, fps),
        "arm_energy_m2ps2": arm_energy(j, fps),
    }


KIND_FIGURES: dict[str, tuple[str, ...]] = {
    "walk": ("speed_mps", "arm_energy_m2ps2", "skate_ratio", "pelvis_height_m"),
    "run": ("speed_mps", "arm_energy_m2ps2", "skate_ratio"),
    "stand": ("standing_jitter_mps2", "skate_ratio", "pelvis_height_m"),
    "all": ("skate_ratio", "penetration_mean_cm", "penetration_max_cm", "below_floor_ratio"),
}
"""The figures that mean something for each kind of clip."""


def aggregate_realism(clips: list[tuple[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Return {kind: {figure: mean over clips (max for maxima), "clips": n}} from (kind, figures) pairs."""
    out: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        rows = [f for k, f in clips if kind == "all" or k == kind]
        if not rows:
            continue
        agg: dict[str, float] = {"clips": float(len(rows))}
        for name in KIND_FIGURES[kind]:
            vals = np.array([r[name] for r in rows], dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            if len(vals):
                agg[name] = float(vals.max() if name.endswith("_max_cm") else vals.mean())
        out[kind] = agg
    return out
