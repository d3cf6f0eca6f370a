"""Requests to the KinMo worker and what its replies mean, without bpy (testable outside Blender).

The worker (`kinmo worker`, JSON lines) runs KinMo's Python side; these functions build its params and read the
motion files its replies name. Operators (operators.py) send them and wait.
"""

from __future__ import annotations

from pathlib import Path

from .retarget.source import MotionFileError, SourceMotion, load_motion_npz


class KinmoUserError(Exception):
    """A problem the user can fix; its message is shown as the operator's error report."""


def _prompt(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise KinmoUserError("type a prompt first, e.g. 'a person waves with the left hand'")
    return text


def generate_request(text: str, seconds: float, seed: int, levels: int, descriptions: dict | None = None,
                     model: str = "") -> dict:
    """The worker's `generate` params (one motion, .npz only); KinmoUserError for an empty prompt."""
    params = {"text": _prompt(text), "seconds": float(seconds), "seed": int(seed), "levels": int(levels),
              "num": 1, "bvh": False}  # fmt: skip
    if descriptions is not None and levels > 1:
        params["descriptions"] = descriptions
    if model:
        params["model"] = model
    return params


def expand_request(text: str, seed: int, model: str = "") -> dict:
    """The worker's `expand` params; KinmoUserError for an empty prompt."""
    params = {"text": _prompt(text), "seed": int(seed)}
    if model:
        params["model"] = model
    return params


def generated_motion(reply: dict) -> tuple[SourceMotion, str]:
    """Read the .npz a `generate` reply names (KinmoUserError if it is missing or not a KinMo motion)."""
    paths = reply.get("paths") or []
    if not paths:
        raise KinmoUserError("KinMo worker: the generate reply names no motion file")
    try:
        return load_motion_npz(paths[0]), paths[0]
    except MotionFileError as e:
        raise KinmoUserError(str(e)) from None


def needs_worker(path: str) -> bool:
    """True for files only the worker can read (.bvh, .npy); .npz is read here with numpy."""
    return Path(path).suffix.lower() in (".bvh", ".npy")


def conversion_result(reply: dict) -> tuple[SourceMotion, str]:
    """Read the .npz a finished conversion (`load_motion`) reply names."""
    try:
        return load_motion_npz(reply["path"]), reply["path"]
    except MotionFileError as e:
        raise KinmoUserError(str(e)) from None
