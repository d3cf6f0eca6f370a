"""BVH motion capture files: a reader for real-world rigs and a writer for the 22-joint KinMo skeleton.

The reader accepts 3- and 6-channel joints (some exporters, e.g. the Bandai-Namco set, put position channels on
every joint; a position channel replaces that component of the joint's OFFSET), any rotation order per joint,
End Sites, several roots, and converts to KinMo's conventions: metres and Y up. Units and the up axis are detected
when not given: the unit that makes the rig's hand-to-foot span closest to a human's, and the axis along which the
body is tallest.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from kinmo_core.errors import KinmoInputError
from kinmo_core.fileio import atomic_output
from kinmo_core.limits import (
    MAX_BVH_BYTES,
    MAX_BVH_DEPTH,
    MAX_BVH_FRAME_JOINTS,
    MAX_BVH_JOINTS,
    MAX_BVH_VALUE,
    MAX_BVH_VALUES,
    check_duration,
)
from kinmo_core.motion.skeleton import FPS, JOINT_NAMES, NUM_JOINTS, PARENTS, TARGET_OFFSETS

UNITS: dict[str, float] = {"m": 1.0, "dm": 0.1, "cm": 0.01, "mm": 0.001, "in": 0.0254}
"""Length units the reader knows, as metres per unit."""

# Longest path between two joints of a human rig (fingertips or wrist to the opposite toes), in metres.
_HUMAN_SPAN_M = 2.0
# Z-up to Y-up: a -90 degree turn about X, (x, y, z) -> (x, z, -y); keeps the handedness.
_Z_TO_Y = Rotation.from_euler("x", -90.0, degrees=True)

_ROT_AXES = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}
_POS_AXES = {"Xposition": 0, "Yposition": 1, "Zposition": 2}


@dataclass
class BvhData:
    """A parsed BVH motion in metres with Y up: skeleton, per-frame local rotations and translations."""

    names: list[str]
    parents: np.ndarray  # (J,) int, -1 for roots
    offsets: np.ndarray  # (J, 3) rest offsets from the parent, metres
    channels: list[list[str]]  # channel names per joint, as in the file
    rotations: np.ndarray  # (T, J, 4) local wxyz quaternions
    positions: np.ndarray  # (T, J, 3) local translations (offset, with position channels applied), metres
    fps: float
    unit_scale: float = 1.0  # metres per file unit
    unit: str = "m"
    up: str = "y"  # the file's up axis
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)  # joint index -> End Site offset (metres)
    path: str = ""

    @property
    def num_frames(self) -> int:
        """Number of frames."""
        return int(self.rotations.shape[0])

    def index(self, name: str) -> int:
        """Return the index of the joint called `name`."""
        try:
            return self.names.index(name)
        except ValueError as exc:
            raise KinmoInputError(f"joint {name!r} is not in {self.path or 'the BVH file'}") from exc

    def global_positions(self, frames=None) -> np.ndarray:
        """Return (T, J, 3) world positions in metres (Y up) of all or the given frames, honouring position channels."""
        if frames is None:
            return fk_positions(self.parents, self.rotations, self.positions)
        return fk_positions(self.parents, self.rotations[frames], self.positions[frames])

    def global_rotations(self) -> np.ndarray:
        """Return (T, J, 4) world wxyz rotations."""
        t, j = self.rotations.shape[:2]
        out = np.empty((t, j, 4))
        rots: list[Rotation | None] = [None] * j
        for k in range(j):
            local = Rotation.from_quat(_wxyz_to_xyzw(self.rotations[:, k]))
            rots[k] = local if self.parents[k] < 0 else rots[self.parents[k]] * local
            out[:, k] = _xyzw_to_wxyz(rots[k].as_quat())
        return out


def _wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    return np.concatenate((q[..., 1:], q[..., :1]), axis=-1)


def _xyzw_to_wxyz(q: np.ndarray) -> np.ndarray:
    return np.concatenate((q[..., 3:], q[..., :3]), axis=-1)


def fk_positions(parents: np.ndarray, rotations: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """Return world positions (T, J, 3) of a tree from local wxyz rotations (T, J, 4) and translations (T, J, 3)."""
    t, j = rotations.shape[:2]
    pos = np.empty((t, j, 3))
    glob: list[Rotation | None] = [None] * j
    for k in range(j):
        local = Rotation.from_quat(_wxyz_to_xyzw(rotations[:, k]))
        p = parents[k]
        if p < 0:
            glob[k] = local
            pos[:, k] = translations[:, k]
        else:
            glob[k] = glob[p] * local
            pos[:, k] = pos[:, p] + glob[p].apply(translations[:, k])
    return pos


class _Tokens:
    def __init__(self, text: str, path: str):
        self.lines = text.splitlines()
        self.path = path
        self.line = 0
        self.buf: list[str] = []

    def next(self) -> str:
        while not self.buf:
            if self.line >= len(self.lines):
                raise KinmoInputError(f"{self.path}: the HIERARCHY section ends early (truncated file?)")
            self.buf = self.lines[self.line].split()[::-1]
            self.line += 1
        return self.buf.pop()

    def number(self) -> float:
        tok = self.next()
        try:
            value = float(tok)
        except ValueError as exc:
            raise KinmoInputError(f"{self.path}: expected a number near line {self.line}, got {tok!r}") from exc
        if not math.isfinite(value):
            raise KinmoInputError(f"{self.path}: non-finite value {tok!r} near line {self.line}")
        if abs(value) > MAX_BVH_VALUE:
            raise KinmoInputError(f"{self.path}: value {tok!r} near line {self.line} is out of range "
                                  f"(at most {MAX_BVH_VALUE:g} in size)")
        return value

    def expect(self, word: str) -> None:
        tok = self.next()
        if tok != word:
            raise KinmoInputError(f"{self.path}: expected {word!r} near line {self.line}, got {tok!r}")


def _parse_hierarchy(tok: _Tokens):
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    end_sites: dict[int, list[float]] = {}
    # Channels must line up with joint indices; collect them by index instead of append order.
    order_channels: dict[int, list[str]] = {}
    seen: set[str] = set()

    def open_joint(parent: int, depth: int) -> int:
        name = tok.next()
        if name in seen:
            raise KinmoInputError(f"{tok.path}: joint name {name!r} appears twice (near line {tok.line})")
        if len(names) >= MAX_BVH_JOINTS:
            raise KinmoInputError(f"{tok.path}: more than {MAX_BVH_JOINTS} joints; KinMo reads at most "
                                  f"{MAX_BVH_JOINTS}")
        if depth > MAX_BVH_DEPTH:
            raise KinmoInputError(f"{tok.path}: joints nested more than {MAX_BVH_DEPTH} deep (near line {tok.line})")
        seen.add(name)
        index = len(names)
        names.append(name)
        parents.append(parent)
        tok.expect("{")
        tok.expect("OFFSET")
        offsets.append([tok.number() for _ in range(3)])
        order_channels[index] = []
        return index

    # An explicit stack instead of recursion: a hostile file may nest joints far deeper than Python's stack.
    word = tok.next()
    while word == "ROOT":
        stack = [open_joint(-1, 1)]
        while stack:
            index = stack[-1]
            name = names[index]
            word = tok.next()
            if word == "CHANNELS":
                count = tok.number()
                if count != int(count) or count < 0 or count > 6:
                    raise KinmoInputError(f"{tok.path}: bad channel count {count:g} for joint {name!r}")
                chans = [tok.next() for _ in range(int(count))]
                bad = [c for c in chans if c not in _ROT_AXES and c not in _POS_AXES]
                if bad:
                    raise KinmoInputError(f"{tok.path}: unknown channel {bad[0]!r} on joint {name!r}")
                order_channels[index] = chans
            elif word == "JOINT":
                stack.append(open_joint(index, len(stack) + 1))
            elif word == "End":
                tok.expect("Site")
                tok.expect("{")
                tok.expect("OFFSET")
                end_sites[index] = [tok.number() for _ in range(3)]
                tok.expect("}")
            elif word == "}":
                stack.pop()
            else:
                raise KinmoInputError(f"{tok.path}: unexpected {word!r} near line {tok.line} in joint {name!r}")
        word = tok.next()
    if not names:
        raise KinmoInputError(f"{tok.path}: no ROOT joint in the HIERARCHY section")
    if word != "MOTION":
        raise KinmoInputError(f"{tok.path}: expected MOTION after the hierarchy, got {word!r}")
    channels = [order_channels[i] for i in range(len(names))]
    return names, parents, offsets, channels, end_sites


def _parse_motion_header(tok: _Tokens) -> tuple[int, float]:
    tok.expect("Frames:")
    frames = tok.number()
    tok.expect("Frame")
    tok.expect("Time:")
    frame_time = tok.number()
    if frames != int(frames) or frames < 0:
        raise KinmoInputError(f"{tok.path}: bad frame count {frames:g}")
    if frames == 0:
        raise KinmoInputError(f"{tok.path}: the file has zero frames")
    if frame_time <= 0:
        raise KinmoInputError(f"{tok.path}: bad Frame Time {frame_time:g} (must be > 0)")
    return int(frames), frame_time


def _resolve_unit(unit: str | float, span: float, path: str) -> tuple[float, str]:
    if isinstance(unit, int | float) and not isinstance(unit, bool):
        if unit <= 0 or not math.isfinite(unit):
            raise KinmoInputError(f"unit scale must be a positive number of metres per file unit, got {unit}")
        return float(unit), f"{unit:g} m"
    if unit != "auto":
        if unit not in UNITS:
            raise KinmoInputError(f"unknown unit {unit!r}; use one of auto, {', '.join(UNITS)} or a number")
        return UNITS[unit], unit
    if span <= 0:
        raise KinmoInputError(f"{path}: cannot detect the length unit of a rig with no bones; pass unit=...")
    name = min(UNITS, key=lambda u: abs(math.log(span * UNITS[u] / _HUMAN_SPAN_M)))
    return UNITS[name], name


def _rig_span(parents: list[int], lengths: np.ndarray, moving: np.ndarray) -> float:
    """Longest joint-to-joint path along the bones, leaving out bones whose length changes (placements, not body)."""
    n = len(parents)
    adj: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for k, p in enumerate(parents):
        if p >= 0 and not moving[k]:
            adj[k].append((p, lengths[k]))
            adj[p].append((k, lengths[k]))

    def farthest(start: int) -> tuple[int, float]:
        dist = {start: 0.0}
        stack = [start]
        while stack:
            a = stack.pop()
            for b, w in adj[a]:
                if b not in dist:
                    dist[b] = dist[a] + w
                    stack.append(b)
        far = max(dist, key=dist.get)
        return far, dist[far]

    best = 0.0
    for start in range(n):
        if adj[start]:
            a, _ = farthest(start)
            _, d = farthest(a)
            best = max(best, d)
    return best


def read_bvh(path: str | os.PathLike, unit: str | float = "auto", up: str = "auto") -> BvhData:
    """Read a BVH file into metres, Y up; `unit` is auto, m, dm, cm, mm, in or metres per unit; `up` is auto, y or z."""
    p = Path(path)
    if not p.is_file():
        raise KinmoInputError(f"BVH file not found: {p}")
    try:
        size = p.stat().st_size
        if size > MAX_BVH_BYTES:
            raise KinmoInputError(f"{p}: the file has {size / 2**20:.0f} MiB; KinMo reads BVH files of at most "
                                  f"{MAX_BVH_BYTES // 2**20} MiB")
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise KinmoInputError(f"cannot read {p}: {exc.strerror}") from exc
    head = text.lstrip()[:9]
    if head.upper() != "HIERARCHY":
        raise KinmoInputError(f"{p} is not a BVH file (it does not start with HIERARCHY)")
    if up not in ("auto", "y", "z"):
        raise KinmoInputError(f"up must be auto, y or z, got {up!r}")
    motion_at = text.find("\nMOTION")
    if motion_at < 0:
        raise KinmoInputError(f"{p}: no MOTION section (truncated file?)")
    tok = _Tokens(text[: motion_at + len("\nMOTION")], str(p))
    tok.expect("HIERARCHY")
    names, parents, offsets, channels, end_sites = _parse_hierarchy(tok)

    # The MOTION block: two header lines then whitespace-separated numbers.
    rest = text[motion_at + len("\nMOTION"):]
    del text
    lines = rest.lstrip().split("\n", 2)
    del rest
    if len(lines) < 2:
        raise KinmoInputError(f"{p}: the MOTION header is incomplete (truncated file?)")
    htok = _Tokens("\n".join(lines[:2]), str(p))
    frames, frame_time = _parse_motion_header(htok)
    body = lines[2] if len(lines) > 2 else ""
    del lines
    n_channels = sum(len(c) for c in channels)
    if n_channels == 0:
        raise KinmoInputError(f"{p}: no joint has channels")
    # Sizes from the header are checked before anything of that size is allocated.
    check_duration(frames, 1.0 / frame_time, str(p))
    if frames * n_channels > MAX_BVH_VALUES:
        raise KinmoInputError(f"{p}: {frames} frames x {n_channels} channels is more than the "
                              f"{MAX_BVH_VALUES:,} values KinMo reads")
    if frames * len(names) > MAX_BVH_FRAME_JOINTS:
        raise KinmoInputError(f"{p}: {frames} frames x {len(names)} joints is more than the "
                              f"{MAX_BVH_FRAME_JOINTS:,} KinMo reads")
    expected = frames * n_channels
    # fromstring holds only the numbers (no list of token strings); an unparsable token stops it with a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            values = np.fromstring(body, dtype=np.float64, sep=" ") if body.strip() else np.empty(0)
        except (DeprecationWarning, ValueError) as exc:
            raise KinmoInputError(f"{p}: the MOTION data contain a non-numeric value") from exc
    del body
    if values.size < expected:
        got = values.size / n_channels
        raise KinmoInputError(
            f"{p}: truncated: {frames} frames of {n_channels} values declared, found {values.size} values "
            f"({got:.1f} frames)"
        )
    if values.size > expected:
        raise KinmoInputError(f"{p}: {values.size - expected} more values than {frames} frames x {n_channels} channels")
    if not np.isfinite(values).all():
        raise KinmoInputError(f"{p}: the MOTION data contain NaN or infinite values")
    if np.abs(values).max() > MAX_BVH_VALUE:
        raise KinmoInputError(f"{p}: the MOTION data contain a value of {np.abs(values).max():.3g}; "
                              f"KinMo reads values up to {MAX_BVH_VALUE:g}")
    data = values.reshape(frames, n_channels)

    n = len(names)
    off = np.asarray(offsets, dtype=np.float64)
    translations = np.repeat(off[None], frames, axis=0)
    rotations = np.zeros((frames, n, 4))
    rotations[..., 0] = 1.0
    col = 0
    for k, chans in enumerate(channels):
        rot_cols = [(i, _ROT_AXES[c]) for i, c in enumerate(chans) if c in _ROT_AXES]
        for i, c in enumerate(chans):
            if c in _POS_AXES:
                translations[:, k, _POS_AXES[c]] = data[:, col + i]
        if rot_cols:
            seq = "".join(a for _, a in rot_cols)
            if len(set(seq)) != len(seq):
                raise KinmoInputError(f"{p}: joint {names[k]!r} repeats a rotation channel ({seq})")
            angles = data[:, [col + i for i, _ in rot_cols]]
            # BVH rotation channels compose intrinsically in the order listed (first channel outermost).
            rotations[:, k] = _xyzw_to_wxyz(Rotation.from_euler(seq, angles, degrees=True).as_quat())
        col += len(chans)

    par = np.asarray(parents)
    bone = np.linalg.norm(translations, axis=-1)  # (T, J)
    lengths = bone.mean(axis=0)
    moving = (bone.max(axis=0) - bone.min(axis=0)) > 0.01 * np.maximum(lengths, 1e-9)
    span = _rig_span(parents, lengths, moving)
    scale, unit_name = _resolve_unit(unit, span, str(p))
    translations *= scale
    off = off * scale
    ends = {k: np.asarray(v) * scale for k, v in end_sites.items()}

    data_obj = BvhData(
        names=names, parents=par, offsets=off, channels=channels, rotations=rotations, positions=translations,
        fps=_snap_fps(1.0 / frame_time), unit_scale=scale, unit=unit_name, up="y", end_sites=ends, path=str(p),
    )
    axis = _detect_up(data_obj) if up == "auto" else up
    if axis == "z":
        _z_up_to_y_up(data_obj)
    data_obj.up = axis
    return data_obj


def _snap_fps(fps: float) -> float:
    """Round a frame rate written with few digits (0.0333333 s) to the integer it stands for."""
    return float(round(fps)) if abs(fps - round(fps)) < 1e-3 * fps else fps


def _detect_up(bvh: BvhData) -> str:
    """Return 'y' or 'z': the axis along which the body is tallest over a few frames (standing or moving people)."""
    frames = np.unique(np.linspace(0, bvh.num_frames - 1, min(bvh.num_frames, 16)).astype(int))
    pos = bvh.global_positions(frames)
    bone = np.linalg.norm(bvh.positions, axis=-1)
    moving = (bone.max(axis=0) - bone.min(axis=0)) > 0.01 * np.maximum(bone.mean(axis=0), 1e-9)
    # A root whose child bone changes length only places the body (e.g. a floor marker): leave it out.
    par = bvh.parents
    placers = {int(par[k]) for k in np.flatnonzero(moving) if par[k] >= 0 and par[par[k]] < 0}
    body = [k for k in range(len(bvh.names)) if k not in placers]
    ext = np.median(pos[:, body].max(axis=1) - pos[:, body].min(axis=1), axis=0)
    return "z" if ext[2] > ext[1] else "y"


def _z_up_to_y_up(bvh: BvhData) -> None:
    """Turn the whole motion from Z up to Y up by changing only the roots (everything else is relative to them)."""
    roots = np.flatnonzero(bvh.parents < 0)
    for r in roots:
        local = Rotation.from_quat(_wxyz_to_xyzw(bvh.rotations[:, r]))
        bvh.rotations[:, r] = _xyzw_to_wxyz((_Z_TO_Y * local).as_quat())
        bvh.positions[:, r] = _Z_TO_Y.apply(bvh.positions[:, r])
        bvh.offsets[r] = _Z_TO_Y.apply(bvh.offsets[r])


def _fmt(values: np.ndarray) -> str:
    return " ".join(f"{v:.6f}" for v in values)


def write_bvh(
    path: str | os.PathLike,
    rotations,
    root_translation,
    offsets=None,
    fps: float = FPS,
    names: tuple[str, ...] = JOINT_NAMES,
    scale: float = 1.0,
    overwrite: bool = False,
) -> Path:
    """Write a 22-joint motion (local wxyz rotations (T,22,4), root positions (T,3) in metres) as a BVH file.

    Units are metres times `scale` (100 gives centimetres); rotation channels are Zrotation Yrotation Xrotation.
    The file is written atomically and an existing file is kept unless overwrite=True.
    """
    out = Path(path)
    if out.exists() and not overwrite:
        raise KinmoInputError(f"{out} already exists (pass overwrite=True to replace it)")
    if not out.parent.is_dir():
        raise KinmoInputError(f"folder does not exist: {out.parent}")
    rot = np.asarray(rotations, dtype=np.float64)
    root = np.asarray(root_translation, dtype=np.float64)
    off = np.asarray(TARGET_OFFSETS if offsets is None else offsets, dtype=np.float64)
    if rot.ndim != 3 or rot.shape[1:] != (NUM_JOINTS, 4):
        raise KinmoInputError(f"rotations must have shape (T, {NUM_JOINTS}, 4), got {rot.shape}")
    if root.shape != (rot.shape[0], 3):
        raise KinmoInputError(f"root_translation must have shape ({rot.shape[0]}, 3), got {root.shape}")
    if off.shape != (NUM_JOINTS, 3):
        raise KinmoInputError(f"offsets must have shape ({NUM_JOINTS}, 3), got {off.shape}")
    if rot.shape[0] == 0:
        raise KinmoInputError("cannot write a motion with zero frames")
    if not (np.isfinite(rot).all() and np.isfinite(root).all() and np.isfinite(off).all()):
        raise KinmoInputError("the motion contains NaN or infinite values")
    if len(names) != NUM_JOINTS or any(not n or any(ch.isspace() for ch in n) for n in names):
        raise KinmoInputError("names must be 22 joint names without spaces")
    if fps <= 0:
        raise KinmoInputError(f"fps must be positive, got {fps}")

    norms = np.linalg.norm(rot, axis=-1, keepdims=True)
    if (norms < 1e-8).any():
        raise KinmoInputError("rotations contain a zero quaternion")
    rot = rot / norms
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gimbal lock warnings: the angles are still a valid decomposition
        euler = Rotation.from_quat(_wxyz_to_xyzw(rot.reshape(-1, 4))).as_euler("ZYX", degrees=True)
    euler = euler.reshape(rot.shape[0], NUM_JOINTS, 3)

    kids: dict[int, list[int]] = {j: [] for j in range(NUM_JOINTS)}
    for j in range(1, NUM_JOINTS):
        kids[PARENTS[j]].append(j)
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {_fmt(off[j] * scale)}")
        if j == 0:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation")
        else:
            lines.append(f"{pad}  CHANNELS 3 Zrotation Yrotation Xrotation")
        for c in kids[j]:
            emit(c, depth + 1)
        if not kids[j]:
            # End Site: half the leaf's own bone again, so viewers draw a visible last bone.
            lines.append(f"{pad}  End Site")
            lines.append(f"{pad}  {{")
            lines.append(f"{pad}    OFFSET {_fmt(off[j] * 0.5 * scale)}")
            lines.append(f"{pad}  }}")
        lines.append(f"{pad}}}")

    emit(0, 0)
    lines.append("MOTION")
    lines.append(f"Frames: {rot.shape[0]}")
    lines.append(f"Frame Time: {1.0 / fps:.8f}")
    order = [0]

    def walk(j: int) -> None:
        for c in kids[j]:
            order.append(c)
            walk(c)

    walk(0)
    frame_values = np.concatenate((root[:, None, :] * scale, euler[:, order]), axis=1).reshape(rot.shape[0], -1)
    body = "\n".join(" ".join(f"{v:.6f}" for v in row) for row in frame_values)
    text = "\n".join(lines) + "\n" + body + "\n"
    with atomic_output(out, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out
