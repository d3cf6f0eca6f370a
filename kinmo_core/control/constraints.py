"""The control file format: constraints on joint positions, their parsing, validation, and dense per-frame targets.

A control file is JSON: {"constraints": [...]} (a bare list works too). Each constraint is an object with a "kind":

- "trajectory": {"joint", "frames": [f, ...] (or "start": f), "positions": [[x, y, z], ...]}: a joint's position at
  every frame of a span; `null` for a coordinate leaves that axis free (e.g. [x, null, z] for the ground path only).
- "targets": the same fields, at a few frames.
- "pin": {"joint", "start", "end" (inclusive), "position": [x, y, z]}: the joint held at one point over a span;
  without "position" it stays where the generated motion has it at "start" (a planted foot, a hand on a rail).
- "path": {"points": [[x, z], ...], "joint": "pelvis" (the only one), "seconds" (optional), "start"/"end"
  (optional frames), "facing": "path" (default) or "free", "speed" (optional m/s)}: an untimed ground polyline for
  the pelvis, sampled by arc length at a speed read off the text ("walks", "runs", ...) unless seconds are given.
- "keyframes": {"frames": [f, ...], "poses": [[[x, y, z] x 22], ...]}: full-body poses (in-betweening).

Units and axes are the motion file's: metres, Y up, frames at 20 fps, and every KinMo motion starts with the pelvis at
x = z = 0 facing +Z. A path is placed there: its first point is moved to the origin and, when the body faces along it,
its first direction is turned onto +Z; every other constraint of the file moves with it (`ControlTargets.placement`
says how, so a caller can put the motion back onto the original curve).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS

KINDS: tuple[str, ...] = ("trajectory", "targets", "pin", "path", "keyframes")
MAX_CONTROL_BYTES: int = 20_000_000
"""Largest control file read (a dense trajectory of 200 frames for all joints is about 100 kB)."""
MAX_COORDINATE: float = 1000.0
"""Metres; coordinates farther from the origin than this are taken as a unit or parsing mistake."""

_FIELDS: dict[str, set[str]] = {
    "trajectory": {"kind", "joint", "frames", "start", "positions", "weight"},
    "targets": {"kind", "joint", "frames", "start", "positions", "weight"},
    "pin": {"kind", "joint", "start", "end", "position", "weight"},
    "path": {"kind", "joint", "points", "seconds", "start", "end", "facing", "speed"},
    "keyframes": {"kind", "frames", "poses", "weight"},
}


@dataclass
class Constraint:
    """One validated constraint (the fields its kind uses; see the module docstring)."""

    kind: str
    joint: str = "pelvis"
    frames: list[int] = field(default_factory=list)
    positions: np.ndarray | None = None
    """(F, 3) for trajectory/targets, (3,) for a pin, (F, 22, 3) for keyframes; NaN where an axis is free."""
    start: int | None = None
    end: int | None = None
    points: np.ndarray | None = None
    """(P, 2) ground points of a path."""
    seconds: float | None = None
    speed: float | None = None
    facing: str = "path"
    label: str = ""

    def to_dict(self) -> dict:
        """Return the constraint as a JSON-ready dict in the file format."""
        def lst(a):
            return None if a is None else np.where(np.isfinite(a), a, np.nan).tolist()

        d: dict = {"kind": self.kind}
        if self.kind in ("trajectory", "targets"):
            d.update(joint=self.joint, frames=list(self.frames), positions=_nulls(lst(self.positions)))
        elif self.kind == "pin":
            d.update(joint=self.joint, start=self.start, end=self.end)
            if self.positions is not None:
                d["position"] = _nulls(lst(self.positions))
        elif self.kind == "path":
            d.update(joint=self.joint, points=lst(self.points), facing=self.facing)
            for k in ("seconds", "speed", "start", "end"):
                if getattr(self, k) is not None:
                    d[k] = getattr(self, k)
        else:
            d.update(frames=list(self.frames), poses=lst(self.positions))
        return d


def _nulls(x):
    if isinstance(x, list):
        return [_nulls(v) for v in x]
    return None if isinstance(x, float) and math.isnan(x) else x


def _where(i: int, kind: str | None = None) -> str:
    return f"constraint {i}" + (f" ({kind})" if kind else "")


def _int(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or not float(v).is_integer():
        raise KinmoInputError(f"{what} must be a whole frame number, got {v!r}")
    if v < 0:
        raise KinmoInputError(f"{what} is {int(v)}: frames start at 0")
    return int(v)


def _number(v, what: str, allow_null: bool = False) -> float:
    if v is None and allow_null:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise KinmoInputError(f"{what} must be a number, got {v!r}")
    x = float(v)
    if not math.isfinite(x):
        raise KinmoInputError(f"{what} is not a finite number ({v!r})")
    if abs(x) > MAX_COORDINATE:
        raise KinmoInputError(f"{what} is {x:g} m, farther than {MAX_COORDINATE:g} m from the origin "
                              "(units are metres)")
    return x


def _point(v, what: str, dims: int = 3, allow_null: bool = True) -> np.ndarray:
    if not isinstance(v, list | tuple) or len(v) != dims:
        raise KinmoInputError(f"{what} must be a list of {dims} numbers, got {v!r}"[:200])
    p = np.array([_number(x, what, allow_null) for x in v], np.float64)
    if np.isnan(p).all():
        raise KinmoInputError(f"{what} has no coordinate (all null)")
    return p


def _joint(v, where: str) -> str:
    if not isinstance(v, str) or v not in JOINT_INDEX:
        raise KinmoInputError(f"{where}: unknown joint {v!r}; expected one of {', '.join(JOINT_NAMES)}")
    return v


def _frames(c: Mapping, n: int, where: str) -> list[int]:
    if "frames" in c:
        fr = c["frames"]
        if not isinstance(fr, list) or not fr:
            raise KinmoInputError(f"{where}: frames must be a non-empty list of frame numbers")
        out = [_int(f, f"{where}: frame") for f in fr]
        if len(out) != n:
            raise KinmoInputError(f"{where}: {len(out)} frames but {n} positions")
        if len(set(out)) != len(out):
            raise KinmoInputError(f"{where}: a frame is listed twice")
        return out
    if "start" in c:
        s = _int(c["start"], f"{where}: start")
        return list(range(s, s + n))
    raise KinmoInputError(f"{where}: give the frames (\"frames\": [...] or \"start\": first frame)")


def parse_constraint(c, i: int = 0) -> Constraint:
    """Validate one constraint object of the file format; KinmoInputError (one line) for anything wrong."""
    if not isinstance(c, Mapping):
        raise KinmoInputError(f"{_where(i)} must be an object with a \"kind\"")
    kind = c.get("kind")
    if kind not in KINDS:
        raise KinmoInputError(f"{_where(i)}: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    where = _where(i, kind)
    extra = sorted(set(c) - _FIELDS[kind])
    if extra:
        raise KinmoInputError(f"{where}: unknown field(s) {', '.join(map(repr, extra))}; a {kind} takes "
                              f"{', '.join(sorted(_FIELDS[kind] - {'kind'}))}")
    if kind in ("trajectory", "targets"):
        joint = _joint(c.get("joint"), where)
        pos = c.get("positions")
        if not isinstance(pos, list) or not pos:
            raise KinmoInputError(f"{where}: positions must be a non-empty list of [x, y, z]")
        p = np.stack([_point(v, f"{where}: position {k}") for k, v in enumerate(pos)])
        return Constraint(kind, joint, _frames(c, len(p), where), p, label=f"{kind} {joint}")
    if kind == "pin":
        joint = _joint(c.get("joint"), where)
        if "start" not in c or "end" not in c:
            raise KinmoInputError(f"{where}: give \"start\" and \"end\" frames")
        s, e = _int(c["start"], f"{where}: start"), _int(c["end"], f"{where}: end")
        if e < s:
            raise KinmoInputError(f"{where}: end ({e}) is before start ({s})")
        p = _point(c["position"], f"{where}: position") if c.get("position") is not None else None
        return Constraint(kind, joint, list(range(s, e + 1)), p, start=s, end=e, label=f"pin {joint}")
    if kind == "keyframes":
        poses = c.get("poses")
        if not isinstance(poses, list) or not poses:
            raise KinmoInputError(f"{where}: poses must be a non-empty list of poses ({NUM_JOINTS} [x, y, z] each)")
        out = []
        for k, pose in enumerate(poses):
            if not isinstance(pose, list) or len(pose) != NUM_JOINTS:
                raise KinmoInputError(f"{where}: pose {k} must list {NUM_JOINTS} joint positions in the order of "
                                      "kinmo_core.motion.skeleton.JOINT_NAMES")
            out.append(np.stack([_point(v, f"{where}: pose {k} joint {j}", allow_null=False)
                                 for j, v in enumerate(pose)]))
        return Constraint(kind, "", _frames(c, len(out), where), np.stack(out), label="keyframes")
    # path
    joint = _joint(c.get("joint", "pelvis"), where)
    if joint != "pelvis":
        raise KinmoInputError(f"{where}: a path guides the pelvis; use a trajectory for {joint}")
    pts = c.get("points")
    if not isinstance(pts, list) or len(pts) < 2:
        raise KinmoInputError(f"{where}: points must list at least two [x, z] ground points")
    points = np.stack([_point(v, f"{where}: point {k}", dims=2, allow_null=False) for k, v in enumerate(pts)])
    from kinmo_core.control.path import MAX_PATH_LENGTH, MIN_PATH_LENGTH, path_length

    length = path_length(points)
    if not MIN_PATH_LENGTH <= length <= MAX_PATH_LENGTH:
        raise KinmoInputError(f"{where}: the path is {length:.3g} m long; it must be between "
                              f"{MIN_PATH_LENGTH * 100:g} cm and {MAX_PATH_LENGTH:g} m")
    seconds = None if c.get("seconds") is None else _number(c["seconds"], f"{where}: seconds")
    if seconds is not None and seconds <= 0:
        raise KinmoInputError(f"{where}: seconds must be positive, got {seconds:g}")
    speed = None if c.get("speed") is None else _number(c["speed"], f"{where}: speed")
    if speed is not None and not 0.05 <= speed <= 12.0:
        raise KinmoInputError(f"{where}: speed must be between 0.05 and 12 m/s, got {speed:g}")
    facing = c.get("facing", "path")
    if facing not in ("path", "free"):
        raise KinmoInputError(f"{where}: facing must be \"path\" or \"free\", got {facing!r}")
    s = _int(c["start"], f"{where}: start") if c.get("start") is not None else None
    e = _int(c["end"], f"{where}: end") if c.get("end") is not None else None
    if s is not None and e is not None and e <= s:
        raise KinmoInputError(f"{where}: end ({e}) must come after start ({s})")
    return Constraint(kind, joint, [], None, start=s, end=e, points=points, seconds=seconds, speed=speed,
                      facing=facing, label="path")


def parse_constraints(obj) -> list[Constraint]:
    """Validate constraints given as the file's object ({"constraints": [...]}), a list, or Constraint objects."""
    if isinstance(obj, Mapping):
        extra = sorted(set(obj) - {"constraints"})
        if extra:
            raise KinmoInputError(f"unknown top-level field(s) {', '.join(map(repr, extra))}; expected \"constraints\"")
        obj = obj.get("constraints")
    if isinstance(obj, Constraint):
        obj = [obj]
    if not isinstance(obj, Sequence) or isinstance(obj, str) or not obj:
        raise KinmoInputError("the control file needs a non-empty \"constraints\" list")
    out = [c if isinstance(c, Constraint) else parse_constraint(c, i) for i, c in enumerate(obj)]
    if sum(c.kind == "path" for c in out) > 1:
        raise KinmoInputError("only one path per motion (join the pieces into one polyline)")
    return out


def load_control(path: str | os.PathLike) -> list[Constraint]:
    """Read and validate a control file (JSON)."""
    path = Path(path)
    if not path.is_file():
        raise KinmoInputError(f"{path}: no such file")
    if path.stat().st_size > MAX_CONTROL_BYTES:
        raise KinmoInputError(f"{path}: larger than {MAX_CONTROL_BYTES // 1_000_000} MB; not a control file")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise KinmoInputError(f"{path}: not a UTF-8 JSON file") from None
    except json.JSONDecodeError as e:
        raise KinmoInputError(f"{path}: malformed JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    try:
        return parse_constraints(obj)
    except KinmoInputError as e:
        raise KinmoInputError(f"{path}: {e}") from None


@dataclass
class ControlTargets:
    """Constraints turned into per-frame targets on a motion of `frames` frames."""

    frames: int
    positions: np.ndarray
    """(T, 22, 3) target positions in motion coordinates; NaN where a joint or axis is free."""
    heading: np.ndarray | None = None
    """(T, 2) unit ground direction (x, z) the body should face (from a path), NaN where free; None if none."""
    placement: dict = field(default_factory=lambda: {"offset": [0.0, 0.0], "yaw_degrees": 0.0})
    """How the file's coordinates were moved into the motion's: p_motion = R(yaw) (p_file - offset) on the ground."""
    labels: list[tuple[str, np.ndarray]] = field(default_factory=list)
    """(label, boolean (T, 22) mask) per constraint, for reporting residuals."""
    pending_pins: list[tuple[int, int, int]] = field(default_factory=list)
    """(joint, start, end) of pins without a position: they hold the generated position at their start."""

    @property
    def mask(self) -> np.ndarray:
        """(T, 22, 3) True where an axis is constrained."""
        return np.isfinite(self.positions)

    @property
    def empty(self) -> bool:
        """True when nothing is constrained."""
        return not self.mask.any() and self.heading is None and not self.pending_pins

    def resolve_pins(self, joints: np.ndarray) -> ControlTargets:
        """Return targets with position-less pins fixed where `joints` (T, 22, 3) has them at their start."""
        if not self.pending_pins:
            return self
        pos = self.positions.copy()
        for j, s, e in self.pending_pins:
            pos[s:e + 1, j] = np.where(np.isnan(pos[s:e + 1, j]), joints[s, j], pos[s:e + 1, j])
        return ControlTargets(self.frames, pos, self.heading, self.placement, self.labels, [])

    def residuals(self, joints: np.ndarray) -> list[dict]:
        """Return per constraint the mean and max distance (m) of `joints` (T, 22, 3) from its targets."""
        j = np.asarray(joints, np.float64)[: self.frames]
        diff = np.where(self.mask, j - self.positions, 0.0)
        dist = np.linalg.norm(diff, axis=-1)
        out = []
        for label, m in self.labels:
            d = dist[m]
            if d.size:
                worst = np.unravel_index(int(np.argmax(np.where(m, dist, -1.0))), m.shape)
                out.append({"constraint": label, "mean_m": float(d.mean()), "max_m": float(d.max()),
                            "worst_frame": int(worst[0]), "worst_joint": JOINT_NAMES[int(worst[1])]})
        return out


def needed_frames(constraints: Sequence[Constraint]) -> int:
    """Return the fewest frames a motion must have to hold every constrained frame."""
    last = 0
    for c in constraints:
        if c.frames:
            last = max(last, max(c.frames) + 1)
        for f in (c.start, c.end):
            if f is not None:
                last = max(last, f + 1)
    return last


def path_frames(constraints: Sequence[Constraint], text: str = "",
                frame_range: tuple[int, int] = (20, 200)) -> int | None:
    """Return the frames a path asks for (from its seconds, speed, or the text's gait), or None without a path."""
    from kinmo_core.control.path import path_duration

    for c in constraints:
        if c.kind == "path":
            return path_duration(c.points, text, seconds=c.seconds, speed=c.speed, start=c.start or 0,
                                 frame_range=frame_range)
    return None


def build_targets(constraints: Sequence[Constraint], frames: int, text: str = "",
                  pelvis_xz: np.ndarray | None = None) -> ControlTargets:
    """Turn constraints into per-frame targets on a motion of `frames` frames; KinmoInputError if they do not fit.

    pelvis_xz (frames, 2): the generated motion's pelvis on the ground; a path then takes that gait's pace
    (`path.gait_progress`) instead of an even one.
    """
    from kinmo_core.control.path import gait_progress, path_length, place_path, sample_path

    n = int(frames)
    pos = np.full((n, NUM_JOINTS, 3), np.nan)
    heading = None
    labels: list[tuple[str, np.ndarray]] = []
    pending: list[tuple[int, int, int]] = []
    # The path fixes where the file's coordinates sit in the motion's frame; everything else moves with it.
    offset, yaw = np.zeros(2), 0.0
    path = next((c for c in constraints if c.kind == "path"), None)
    if path is not None:
        offset, yaw = place_path(path.points, turn=path.facing == "path")
    cos, sin = math.cos(yaw), math.sin(yaw)

    def to_motion(p: np.ndarray) -> np.ndarray:
        # Ground rotation by yaw about +Y after moving `offset` to the origin; NaN axes stay NaN.
        q = np.array(p, np.float64)
        x, z = q[..., 0] - offset[0], q[..., 2] - offset[1]
        q[..., 0] = cos * x + sin * z
        q[..., 2] = -sin * x + cos * z
        return q

    def check(fr: Sequence[int], where: str) -> None:
        bad = [f for f in fr if f >= n]
        if bad:
            raise KinmoInputError(f"{where}: frame {bad[0]} is outside the motion (frames 0 to {n - 1}, "
                                  f"{n / 20:g} s at 20 fps)")

    def put(m: np.ndarray, fr: Sequence[int], joints: Sequence[int], values: np.ndarray, where: str) -> None:
        for k, f in enumerate(fr):
            for jj, j in enumerate(joints):
                v = values[k, jj]
                old = pos[f, j]
                clash = np.isfinite(old) & np.isfinite(v) & (np.abs(old - v) > 1e-6)
                if clash.any():
                    raise KinmoInputError(f"{where}: {JOINT_NAMES[j]} at frame {f} is already constrained elsewhere "
                                          "to another position")
                pos[f, j] = np.where(np.isfinite(v), v, old)
                m[f, j] = True

    for i, c in enumerate(constraints):
        where = _where(i, c.kind)
        m = np.zeros((n, NUM_JOINTS), bool)
        if c.kind in ("trajectory", "targets"):
            check(c.frames, where)
            put(m, c.frames, [JOINT_INDEX[c.joint]], to_motion(c.positions)[:, None], where)
        elif c.kind == "pin":
            check([c.end], where)
            j = JOINT_INDEX[c.joint]
            if c.positions is None:
                pending.append((j, c.start, c.end))
                m[c.start:c.end + 1, j] = True
            else:
                vals = np.repeat(to_motion(c.positions)[None, None], len(c.frames), axis=0)
                put(m, c.frames, [j], vals, where)
        elif c.kind == "keyframes":
            check(c.frames, where)
            put(m, c.frames, range(NUM_JOINTS), to_motion(c.positions), where)
        else:
            s = c.start or 0
            e = n - 1 if c.end is None else c.end
            check([e], where)
            if e - s < 2:
                raise KinmoInputError(f"{where}: the path needs at least 3 frames")
            prog = None if pelvis_xz is None else gait_progress(np.asarray(pelvis_xz)[s:e + 1], path_length(c.points))
            xz, head = sample_path(c.points, e - s + 1, offset, yaw, prog)
            vals = np.full((e - s + 1, 1, 3), np.nan)
            vals[:, 0, 0], vals[:, 0, 2] = xz[:, 0], xz[:, 1]
            put(m, range(s, e + 1), [0], vals, where)
            if c.facing == "path":
                heading = np.full((n, 2), np.nan)
                heading[s:e + 1] = head
        labels.append((c.label or c.kind, m))
    placement = {"offset": offset.round(6).tolist(), "yaw_degrees": round(math.degrees(yaw), 6)}
    return ControlTargets(n, pos, heading, placement, labels, pending)
