"""Size limits on everything KinMo reads, checked before memory is allocated (see README, "Limits").

Each limit is far above real use (HumanML3D motions last at most 10 s; mocap rigs have under 200 joints and a depth
under 40) and low enough that the worst file within them needs well under a gigabyte.
"""

from __future__ import annotations

import math

from kinmo_core.errors import KinmoInputError

MAX_SEED: int = 2**32 - 1
"""Seeds are integers from 0 to MAX_SEED (a batch adds its offset to them; torch takes 64-bit seeds)."""

MAX_NUM: int = 1000
"""Most motions one `kinmo generate` writes per prompt (--num)."""

MAX_MOTION_SECONDS: float = 600.0
"""Longest motion read or resampled: 10 minutes (12,000 frames at 20 fps)."""

MAX_BVH_BYTES: int = 64 * 2**20
"""Largest BVH file read (64 MiB: about 10 minutes of a 60-joint rig at 120 fps)."""

MAX_BVH_JOINTS: int = 1000
"""Most joints (incl. roots) in a BVH hierarchy."""

MAX_BVH_DEPTH: int = 100
"""Deepest nesting of BVH joints (a chain of 100 bones)."""

MAX_BVH_VALUES: int = 8_000_000
"""Most channel values (frames x channels) in a BVH MOTION section."""

MAX_BVH_FRAME_JOINTS: int = 4_000_000
"""Most frames x joints of a BVH motion (each (T, J, 4) float64 array stays under 128 MB)."""

MAX_BVH_VALUE: float = 1e7
"""Largest magnitude of a BVH offset or channel value (degrees or file units); 1e308 is a corrupt file."""

MAX_NPZ_MEMBERS: int = 64
"""Most arrays in a motion .npz."""

MAX_ARRAY_BYTES: int = 256 * 2**20
"""Largest array read from a .npy or .npz (after decompression), from its header."""


def short(value: object, limit: int = 40) -> str:
    """repr(value) cut to `limit` characters, for error messages about arbitrary user values."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_seed(seed: object, name: str = "seed") -> int:
    """Return `seed` as an int if it is an integer from 0 to MAX_SEED, else raise KinmoInputError."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise KinmoInputError(f"{name} must be an integer from 0 to {MAX_SEED}, got {short(seed)}")
    if not 0 <= seed <= MAX_SEED:
        raise KinmoInputError(f"{name} must be an integer from 0 to {MAX_SEED}, got {short(seed)}")
    return int(seed)


def max_frames(fps: float) -> int:
    """Most frames a motion at `fps` may have (MAX_MOTION_SECONDS of it)."""
    return int(math.floor(MAX_MOTION_SECONDS * fps)) + 1


def check_duration(num_frames: int, fps: float, where: str = "") -> None:
    """Raise KinmoInputError if num_frames at fps last longer than MAX_MOTION_SECONDS."""
    seconds = (num_frames - 1) / fps if num_frames > 1 else 0.0
    if not math.isfinite(seconds) or seconds > MAX_MOTION_SECONDS:
        prefix = f"{where}: " if where else ""
        raise KinmoInputError(f"{prefix}the motion lasts {seconds:.6g} s ({num_frames} frames at {fps:.6g} fps); "
                              f"KinMo reads at most {MAX_MOTION_SECONDS:g} s")
