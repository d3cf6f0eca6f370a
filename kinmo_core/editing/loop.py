"""Seamless loops: a generated motion whose last frame runs into its first with no pop in pose or velocity.

The motion's feature rows are rolled (rows k..T-1, then 0..k-1, with k the calmest frame of the middle half), so
the clip's end and start are two consecutive rows of the original and the wrap is continuous by construction; the
junction that the roll creates inside is in-painted by the model (`inpaint`) with the tokens elsewhere kept, and
cross-faded into the original rows over the in-painting margin. The root then either returns to the start
(in-place actions: the drift per cycle is removed linearly over the clip) or advances by a constant offset per
cycle (locomotion); a small heading drift per cycle is removed the same way, so a walk loops along a straight line
(a turn of 45 degrees or more is kept: circles).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kinmo_core.editing.composite import heading_angles, motion_from_placed_joints
from kinmo_core.editing.inpaint import DEFAULT_MARGIN, inpaint_features
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.features import features_to_joints
from kinmo_core.motion.ik import global_rotations_from_positions
from kinmo_core.motion.rotations import qrot, y_rotation
from kinmo_core.motion.skeleton import FPS

LOOP_BAND: int = 24
"""Frames regenerated around the junction that rolling the clip creates (1.2 s)."""
IN_PLACE_SPEED: float = 0.3
"""m/s: a loop whose root travels slower than this per cycle is an in-place action and returns to its start."""
KEEP_TURN: float = np.pi / 4
"""A heading change per cycle at least this large (radians) is kept (walking in a circle), a smaller one removed."""


def _crossfade(base: np.ndarray, new: np.ndarray, start: int, stop: int, ramp: int | tuple[int, int]) -> np.ndarray:
    """Rows [start, stop) from new, faded in and out over `ramp` rows outside that span ((before, after) or both)."""
    out = base.copy()
    w = np.zeros(len(base))
    w[start:stop] = 1.0
    before, after = (ramp, ramp) if isinstance(ramp, int) else ramp
    for n, rows in ((before, lambda i: start - i), (after, lambda i: stop - 1 + i)):
        for i in range(1, n + 1):
            u = 1.0 - i / (n + 1)
            # Minimum-jerk weights: no velocity or acceleration kink where the fade starts and ends.
            if 0 <= rows(i) < len(base):
                w[rows(i)] = u**3 * (10.0 - 15.0 * u + 6.0 * u * u)
    return (1 - w)[:, None] * out + w[:, None] * new


def body_poses(joints: np.ndarray) -> np.ndarray:
    """Joints (T, 22, 3) relative to the pelvis, in the pelvis' own frame (its rotation from `ik`), frame by frame."""
    j = np.asarray(joints, np.float64)
    pelvis = np.asarray(global_rotations_from_positions(j))[:, 0]  # (T, 3, 3)
    return np.einsum("tji,tkj->tki", pelvis, j - j[:, :1])


def _calm_cut(joints: np.ndarray) -> int:
    """The frame in the middle half of the clip where the body accelerates least: the loop's wrap goes there."""
    b = body_poses(joints)
    acc = np.linalg.norm(np.diff(b, 2, axis=0), axis=-1).max(-1)  # acc[i] is centred on frame i + 1
    n = len(joints)
    lo, hi = n // 4, 3 * n // 4
    # The wrap spans the frames k - 2 .. k + 1: the acceleration at k - 1 and k.
    cost = [acc[k - 2] + acc[k - 1] for k in range(max(lo, 2), hi)]
    return max(lo, 2) + int(np.argmin(cost))


def loop_features(pipe, features: np.ndarray, text: str, seed: int = 0, levels: int | None = None,
                  descriptions: Mapping | None = None, band: int = LOOP_BAND) -> np.ndarray:
    """Return features (T, 263) of a loop made from features (T, 263): rolled by half, the junction in-painted."""
    n = len(features)
    if n < 20:
        raise KinmoInputError(f"a loop needs at least 20 frames (1 s), got {n}")
    k = _calm_cut(np.asarray(features_to_joints(np.asarray(features, np.float64))))
    rolled = np.concatenate([features[k:], features[:k]]).astype(np.float32)
    junction = n - k
    # The regenerated tokens and the cross-fade must stay clear of the clip's two ends: they are the wrap.
    clear = 2 * DEFAULT_MARGIN + 2
    half = max(2, min(band // 2, junction - clear, n - junction - clear))
    a, b = junction - half, junction + half
    gen, _ = inpaint_features(pipe, rolled, a, b, text, seed=seed, num=1, levels=levels, descriptions=descriptions)
    # Cross-faded over kept tokens next to the regenerated ones, where the decoded rows match the old.
    return _crossfade(rolled, gen[0], a - DEFAULT_MARGIN, b + DEFAULT_MARGIN, DEFAULT_MARGIN).astype(np.float32)


def _turn_about_origin(joints: np.ndarray, angle: np.ndarray) -> np.ndarray:
    q = np.broadcast_to(y_rotation(np.asarray(angle, np.float64))[:, None], joints.shape[:-1] + (4,))
    return qrot(q, joints)


def close_loop(features: np.ndarray) -> tuple[np.ndarray, dict]:
    """Return joints (T, 22, 3) of looping features, with per-cycle drift removed; and the cycle's root offset."""
    ext = np.concatenate([features, features[:1]]).astype(np.float64)
    joints = np.asarray(features_to_joints(ext))
    heading = heading_angles(ext)
    n = len(features)
    t = np.arange(n + 1) / n
    turn = float(heading[-1] - heading[0])
    turn = (turn + np.pi) % (2 * np.pi) - np.pi
    if abs(turn) < KEEP_TURN:
        # Headings rotate world -> body: turning frame t by +turn * t takes the drift out.
        joints = _turn_about_origin(joints, turn * t)
        turn = 0.0
    offset = joints[-1, 0] - joints[0, 0]
    offset[1] = 0.0
    in_place = float(np.linalg.norm(offset)) / (n / FPS) < IN_PLACE_SPEED
    if in_place:
        joints = joints - (t[:, None] * offset)[:, None, :]
        offset = np.zeros(3)
    return joints[:n], {"cycle_offset_m": offset.tolist(), "cycle_turn_rad": turn, "in_place": in_place}


def loop_motion(pipe, motion, seed: int = 0, levels: int | None = None, band: int = LOOP_BAND):
    """Return a seamlessly looping version of a generated motion (same length, text and descriptions)."""
    feats = loop_features(pipe, np.asarray(motion.features), motion.text or "a person moves", seed=seed,
                          levels=levels, descriptions=motion.descriptions, band=band)
    joints, info = close_loop(feats)
    out = motion_from_placed_joints(joints, text=motion.text, descriptions=motion.descriptions, source="kinmo-loop")
    out.loop_info = info  # informational, not saved
    return out


def loop_gaps(joints: np.ndarray) -> dict[str, float]:
    """Wrap-around gaps of a loop in the body frame, metres (max over joints), against the median frame-to-frame change.

    pose_gap: the first frame against the last one carried on at its velocity; velocity_gap: the velocity after the
    first frame against the velocity across the wrap. Both are what the clip's own second differences measure inside;
    'median_second_difference' gives their typical size there.
    """
    b = body_poses(joints)
    step = np.linalg.norm(np.diff(b, axis=0), axis=-1).max(-1)
    second = np.linalg.norm(np.diff(b, 2, axis=0), axis=-1).max(-1)
    wrap = b[0] - b[-1]
    pose_gap = np.linalg.norm(wrap - (b[-1] - b[-2]), axis=-1).max()
    velocity_gap = np.linalg.norm((b[1] - b[0]) - wrap, axis=-1).max()
    return {"pose_gap": float(pose_gap), "velocity_gap": float(velocity_gap), "median_step": float(np.median(step)),
            "median_second_difference": float(np.median(second))}
