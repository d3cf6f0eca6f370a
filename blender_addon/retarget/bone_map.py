"""Bone maps: which bone of an armature stands for each SMPL-22 joint, by preset or by names and hierarchy.

The matching itself (presets, synonyms, name reading) is `kinmo_core.motion.bonenames`, shared with the BVH importer.
"""

from __future__ import annotations

from ..core import bonenames
from ..core import skeleton as S
from .rig import RigSpec

PRESET_TITLES: dict[str, str] = {key.upper(): title for key, title in bonenames.PRESET_TITLES.items()}
"""The presets as the add-on's UI lists them (enum identifiers are the preset ids in upper case)."""


def preset_map(preset: str, bone_names: list[str]) -> dict[str, str]:
    """Return the joint -> bone map a preset gives on an armature (namespaced names like 'mixamorig1:Hips' match)."""
    found, _, _ = bonenames.match_preset(preset, bone_names)
    return {joint: bone_names[i] for joint, i in found.items()}


def auto_bone_map(rig: RigSpec, driven: frozenset[str] | set[str] = frozenset()) -> tuple[dict[str, str], str]:
    """Detect a joint -> bone map: every preset and the name keywords checked against the hierarchy; the map with
    the most keyable joints wins (bones in `driven`, moved by constraints or drivers, count for nothing: a generated
    Rigify rig is keyed on its controls, not its DEF bones), then the most joints; presets before names on ties.

    Returns (map, how) where how names the preset or 'names'. A map is only kept where every mapped bone lies below
    the bone of its nearest mapped SMPL ancestor, so a wrongly named bone cannot break the chain.
    """
    candidates = [(preset, validate_bone_map(rig, preset_map(preset, rig.names))) for preset in PRESET_TITLES]
    candidates.append(("names", validate_bone_map(rig, _keyword_map(rig))))
    # max() keeps the first of equals: the presets' order, then names.
    how, best = max(candidates, key=lambda c: (sum(b not in driven for b in c[1].values()), len(c[1])))
    return best, how


def _keyword_map(rig: RigSpec) -> dict[str, str]:
    return {joint: rig.names[i] for joint, i in bonenames.match_by_names(rig.names, rig.parents).items()}


def validate_bone_map(rig: RigSpec, bone_map: dict[str, str]) -> dict[str, str]:
    """Return the entries of a bone map that name existing, distinct bones consistent with the SMPL hierarchy."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for j, joint in enumerate(S.JOINT_NAMES):  # parents come first in SMPL order
        bone = bone_map.get(joint)
        if not bone or bone not in rig.index or bone in used:
            continue
        p = S.PARENTS[j]
        while p >= 0 and S.JOINT_NAMES[p] not in out:
            p = S.PARENTS[p]
        if p >= 0 and not rig.is_ancestor(rig.index[out[S.JOINT_NAMES[p]]], rig.index[bone]):
            continue
        out[joint] = bone
        used.add(bone)
    return out
