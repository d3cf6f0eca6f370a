"""Action versions: a new motion plays at once as a version under review; Accept keeps it, Reject restores exactly.

The first new version on an armature records the assignment it replaces (action and slot, by name and identifier)
and gives that action a fake user, so it is never lost and never written to: versions are new actions (a bake, or a
copy with some curves replaced). Next Variant cycles through the versions of one request. Accept keeps the playing
version (the others are removed; the original keeps its fake user). Reject puts the recorded action and slot back,
restores the original's fake-user flag and removes every version. A new request while a review is pending replaces
its versions (the original stays the base). An edit's range is shown by two timeline markers.
The state lives on the armature object as a JSON custom property, so it is saved with the .blend.
"""

from __future__ import annotations

import json

import bpy
import numpy as np

from .core import quaternions as Q
from .retarget.source import SourceMotion

STATE_KEY = "kinmo_review"
MARKER_START = "KinMo edit start"
MARKER_END = "KinMo edit end"


class VersionError(Exception):
    """A review operation that cannot be done (nothing under review, a version was deleted by hand)."""


def review_state(obj) -> dict | None:
    """The pending review of an armature ({"original", "slot", "fake_user", "versions", "current", ...}) or None."""
    raw = obj.get(STATE_KEY) if obj is not None else None
    if not raw:
        return None
    try:
        state = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("versions") else None


def _pending_review(obj) -> dict:
    state = review_state(obj)
    if state is None:
        raise VersionError(f"'{obj.name}' has no KinMo version under review")
    return state


def _save(obj, state: dict | None) -> None:
    if state is None:
        if STATE_KEY in obj:
            del obj[STATE_KEY]
    else:
        obj[STATE_KEY] = json.dumps(state)


def current_assignment(obj) -> tuple[bpy.types.Action | None, object | None]:
    """The armature's active action and slot (None, None without one)."""
    anim = obj.animation_data
    if anim is None or anim.action is None:
        return None, None
    return anim.action, getattr(anim, "action_slot", None)


def base_assignment(obj) -> tuple[bpy.types.Action | None, object | None]:
    """What a new request starts from: the recorded original while a review is pending, else the active action."""
    state = review_state(obj)
    if state is None:
        return current_assignment(obj)
    action = bpy.data.actions.get(state["original"]) if state["original"] else None
    return action, _find_slot(action, state.get("slot"))


def _find_slot(action, identifier: str | None):
    if action is None or not identifier or not hasattr(action, "slots"):
        return None
    return next((s for s in action.slots if s.identifier == identifier), None)


def assign(obj, action, slot=None) -> None:
    """Make `action` (and `slot`, else its first slot for objects) the armature's active action; None unassigns."""
    anim = obj.animation_data or obj.animation_data_create()
    anim.action = action
    if action is not None and hasattr(anim, "action_slot"):
        if slot is None:
            slot = next((s for s in action.slots if s.target_id_type == "OBJECT"), None)
        if slot is not None:
            anim.action_slot = slot


def _remove_markers(scene, state: dict) -> None:
    for name, frame in state.get("markers", []):
        marker = next((m for m in scene.timeline_markers if m.name == name and m.frame == frame), None)
        if marker is not None:
            scene.timeline_markers.remove(marker)


def _remove_versions(names, keep: str | None = None) -> None:
    for name in names:
        action = bpy.data.actions.get(name)
        if action is not None and name != keep and action.users == 0 and not action.use_fake_user:
            bpy.data.actions.remove(action)


def begin_review(obj, scene, versions: list, frame_range: tuple[int, int] | None = None, label: str = "") -> None:
    """Put new actions under review on an armature: the first plays at once; the assignment it replaced is recorded.

    versions: the new actions (variants of one request); frame_range: the edited frames (inclusive), shown as markers.
    """
    if not versions:
        raise VersionError("no new version to review")
    state = review_state(obj)
    if state is None:
        original, slot = current_assignment(obj)
        state = {"original": original.name if original else "", "slot": slot.identifier if slot else "",
                 "fake_user": bool(original.use_fake_user) if original else False}  # fmt: skip
        if original is not None:
            original.use_fake_user = True  # the original stays in the file whatever is assigned
    else:  # a new request replaces the versions under review; the original stays the base
        _remove_markers(scene, state)
        old = state["versions"]
        assign(obj, None)
        _remove_versions(old)
    state.update(versions=[a.name for a in versions], current=0, label=label, markers=[],
                 range=list(frame_range) if frame_range else None)  # fmt: skip
    if frame_range is not None:
        for name, frame in ((MARKER_START, frame_range[0]), (MARKER_END, frame_range[1])):
            scene.timeline_markers.new(name, frame=int(frame))
            state["markers"].append([name, int(frame)])
    assign(obj, versions[0])
    _save(obj, state)


def _version(state: dict, k: int):
    action = bpy.data.actions.get(state["versions"][k])
    if action is None:
        raise VersionError(f"the version '{state['versions'][k]}' was removed; Reject restores the original")
    return action


def next_variant(obj) -> str:
    """Play the next version of the pending request (cycling); return its action's name."""
    state = _pending_review(obj)
    k = (state["current"] + 1) % len(state["versions"])
    action = _version(state, k)
    assign(obj, action)
    state["current"] = k
    _save(obj, state)
    return action.name


def accept(obj, scene) -> str:
    """Keep the version that plays; remove the other versions and the markers. Return the kept action's name."""
    state = _pending_review(obj)
    kept = _version(state, state["current"])
    _remove_markers(scene, state)
    _remove_versions(state["versions"], keep=kept.name)
    assign(obj, kept)
    _save(obj, None)
    return kept.name


def reject(obj, scene) -> str:
    """Restore the recorded action and slot (or no action) exactly, and remove every version and the markers."""
    state = _pending_review(obj)
    original = bpy.data.actions.get(state["original"]) if state["original"] else None
    if state["original"] and original is None:
        raise VersionError(f"the original action '{state['original']}' is gone; nothing was changed")
    _remove_markers(scene, state)
    assign(obj, None)
    if original is not None:
        anim = obj.animation_data
        anim.action = original
        slot = _find_slot(original, state.get("slot"))
        if slot is not None or not state.get("slot"):
            anim.action_slot = slot  # no recorded slot: the action was assigned without one
        original.use_fake_user = bool(state.get("fake_user"))
    _remove_versions(state["versions"])
    _save(obj, None)
    return original.name if original is not None else ""


SOURCE_KEY = "kinmo_source"
"""Action custom property: the KinMo motion the action was baked from (so edits start from it, exactly)."""


def store_source(action, motion, frame_start: float, basis) -> None:
    """Keep the motion an action was baked from on the action (joints, rotations, offsets, where and how it lies)."""
    action[SOURCE_KEY] = {
        "frames": int(motion.joints.shape[0]),
        "fps": float(motion.fps),
        "frame_start": float(frame_start),
        "joints": np.asarray(motion.joints, np.float64).ravel().tolist(),
        "rotations": np.asarray(motion.rotations, np.float64).ravel().tolist(),
        "offsets": np.asarray(motion.offsets, np.float64).ravel().tolist(),
        "basis": np.asarray(basis, np.float64).ravel().tolist(),
        "text": str(motion.text),
    }


def stored_source(action):
    """(SourceMotion, frame_start, basis) kept on an action by `store_source`, or None."""
    import numpy as np


    data = action.get(SOURCE_KEY) if action is not None else None
    if data is None:
        return None
    try:
        t = int(data["frames"])
        motion = SourceMotion(
            np.array(data["joints"], np.float64).reshape(t, 22, 3),
            Q.qnormalize(np.array(data["rotations"], np.float64).reshape(t, 22, 4)),
            np.array(data["offsets"], np.float64).reshape(22, 3), float(data["fps"]), str(data.get("text", "")),
        )
        return motion, float(data["frame_start"]), np.array(data["basis"], np.float64).reshape(3, 3)
    except (KeyError, TypeError, ValueError):
        return None  # damaged or from another version: the rig is sampled instead
