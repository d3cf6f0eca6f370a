"""The motion file contract (`.npz`) and the `Motion` class every KinMo tool reads and writes.

A motion file holds, at 20 fps on the HumanML3D target skeleton (Y up, metres, facing +Z at rest):
`format_version` (1), `features` (T, 263) float32, `joints` (T, 22, 3) float32 equal to
`features_to_joints(features)`, `rotations` (T, 22, 4) float32 wxyz local rotations (each joint relative to
its parent's frame, rest pose `skeleton.rest_pose()`), `root_translation` (T, 3) float32 (= joints[:, 0]),
`fps`, `joint_names`, `parents`, `offsets` (22, 3) rest offsets, `text` and `descriptions` (a JSON string
{"groups": {6 keys}, "interactions": {15 keys}}, or empty). Files are written atomically.

`offsets` are the motion's own rest offsets (`ik.estimate_offsets(joints)`): the target skeleton's bone lengths
and single-child directions, with the hips, collars and neck where this motion carries them. With them, forward
kinematics of `rotations` and `root_translation` reproduces `joints`; with the plain `TARGET_OFFSETS` (whose hips
point straight sideways) it would not.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinmo_core.errors import KinmoInputError
from kinmo_core.fileio import write_atomic
from kinmo_core.limits import MAX_ARRAY_BYTES, MAX_MOTION_SECONDS, MAX_NPZ_MEMBERS, max_frames
from kinmo_core.motion.bvh import read_bvh
from kinmo_core.motion.features import FEATURE_DIM, FEATURE_SLICES, features_to_joints, joints_to_features
from kinmo_core.motion.ik import estimate_offsets, positions_to_rotations
from kinmo_core.motion.kinematic import GROUP_JOINTS, GROUPS, PAIRS
from kinmo_core.motion.rigs import bvh_to_smpl22, resample_positions
from kinmo_core.motion.skeleton import (
    BONE_LENGTHS,
    FPS,
    JOINT_NAMES,
    NUM_JOINTS,
    PARENTS,
    bone_lengths,
)

FORMAT_VERSION: int = 1
MIN_FRAMES: int = 2
"""The fewest frames a motion may have: velocities and foot contacts need two."""

MOTION_EXTENSIONS: tuple[str, ...] = (".npz", ".bvh", ".npy")
NPY_LAYOUTS: tuple[str, ...] = ("features", "joints")

_REQUIRED_KEYS: tuple[str, ...] = (
    "format_version",
    "features",
    "joints",
    "rotations",
    "root_translation",
    "fps",
    "joint_names",
    "parents",
    "offsets",
    "text",
    "descriptions",
)
_JOINTS_TOLERANCE = 1e-3  # metres; joints stored in float32 must match features_to_joints(features) this closely
_UNIT_TOLERANCE = 1e-3


def _fail(where: str | os.PathLike | None, message: str) -> KinmoInputError:
    return KinmoInputError(f"{where}: {message}" if where else message)


def normalize_descriptions(descriptions: Mapping | str | None, where: str | os.PathLike | None = None) -> dict | None:
    """Return descriptions as {"groups": {6 keys}, "interactions": {15 keys}} (missing keys empty), or None."""
    if descriptions is None or descriptions == "" or descriptions == {}:
        return None
    if isinstance(descriptions, str):
        try:
            descriptions = json.loads(descriptions)
        except json.JSONDecodeError as e:
            raise _fail(where, f"descriptions are not valid JSON ({e.msg})") from None
        except (RecursionError, ValueError):  # nested too deeply, or an integer of thousands of digits
            raise _fail(where, "descriptions are not valid JSON (nested too deeply or a number too long)") from None
    if not isinstance(descriptions, Mapping) or set(descriptions) - {"groups", "interactions"}:
        raise _fail(where, 'descriptions must be an object with the keys "groups" and "interactions"')
    out = {}
    for section, keys in (("groups", GROUPS), ("interactions", PAIRS)):
        given = descriptions.get(section) or {}
        if not isinstance(given, Mapping):
            raise _fail(where, f'descriptions["{section}"] must be an object')
        unknown = sorted(set(given) - set(keys))
        if unknown:
            raise _fail(where, f'descriptions["{section}"] has unknown keys {unknown}; expected some of {list(keys)}')
        if not all(isinstance(v, str) for v in given.values()):
            raise _fail(where, f'descriptions["{section}"] values must be strings')
        out[section] = {k: given.get(k, "") for k in keys}
    return out


def _check_array(a: np.ndarray, name: str, shape: tuple, where) -> np.ndarray:
    """Check shape (None = any length) and finiteness; return float32."""
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise _fail(where, f"{name} has dtype {a.dtype}; expected float32")
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape, strict=True)):
        want = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ")"
        raise _fail(where, f"{name} has shape {a.shape}; expected {want}")
    if not np.isfinite(a).all():
        raise _fail(where, f"{name} contains NaN or infinite values")
    return a.astype(np.float32)


_MAX_TEXT_CHARS = 100_000  # text and descriptions of a motion file
_MAX_HEADER_BYTES = 10_000  # an .npy header (numpy's own limit for what it parses)

# Shapes of the contract's arrays (None: the frame count), checked in the file headers before anything is read.
_FILE_SHAPES: dict[str, tuple] = {
    "format_version": (), "features": (None, FEATURE_DIM), "joints": (None, NUM_JOINTS, 3),
    "rotations": (None, NUM_JOINTS, 4), "root_translation": (None, 3), "fps": (), "joint_names": (NUM_JOINTS,),
    "parents": (NUM_JOINTS,), "offsets": (NUM_JOINTS, 3), "text": (), "descriptions": (),
}  # fmt: skip


def _read_header(f, name: str, shapes: list[tuple], where, mismatch: str = "", kinds: str = "fiuU") -> tuple:
    """Read an .npy header from `f` and check dtype, shape and size before the data are read; return the shape."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unknown .npy version {version}")
        # numpy reads as many header bytes as the file claims (up to 4 GiB in version 2) before it checks them.
        width = 2 if version == (1, 0) else 4
        length = int.from_bytes(f.read(width), "little")
        if length > _MAX_HEADER_BYTES:
            raise ValueError(f"the header claims {length} bytes (at most {_MAX_HEADER_BYTES})")
        f.seek(0)
        fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f)
        else:
            shape, _, dtype = fmt.read_array_header_2_0(f)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        raise _fail(where, f"{name} is not a readable array ({' '.join(str(e).split())[:200]})") from None
    if dtype.hasobject:
        raise _fail(where, f"{name}: not a readable .npy array (it holds pickled Python objects, which KinMo never "
                           "loads)")
    if dtype.kind not in kinds:
        raise _fail(where, f"{name} has dtype {dtype}; expected a numeric array")
    if dtype.itemsize <= 0:  # e.g. '<U1000000000': the item size overflows
        raise _fail(where, f"{name} has an invalid dtype ({dtype.str})")
    if any(d < 0 for d in shape):
        raise _fail(where, f"{name} has a negative dimension {tuple(shape)}")
    fits = [want for want in shapes if len(want) == len(shape) and all(w is None or w == d
                                                                         for w, d in zip(want, shape, strict=True))]
    if not fits:
        wants = " or ".join("(" + ", ".join("T" if w is None else str(w) for w in want) + ")" for want in shapes)
        raise _fail(where, mismatch.format(shape=tuple(shape)) or f"{name} has shape {tuple(shape)}; expected {wants}")
    if shape and fits[0][0] is None and shape[0] > max_frames(FPS):
        raise _fail(where, f"{name} has {shape[0]} frames; KinMo reads at most {max_frames(FPS)} "
                           f"({MAX_MOTION_SECONDS:g} s at {FPS} fps)")
    if dtype.kind == "U" and dtype.itemsize // 4 > _MAX_TEXT_CHARS:
        raise _fail(where, f"{name} holds {dtype.itemsize // 4} characters; at most {_MAX_TEXT_CHARS} are read")
    if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > MAX_ARRAY_BYTES:
        raise _fail(where, f"{name} would need more than {MAX_ARRAY_BYTES // 2**20} MiB")
    return tuple(shape)


def _read_body(f, name: str, where) -> np.ndarray:
    """Read the array data after _read_header (rewinding to the start of the member or file)."""
    f.seek(0)
    try:
        return np.lib.format.read_array(f, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise _fail(where, f"{name} cannot be read ({' '.join(str(e).split())[:200]})") from None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read the contract's arrays of a .npz, checking each member's header first; other members are never read."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.namelist()
            if len(members) > MAX_NPZ_MEMBERS:
                raise _fail(path, f"not a KinMo motion file: {len(members)} arrays (at most {MAX_NPZ_MEMBERS})")
            missing = [k for k in _REQUIRED_KEYS if f"{k}.npy" not in members]
            if missing:
                raise _fail(path, f"not a KinMo motion file: missing {', '.join(missing)}")
            raw = {}
            for key in _REQUIRED_KEYS:
                with zf.open(f"{key}.npy") as f:
                    _read_header(f, key, [_FILE_SHAPES[key]], path)
                    raw[key] = _read_body(f, key, path)
            return raw
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError) as e:
        if isinstance(e, KinmoInputError):
            raise
        raise _fail(path, f"not a readable KinMo motion file ({type(e).__name__}: {' '.join(str(e).split())[:200]})")\
            from None


def _check_frames(n: int, what: str, where) -> None:
    if n < MIN_FRAMES:
        raise _fail(where, f"{what} has {n} frame{'s' if n != 1 else ''}; a motion needs at least {MIN_FRAMES}")


@dataclass(eq=False)
class Motion:
    """A motion on KinMo's skeleton at 20 fps: features, joints and local rotations that agree with each other."""

    features: np.ndarray
    joints: np.ndarray
    rotations: np.ndarray
    offsets: np.ndarray
    fps: int = FPS
    text: str = ""
    descriptions: dict | None = None
    source: str = ""
    """Where the motion came from (e.g. "npz", "bvh", "humanml3d-features"); informational, not saved."""

    @property
    def num_frames(self) -> int:
        """Number of frames."""
        return int(self.features.shape[0])

    @property
    def seconds(self) -> float:
        """Duration in seconds (frames / fps)."""
        return self.num_frames / self.fps

    @property
    def root_translation(self) -> np.ndarray:
        """Root (pelvis) positions (T, 3)."""
        return self.joints[:, 0]

    @classmethod
    def from_features(
        cls,
        features: np.ndarray,
        text: str = "",
        descriptions: Mapping | str | None = None,
        source: str = "features",
        where: str | os.PathLike | None = None,
    ) -> Motion:
        """Build a motion from HumanML3D features (T, 263) at 20 fps; joints and rotations are derived."""
        features = _check_array(features, "features", (None, FEATURE_DIM), where)
        _check_frames(len(features), "the motion", where)
        joints = np.asarray(features_to_joints(features), dtype=np.float32)
        if not np.isfinite(joints).all():
            raise _fail(where, "these features give non-finite joint positions")
        rotations = np.asarray(positions_to_rotations(joints), dtype=np.float32)
        offsets = np.asarray(estimate_offsets(joints), dtype=np.float32)
        return cls(
            features=features,
            joints=joints,
            rotations=rotations,
            offsets=offsets,
            text=str(text),
            descriptions=normalize_descriptions(descriptions, where),
            source=source,
        )

    @classmethod
    def from_joints(
        cls,
        joints: np.ndarray,
        fps: float = FPS,
        text: str = "",
        descriptions: Mapping | str | None = None,
        source: str = "joints",
        where: str | os.PathLike | None = None,
    ) -> Motion:
        """Build a motion from joint positions (T, 22, 3) at `fps`: resampled to 20 fps and canonicalised."""
        joints = _check_array(joints, "joints", (None, NUM_JOINTS, 3), where)
        if fps <= 0:
            raise _fail(where, f"fps must be positive, got {fps}")
        if fps != FPS:
            joints = resample_positions(joints, fps, FPS).astype(np.float32)
        # Features drop the last frame (velocities are differences), so one more input frame is needed.
        if len(joints) < MIN_FRAMES + 1:
            raise _fail(
                where, f"the motion has {len(joints)} frame(s) at {FPS} fps; joints need at least {MIN_FRAMES + 1}"
            )
        features = np.asarray(joints_to_features(joints), dtype=np.float32)
        return cls.from_features(features, text=text, descriptions=descriptions, source=source, where=where)

    def descriptions_json(self) -> str:
        """Return the descriptions as the JSON string stored in files ("" when there are none)."""
        return json.dumps(self.descriptions, sort_keys=False) if self.descriptions else ""

    def arrays(self) -> dict[str, np.ndarray]:
        """Return every field of the file contract, as saved."""
        return {
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "features": self.features.astype(np.float32),
            "joints": self.joints.astype(np.float32),
            "rotations": self.rotations.astype(np.float32),
            "root_translation": self.root_translation.astype(np.float32),
            "fps": np.array(self.fps, dtype=np.int64),
            "joint_names": np.array(JOINT_NAMES),
            "parents": np.array(PARENTS, dtype=np.int64),
            "offsets": self.offsets.astype(np.float32),
            "text": np.array(self.text),
            "descriptions": np.array(self.descriptions_json()),
        }

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the motion to a .npz file atomically; refuse to replace an existing file unless overwrite."""
        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise _fail(path, "a motion file must end in .npz")
        arrays = self.arrays()
        write_atomic(path, lambda f: np.savez_compressed(f, **arrays), overwrite=overwrite)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Motion:
        """Read and validate a .npz motion file (version, keys, shapes, dtypes, finite values, consistency)."""
        path = Path(path)
        _check_readable(path)
        raw = _read_npz(path)
        version = raw["format_version"]
        if version.shape != () or version.dtype.kind not in "iu":
            raise _fail(path, "format_version must be an integer")
        if int(version) != FORMAT_VERSION:
            raise _fail(path, f"format_version {int(version)} is not supported (this KinMo reads {FORMAT_VERSION})")
        fps = raw["fps"]
        if fps.shape != () or fps.dtype.kind not in "iuf" or fps != FPS:
            raise _fail(path, f"fps is {fps}; KinMo motion files are at {FPS} fps")
        if raw["joint_names"].dtype.kind != "U" or tuple(raw["joint_names"].ravel()) != JOINT_NAMES:
            raise _fail(path, "joint_names differ from KinMo's 22-joint skeleton")
        if raw["parents"].dtype.kind not in "iu" or tuple(raw["parents"].ravel().tolist()) != PARENTS:
            raise _fail(path, "parents differ from KinMo's 22-joint skeleton")
        features = _check_array(raw["features"], "features", (None, FEATURE_DIM), path)
        n = len(features)
        _check_frames(n, "the motion", path)
        joints = _check_array(raw["joints"], "joints", (n, NUM_JOINTS, 3), path)
        rotations = _check_array(raw["rotations"], "rotations", (n, NUM_JOINTS, 4), path)
        root = _check_array(raw["root_translation"], "root_translation", (n, 3), path)
        offsets = _check_array(raw["offsets"], "offsets", (NUM_JOINTS, 3), path)
        if np.abs(offsets[0]).max() > 0:
            raise _fail(path, "offsets[0] (the root) must be zero")
        if np.abs(np.linalg.norm(rotations, axis=-1) - 1).max() > _UNIT_TOLERANCE:
            raise _fail(path, "rotations are not unit quaternions")
        if np.abs(root - joints[:, 0]).max() > _JOINTS_TOLERANCE:
            raise _fail(path, "root_translation differs from joints[:, 0]")
        derived = np.asarray(features_to_joints(features))
        if np.abs(derived - joints).max() > _JOINTS_TOLERANCE:
            raise _fail(path, "joints do not match features_to_joints(features); the file was edited inconsistently")
        for key in ("text", "descriptions"):
            if raw[key].shape != () or raw[key].dtype.kind != "U":
                raise _fail(path, f"{key} must be a string")
        return cls(
            features=features,
            joints=joints,
            rotations=rotations,
            offsets=offsets,
            fps=FPS,
            text=str(raw["text"]),
            descriptions=normalize_descriptions(str(raw["descriptions"]), path),
            source="npz",
        )

    def to_bvh(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the motion as a BVH file (the 22-joint skeleton with this motion's offsets, metres, 20 fps)."""
        from kinmo_core.motion.bvh import write_bvh

        path = Path(path)
        if path.suffix.lower() != ".bvh":
            raise _fail(path, "a BVH file must end in .bvh")
        # write_bvh writes atomically and refuses to replace a file unless overwrite.
        return write_bvh(
            path, self.rotations, self.root_translation, offsets=self.offsets, fps=self.fps, overwrite=overwrite
        )


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise _fail(path, "no such file")
    if not path.is_file():
        raise _fail(path, "not a file")


def _load_npy(path: Path) -> Motion:
    with open(path, "rb") as f:
        # The header is checked first: a file may claim a shape far larger than itself.
        _read_header(f, "the array", [(None, FEATURE_DIM), (None, NUM_JOINTS, 3)], path, kinds="fiu",
                     mismatch=f"array of shape {{shape}} is neither HumanML3D features (T, {FEATURE_DIM}) "
                              f"nor joints (T, {NUM_JOINTS}, 3)")
        array = _read_body(f, "the array", path)
    if array.dtype.kind not in "fiu":
        raise _fail(path, "expected a numeric .npy array")
    if array.ndim == 2 and array.shape[1] == FEATURE_DIM:
        return Motion.from_features(array, source="humanml3d-features", where=path)
    if array.ndim == 3 and array.shape[1:] == (NUM_JOINTS, 3):
        return Motion.from_joints(array, fps=FPS, source="humanml3d-joints", where=path)
    raise _fail(
        path,
        f"array of shape {array.shape} is neither HumanML3D features (T, {FEATURE_DIM})"
        f" nor joints (T, {NUM_JOINTS}, 3)",
    )


def load_features(path: str | os.PathLike) -> np.ndarray:
    """Read HumanML3D features (T, 263) from a .npy (header checked first), finite and at least MIN_FRAMES long."""
    path = Path(path)
    _check_readable(path)
    with open(path, "rb") as f:
        _read_header(f, "features", [(None, FEATURE_DIM)], path, kinds="fiu")
        array = _read_body(f, "features", path)
    features = _check_array(array, "features", (None, FEATURE_DIM), path)
    _check_frames(len(features), "the motion", path)
    return features


def _load_bvh(path: Path, rig: str | None = None) -> Motion:
    try:
        joints, report = bvh_to_smpl22(read_bvh(path), mapping=rig)
    except KinmoInputError as e:
        message = str(e)
        raise KinmoInputError(message if str(path) in message else f"{path}: {message}") from None
    except (ValueError, IndexError, KeyError, UnicodeDecodeError) as e:
        raise _fail(path, f"not a readable BVH file ({type(e).__name__}: {e})") from None
    return Motion.from_joints(joints, fps=FPS, source=f"bvh ({report.rig} rig)", where=path)


def load_motion(path: str | os.PathLike, rig: str | None = None) -> Motion:
    """Read a motion from .npz (KinMo), .bvh (any known rig) or HumanML3D .npy (features or joints)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in MOTION_EXTENSIONS:
        raise _fail(
            path, f"unknown extension {path.suffix or '(none)'!r}; expected one of {', '.join(MOTION_EXTENSIONS)}"
        )
    _check_readable(path)
    if ext == ".npz":
        return Motion.load(path)
    if ext == ".npy":
        return _load_npy(path)
    return _load_bvh(path, rig=rig)


def save_motion(motion: Motion, path: str | os.PathLike, as_: str = "features", overwrite: bool = False) -> Path:
    """Write a motion as .npz (the contract), .bvh, or HumanML3D .npy (`as_` = "features" or "joints")."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in MOTION_EXTENSIONS:
        raise _fail(
            path, f"unknown extension {path.suffix or '(none)'!r}; expected one of {', '.join(MOTION_EXTENSIONS)}"
        )
    if ext == ".npz":
        return motion.save(path, overwrite=overwrite)
    if ext == ".bvh":
        return motion.to_bvh(path, overwrite=overwrite)
    if as_ not in NPY_LAYOUTS:
        raise KinmoInputError(f"unknown .npy layout {as_!r}; choose one of {', '.join(NPY_LAYOUTS)}")
    array = motion.features if as_ == "features" else motion.joints
    return write_atomic(path, lambda f: np.save(f, array.astype(np.float32)), overwrite=overwrite)


def motion_stats(motion: Motion) -> dict:
    """Return a summary of a motion: length, bone-length error, foot contact shares, bounding box, group energy."""
    joints = motion.joints.astype(np.float64)
    bones = bone_lengths(joints)[:, 1:]
    bone_err = np.abs(bones - BONE_LENGTHS[1:]).max() if len(bones) else 0.0
    contacts = motion.features[:, FEATURE_SLICES["contacts"]] > 0.5
    # Contacts hold (left ankle, left foot, right ankle, right foot); a foot is down when either of its joints is.
    left = contacts[:, :2].any(1)
    right = contacts[:, 2:].any(1)
    speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1) * motion.fps
    energy = {g: float(np.mean(speed[:, list(GROUP_JOINTS[g])] ** 2)) for g in GROUPS}
    lo, hi = joints.reshape(-1, 3).min(0), joints.reshape(-1, 3).max(0)
    root = joints[:, 0]
    return {
        "frames": motion.num_frames,
        "seconds": round(motion.seconds, 3),
        "fps": motion.fps,
        "source": motion.source,
        "text": motion.text,
        "has_descriptions": motion.descriptions is not None,
        "max_bone_length_error_m": float(bone_err),
        "foot_contact_share": {
            "left": float(left.mean()),
            "right": float(right.mean()),
            "both": float((left & right).mean()),
            "none": float((~left & ~right).mean()),
        },
        "bounding_box_m": {"min": lo.round(4).tolist(), "max": hi.round(4).tolist()},
        "root_distance_m": float(np.linalg.norm(np.diff(root[:, [0, 2]], axis=0), axis=-1).sum()),
        "group_energy": energy,
    }
