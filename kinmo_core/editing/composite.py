"""Compositing generated motion into a source motion in joint space, exactly outside the edited frames and parts.

Motions are (T, 22, 3) joint positions in the world frame of the source (`Motion.joints`). Three steps:

1. `align_segment`: place a generated clip on the source's root path. The clip's heading and root are matched to
   the source's at the last frame before the range and at the first frame after it (a rigid yaw + translation per
   anchor); inside the range the two placements are blended with a smoothstep, so the root path re-joins the source
   at both ends and the clip keeps its own velocity near each seam.
2. `composite_parts`: the edited groups' joints from the clip, the others from the source. Each joint keeps the local
   rotation of the motion it is taken from (the bone vector in its parent's frame), so an arm follows the source's
   torso; an edited leg hangs from the source's hip but keeps its bones' world directions (`WORLD_GROUPS`); joints
   whose group and ancestors are untouched are copied bit for bit.
3. `blend_seams`: inertialization inside the range. The jump (position and velocity) between the source and the
   composite at each seam decays over `blend` frames with a cubic Hermite curve, so position and velocity are
   continuous across the seam; bone lengths are then restored to the source's frame by frame. Where the new
   motion's own accelerations near a seam still exceed SEAM_TARGET_FACTOR x the seam's scale (`seam_scales`: the
   95th percentile of the source, or of the stretch the seam joins where that is calmer), the range
   is then cross-faded from the source into the new motion with a minimum-jerk (quintic) weight over the fewest of
   CROSSFADE_FRAMES frames that brings them under it, so position, velocity and acceleration are continuous.

Frames outside the range, and joints whose group and ancestors are untouched, are never written.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.features import FEATURE_DIM, features_to_root, joints_to_features
from kinmo_core.motion.ik import estimate_offsets, global_rotations_from_positions, positions_to_rotations
from kinmo_core.motion.kinematic import GROUP_JOINTS
from kinmo_core.motion.rotations import qrot, y_rotation
from kinmo_core.motion.skeleton import FPS, NUM_JOINTS, PARENTS

DEFAULT_BLEND: int = 6
"""The fewest frames over which a seam's jump decays (0.3 s at 20 fps)."""
MAX_BLEND_SHARE: float = 0.5
"""A seam's blend covers at most this share of the range, so the middle keeps the new motion."""
BLEND_BUDGET_SHARE: float = 0.5
"""A seam blend's own acceleration stays under this share of the source's 95th percentile (the new motion adds
its own)."""
MIN_BLEND_ACCELERATION: float = 2.0
"""m/s^2: the least acceleration budget a seam blend gets (a still source would otherwise stretch it to the range)."""
SEAM_WINDOW: int = 5
"""Frames either side of a seam over which its acceleration is judged (the issue's seam measure)."""
SEAM_TARGET_FACTOR: float = 1.2
"""A seam's largest acceleration (changed joints, within SEAM_WINDOW frames) is aimed under this multiple of the
source's 95th percentile; the issue's bound is 1.5x, so this leaves a margin."""
CROSSFADE_FRAMES: tuple[int, ...] = (6, 8, 12, 16, 20, 24, 30)
"""Cross-fade lengths tried at a seam, shortest first (a longer fade keeps less of the new motion near the seam)."""
SEAM_CONTEXT_FRAMES: int = 40
"""Source frames outside the range, next to a seam, whose accelerations set that seam's scale (2 s): a blend joins
the motion there, so a calm stretch next to a busy one (a stand after a walk in a timeline) gets a calm seam."""
WORLD_GROUPS: tuple[str, ...] = ("left_leg", "right_leg")
"""Edited groups whose bones keep their world direction instead of their direction relative to the parent: a
generated knee lift tips the pelvis back, and the thigh, put at its angle to the source's upright pelvis, ends
0.1-0.2 m lower (3 of the benchmark's 9 knee-lift edits lost this way, BENCHMARKS.md); legs act against the floor."""
ORIGIN_TOLERANCE: float = 1e-3
"""Metres: a motion's first root must lie this close to x = z = 0 (the motion file contract)."""


def heading_angles(features: np.ndarray) -> np.ndarray:
    """Return each frame's heading angle (radians about Y) of the features' root rotation (world -> heading)."""
    quat, _ = features_to_root(np.asarray(features, np.float64))
    return np.unwrap(2.0 * np.arctan2(quat[:, 2], quat[:, 0]))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _place(joints: np.ndarray, turn: np.ndarray, src_root: np.ndarray, dst_root: np.ndarray) -> np.ndarray:
    """Turn joints (N, 22, 3) about Y by turn (N,) around src_root (N, 3) and move that point to dst_root (N, 3)."""
    q = np.broadcast_to(y_rotation(np.asarray(turn, np.float64))[:, None], joints.shape[:-1] + (4,))
    return qrot(q, joints - src_root[:, None]) + dst_root[:, None]


def align_segment(gen: np.ndarray, gen_heading: np.ndarray, src: np.ndarray, src_heading: np.ndarray,
                  start: int, stop: int, offset: int) -> np.ndarray:
    """Return the generated frames for the source range [start, stop), placed on the source's root path.

    gen (Tg, 22, 3) covers source frames [offset, offset + Tg); the anchors are the source frames start - 1 (0 when
    the range starts there) and stop (where it exists), at which the generated root and heading are matched to the
    source's.
    """
    t = np.arange(start, stop)
    g = gen[t - offset].astype(np.float64)
    # A range from frame 0 is anchored at frame 0 itself: a motion starts at the origin (the file contract).
    anchors = [k for k in (max(start - 1, 0), stop) if 0 <= k < len(src) and 0 <= k - offset < len(gen)]
    if not anchors:
        return g
    placed = []
    for k in anchors:
        # Headings rotate world -> body, so world_src = inv(h_src) h_gen world_gen: a turn by the difference.
        turn = gen_heading[k - offset] - src_heading[k]
        n = len(t)
        placed.append(_place(g, np.full(n, turn), np.repeat(gen[k - offset][None, 0], n, 0).astype(np.float64),
                             np.repeat(src[k][None, 0], n, 0).astype(np.float64)))
    if len(placed) == 1:
        return placed[0]
    w = _smoothstep((t - anchors[0]) / float(anchors[1] - anchors[0]))
    # Blend the two placements as rigid motions: root positions linearly, headings by angle.
    root = (1 - w)[:, None] * placed[0][:, 0] + w[:, None] * placed[1][:, 0]
    k0, k1 = anchors
    turn0 = gen_heading[k0 - offset] - src_heading[k0]
    turn1 = gen_heading[k1 - offset] - src_heading[k1]
    turn1 = turn0 + (turn1 - turn0 + np.pi) % (2 * np.pi) - np.pi
    turn = (1 - w) * turn0 + w * turn1
    return _place(g, turn, g[:, 0], root)


def composite_parts(src: np.ndarray, gen: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Return frames (N, 22, 3) with the joints of `groups` from gen and the rest from src, local rotations kept.

    src and gen are the same N frames, already placed in the same world frame (`align_segment`). An edited group
    of WORLD_GROUPS hangs from the source's pelvis but keeps its bones' directions in the world.
    """
    edited = {j for g in groups for j in GROUP_JOINTS[g]}
    world = {j for g in groups if g in WORLD_GROUPS for j in GROUP_JOINTS[g]}
    if not edited:
        return src.astype(np.float64).copy()
    if len(edited) == NUM_JOINTS:
        return gen.astype(np.float64).copy()
    s = src.astype(np.float64)
    g = gen.astype(np.float64)
    rs = global_rotations_from_positions(s, temporal=True)
    rg = global_rotations_from_positions(g, temporal=True)
    out = s.copy()
    rot_out = rs.copy()
    moved = np.zeros(NUM_JOINTS, bool)  # the joint or an ancestor comes from gen
    moved[0] = 0 in edited
    if moved[0]:
        out[:, 0], rot_out[:, 0] = g[:, 0], rg[:, 0]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        moved[j] = moved[p] or j in edited
        if not moved[j]:
            continue  # this joint and its ancestors are the source's: copied as they are
        use_pos, use_rot = (g, rg) if j in edited else (s, rs)
        # The bone in the parent's frame of the motion it comes from, put on the output's parent.
        local_bone = np.einsum("nji,nj->ni", use_rot[:, p], use_pos[:, j] - use_pos[:, p])
        out[:, j] = out[:, p] + np.einsum("nij,nj->ni", rot_out[:, p], local_bone)
        if j in world:
            rot_out[:, j] = rg[:, j]  # its children's bones keep their direction in the (placed) world
        else:
            rot_out[:, j] = rot_out[:, p] @ np.swapaxes(use_rot[:, p], -1, -2) @ use_rot[:, j]
    return out


def _hermite_decay(x0: np.ndarray, v0: np.ndarray, n: int, blend: int) -> np.ndarray:
    """Offsets (n, ...) that start at x0 with slope v0 per frame and reach zero (with zero slope) at frame blend."""
    u = np.clip(np.arange(n, dtype=np.float64) / blend, 0.0, 1.0)
    h00 = 2 * u**3 - 3 * u**2 + 1
    h10 = u**3 - 2 * u**2 + u
    shape = (n,) + (1,) * x0.ndim
    return h00.reshape(shape) * x0 + (blend * h10).reshape(shape) * v0


def seam_blend_frames(x0: np.ndarray, v0: np.ndarray, budget: float) -> int:
    """Frames a Hermite decay from jump x0 (m) and slope v0 (m/frame) needs to keep its acceleration under budget.

    The decay's largest acceleration is at its start: 6|x0|/k^2 + 4|v0|/k (m/frame^2); solved for k.
    """
    x = float(np.linalg.norm(x0, axis=-1).max()) if x0.size else 0.0
    v = float(np.linalg.norm(v0, axis=-1).max()) if v0.size else 0.0
    return int(np.ceil((4 * v + np.sqrt(16 * v * v + 24 * x * budget)) / (2 * budget)))


def _p95(joints: np.ndarray) -> float:
    acc = np.linalg.norm(np.diff(joints.astype(np.float64), 2, axis=0), axis=-1)
    return float(np.percentile(acc, 95)) if acc.size else 0.0


def seam_scales(src: np.ndarray, start: int, stop: int) -> dict[str, float]:
    """m/frame^2 per seam ("start", "stop"): the 95th percentile joint acceleration it is held to, the lower of the
    whole source's and that of the SEAM_CONTEXT_FRAMES source frames it joins (before the start, after the stop)."""
    whole = _p95(src)
    near = {"start": src[max(0, start - SEAM_CONTEXT_FRAMES):start], "stop": src[stop:stop + SEAM_CONTEXT_FRAMES]}
    return {side: min(whole, _p95(rows)) if len(rows) >= 3 else whole for side, rows in near.items()}


def acceleration_budget(scale: float, fps: int = FPS) -> float:
    """m/frame^2: BLEND_BUDGET_SHARE of a seam's acceleration scale (`seam_scales`), MIN_BLEND_ACCELERATION at
    least."""
    return max(BLEND_BUDGET_SHARE * scale, MIN_BLEND_ACCELERATION / fps**2)


def blend_seams(out: np.ndarray, src: np.ndarray, start: int, stop: int, blend: int | None = None) -> np.ndarray:
    """Remove the jumps between src (outside [start, stop)) and out (inside) by decaying offsets inside the range.

    out and src are full-length (T, 22, 3); returns a copy of out with the range's first and last frames corrected
    over `blend` frames (None: as many as keep the blend's own acceleration under a share of the seam's scale
    (`acceleration_budget`), at least DEFAULT_BLEND, at most MAX_BLEND_SHARE of the range). Joints equal in out and
    src stay exactly equal.
    """
    res = out.astype(np.float64).copy()
    s = src.astype(np.float64)
    n = stop - start
    scales = seam_scales(s, start, stop) if blend is None else {}
    touched = np.zeros(len(res), bool)
    for side in ("start", "stop"):
        if (side == "start" and start == 0) or (side == "stop" and stop == len(s)):
            continue
        if side == "start":
            i0, i1 = start, start + 1
        else:
            i0, i1 = stop - 1, stop - 2
        x0 = s[i0] - res[i0]
        v0 = (s[i1] - s[i0]) - (res[i1] - res[i0])
        k = DEFAULT_BLEND if blend is None else int(blend)
        if blend is None:
            k = max(k, seam_blend_frames(x0, v0, acceleration_budget(scales[side])))
        k = max(1, min(k, int(n * MAX_BLEND_SHARE)))
        h = _hermite_decay(x0, v0, k, k)
        if side == "start":
            res[start:start + k] += h
            touched[start:start + k] = True
        else:
            res[stop - k:stop] += h[::-1]
            touched[stop - k:stop] = True
    if touched.any():
        res[touched] = _restore_bones(res[touched], s[touched])
    if blend is None:
        res = _crossfade_seams(res, s, start, stop, scales)
    return res


def _min_jerk(x: np.ndarray) -> np.ndarray:
    """The quintic 0 -> 1 ramp with zero velocity and acceleration at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x**3 * (10.0 - 15.0 * x + 6.0 * x * x)


def _seam_peak(joints: np.ndarray, seam: int, changed: np.ndarray) -> float:
    """Largest acceleration (m/frame^2) of the changed joints within SEAM_WINDOW frames of the seam."""
    lo, hi = max(0, seam - SEAM_WINDOW - 1), min(len(joints), seam + SEAM_WINDOW + 2)
    acc = np.linalg.norm(np.diff(joints[lo:hi][:, changed], 2, axis=0), axis=-1)
    return float(acc.max()) if acc.size else 0.0


def _crossfade_seams(res: np.ndarray, s: np.ndarray, start: int, stop: int, scales: dict[str, float]) -> np.ndarray:
    """Cross-fade each seam of res from s with the shortest CROSSFADE_FRAMES ramp whose seam peak meets the target.

    The fade mixes positions (untouched joints stay exactly the source's) and restores the source's bone lengths in
    the faded frames; where no length meets the target, the one with the lowest peak is kept (none if none helps).
    """
    changed = np.abs(res - s).max(axis=(0, 2)) > 0
    n = stop - start
    if not changed.any() or n < 4:
        return res
    t = np.arange(start, stop, dtype=np.float64)
    for seam in (start, stop):
        if seam <= 0 or seam >= len(s):
            continue
        target = SEAM_TARGET_FACTOR * scales["start" if seam == start else "stop"]
        best, best_peak = res, _seam_peak(res, seam, changed)
        for frames in CROSSFADE_FRAMES:
            if best_peak <= target:
                break
            k = min(frames, int(n * MAX_BLEND_SHARE))
            if k < 2:
                break
            w = _min_jerk((t - (start - 1)) / k if seam == start else (stop - t) / k)
            fading = w < 1.0
            cand = res.copy()
            rows = np.arange(start, stop)[fading]
            cand[rows] = s[rows] + w[fading, None, None] * (res[rows] - s[rows])
            cand[rows] = _restore_bones(cand[rows], s[rows])
            peak = _seam_peak(cand, seam, changed)
            if peak < best_peak:
                best, best_peak = cand, peak
        res = best
    return res


def _restore_bones(joints: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Give each bone of joints (N, 22, 3) the length it has in ref (N, 22, 3), keeping its direction."""
    out = joints.copy()
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        if np.array_equal(joints[:, j], ref[:, j]) and np.array_equal(out[:, p], ref[:, p]):
            continue  # untouched: keep bit for bit
        bone = joints[:, j] - joints[:, p]
        length = np.linalg.norm(ref[:, j] - ref[:, p], axis=-1, keepdims=True)
        out[:, j] = out[:, p] + bone / np.maximum(np.linalg.norm(bone, axis=-1, keepdims=True), 1e-9) * length
    return out


def placed_features(joints: np.ndarray) -> np.ndarray:
    """Return features (T, 263) whose `features_to_joints` is joints (T, 22, 3) themselves (no re-placement)."""
    j = np.asarray(joints, np.float64)
    if np.abs(j[0, 0, [0, 2]]).max() > ORIGIN_TOLERANCE:
        raise KinmoInputError("the first frame's root must be at x = z = 0 (a KinMo motion's origin)")
    # Features drop the last frame (velocities are differences): extend by one frame at constant velocity.
    ext = np.concatenate([j, 2 * j[-1:] - j[-2:-1]], axis=0)
    feats = joints_to_features(ext, uniform_skeleton=False, canonical=False)
    assert feats.shape == (len(j), FEATURE_DIM)
    return feats.astype(np.float32)


def motion_from_placed_joints(joints: np.ndarray, text: str = "", descriptions=None, source: str = "kinmo-edit"):
    """Return a Motion whose joints are exactly `joints` (T, 22, 3), with features and rotations consistent."""
    from kinmo_core.motion.file import Motion, normalize_descriptions

    j = np.asarray(joints, np.float32)
    if j.ndim != 3 or j.shape[1:] != (NUM_JOINTS, 3) or len(j) < 2:
        raise KinmoInputError(f"joints must have shape (T >= 2, {NUM_JOINTS}, 3), got {j.shape}")
    if not np.isfinite(j).all():
        raise KinmoInputError("the edited motion has non-finite joint positions")
    return Motion(features=placed_features(j), joints=j,
                  rotations=np.asarray(positions_to_rotations(j), np.float32),
                  offsets=np.asarray(estimate_offsets(j), np.float32), text=str(text),
                  descriptions=normalize_descriptions(descriptions), source=source)
