"""Mapping a source rig (a BVH skeleton) onto KinMo's 22 joints and retargeting it to the target skeleton.

Finding the joints, in this order:
1. an explicit `mapping` {kinmo joint name: source joint name} (may be partial: the rest is found automatically);
2. a name preset (`kinmo_core.motion.bonenames.PRESETS`: smpl, smpl_fbx, mixamo, motionbuilder, rigify, bandai,
   cmu) whose names all occur in the rig, compared after normalisation (case, separators, namespaces such as
   'mixamorig:', side tokens L/R/Left/Right/_l/.L all become one form: `bonenames.split_name`);
3. synonyms of each joint's name (`bonenames.SYNONYMS`: thigh/upleg/upperleg, shin/calf/lowerleg, clavicle/collar);
4. the hierarchy: the spine joints are the chain from the pelvis to the joint where the arms branch off
   (first, about 70 percent up, last); when names say nothing, the whole rig is read from its shape (the joint where
   three chains branch is the pelvis, the chain that branches again is the spine, the highest leaf is the head,
   left is the side the toes make left of the facing direction).
Bones of zero length (e.g. CMU's LowerBack, or LHipJoint placed on the hips) are skipped.

Joints the rig lacks are derived from the others (proportions of the target skeleton):
- spine3 (arms hanging off the pelvis): 75% of the way from the pelvis to the middle of the collars;
- spine1: 40% of the way from the pelvis to spine3; spine2: 71% of the way from spine1 to spine3;
- a collar: halfway between spine3 and that shoulder;
- a foot (toe) joint: in front of the ankle along the body's facing direction, by 31% of the shin length,
  and 12% of the shin length lower;
- neck: 68% of the way from spine3 to the head; head: beyond the neck by 47% of the spine3-neck distance.
Pelvis, hips, knees, ankles, shoulders, elbows, wrists and one of neck/head are required; a rig without them is
rejected with a KinmoInputError that names what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from kinmo_core.errors import KinmoInputError
from kinmo_core.limits import check_duration
from kinmo_core.motion.bonenames import (
    PRESETS,
    SYNONYMS,
    match_by_names,
    match_preset,
    normalize_name,
    resolve_preset,
)
from kinmo_core.motion.bvh import BvhData, read_bvh
from kinmo_core.motion.ik import estimate_offsets, forward_kinematics, positions_to_rotations
from kinmo_core.motion.quaternions import qslerp
from kinmo_core.motion.skeleton import FPS, JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, PARENTS, TARGET_OFFSETS

REQUIRED: tuple[str, ...] = ("pelvis",) + tuple(
    f"{s}_{n}" for n in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist") for s in ("left", "right")
)
"""KinMo joints a source rig must have (plus a neck or a head)."""


@dataclass
class RigMapping:
    """Which source joint (index) stands for each KinMo joint; None where it is derived."""

    joints: dict[str, int | None]
    source: str  # 'preset:<name>', 'names', 'hierarchy', 'explicit' or combinations
    derived: list[str] = field(default_factory=list)


def _ancestors(parents: np.ndarray, j: int) -> list[int]:
    out = []
    while j >= 0:
        out.append(j)
        j = int(parents[j])
    return out


def _usable(parents: np.ndarray, rest: np.ndarray) -> Callable[[str, int], bool]:
    """A joint of zero length (on its parent) carries no direction: only required joints may be one."""
    return lambda joint, i: joint in REQUIRED or parents[i] < 0 or np.linalg.norm(rest[i] - rest[parents[i]]) >= 1e-3


def _find_preset(names: list[str], usable: Callable[[str, int], bool]) -> tuple[str, dict[str, int]] | None:
    best: tuple[tuple[int, int], str, dict[str, int]] | None = None
    for pname in PRESETS:
        found, n_exact, lacking = match_preset(pname, names, usable, normalized=True)
        # Among presets that fit completely, the one naming the most joints wins, then the most exact names.
        score = (len(found), n_exact)
        if not lacking and (best is None or score > best[0]):
            best = (score, pname, found)
    return None if best is None else (best[1], best[2])


def _names_mapping(names: list[str], parents: np.ndarray) -> dict[str, int]:
    """Map what the joint names allow, by synonyms, keeping the hierarchy consistent (the spine comes from
    `_fill_spine`: BVH spines are chosen by the hierarchy)."""
    found = match_by_names(names, [int(p) for p in parents])
    return {k: v for k, v in found.items() if not k.startswith("spine")}


def _topology_mapping(parents: np.ndarray, rest: np.ndarray) -> dict[str, int]:
    """Read the rig from its shape alone (used when names match nothing): see the module docstring."""
    n = len(parents)
    kids: list[list[int]] = [[] for _ in range(n)]
    for j, p in enumerate(parents):
        if p >= 0:
            kids[p].append(j)

    def leaves(j: int) -> list[int]:
        return [j] if not kids[j] else [x for c in kids[j] for x in leaves(c)]

    def first_branch(j: int) -> int | None:
        while len(kids[j]) == 1:
            j = kids[j][0]
        return j if len(kids[j]) >= 3 else None

    def chain(j: int) -> list[int]:
        """Joints from j down while each has a single child: the chain ends at a leaf or a branching joint."""
        out = [j]
        while len(kids[j]) == 1:
            j = kids[j][0]
            out.append(j)
        return out

    roots = [j for j in range(n) if parents[j] < 0]
    if len(roots) != 1:
        raise KinmoInputError("cannot read a rig with several roots from its shape; pass a joint mapping")
    pelvis = first_branch(roots[0])
    if pelvis is None:
        raise KinmoInputError("cannot find the pelvis (a joint where legs and spine branch); pass a joint mapping")
    up = np.array([0.0, 1.0, 0.0])
    # The spine is the pelvis's subtree reaching highest (a foot with several toes also branches).
    subtrees = sorted(kids[pelvis], key=lambda c: max(rest[x] @ up for x in leaves(c)))
    chest = first_branch(subtrees[-1])
    legs = subtrees[:-1]
    if chest is None or len(legs) < 2:
        raise KinmoInputError("cannot find the spine and two legs below the pelvis; pass a joint mapping")
    legs = sorted(legs, key=lambda c: min(rest[x] @ up for x in leaves(c)))[:2]  # the two reaching lowest
    branches = sorted(kids[chest], key=lambda c: max(rest[x] @ up for x in leaves(c)))
    head_branch, arms = branches[-1], branches[:-1]
    if len(arms) < 2:
        raise KinmoInputError("cannot find two arms at the chest; pass a joint mapping")

    def moving(seq: list[int]) -> list[int]:
        return [j for j in seq if np.linalg.norm(rest[j] - rest[parents[j]]) > 1e-3]

    leg_chains = [moving(chain(c)) for c in legs]
    arm_chains = [moving(chain(c)) for c in arms[:2]]
    if any(len(c) < 3 for c in leg_chains + arm_chains):
        raise KinmoInputError("the rig's limbs have fewer than three joints; pass a joint mapping")
    # Forward: from the ankles to the toes (when legs have toes), else from the pelvis towards the chest's front.
    if all(len(c) >= 4 for c in leg_chains):
        fwd = sum(rest[c[3]] - rest[c[2]] for c in leg_chains)
    else:
        raise KinmoInputError("cannot tell left from right without toes or joint names; pass a joint mapping")
    left_axis = np.cross(up, fwd)
    leg_chains.sort(key=lambda c: -(rest[c[0]] @ left_axis))
    arm_chains.sort(key=lambda c: -(rest[c[-1]] @ left_axis + rest[c[0]] @ left_axis))
    found: dict[str, int] = {"pelvis": pelvis}
    for side, c in zip(("left", "right"), leg_chains, strict=True):
        for role, j in zip(("hip", "knee", "ankle", "foot"), c, strict=False):
            found[f"{side}_{role}"] = j
    for side, c in zip(("left", "right"), arm_chains, strict=True):
        roles = ("collar", "shoulder", "elbow", "wrist") if len(c) >= 4 else ("shoulder", "elbow", "wrist")
        for role, j in zip(roles, c, strict=False):
            found[f"{side}_{role}"] = j
    neck_chain = moving(chain(head_branch))
    if neck_chain:
        found["neck"] = neck_chain[0]
        if len(neck_chain) > 1:
            found["head"] = neck_chain[-1] if len(neck_chain) == 2 else neck_chain[1]
    return found


def resolve_mapping(bvh: BvhData, mapping: dict[str, str] | str | None = None) -> RigMapping:
    """Return which source joint stands for each KinMo joint (see the module docstring for the rules)."""
    names = bvh.names
    rest = bvh.global_positions([0])[0]
    explicit: dict[str, int] = {}
    source: list[str] = []
    if isinstance(mapping, str):
        try:
            preset_id = resolve_preset(mapping)
        except KeyError:
            raise KinmoInputError(f"unknown rig preset {mapping!r}; known: {', '.join(PRESETS)}") from None
        explicit, _, lacking = match_preset(preset_id, names, _usable(bvh.parents, rest), normalized=True)
        if lacking:
            missing = [PRESETS[preset_id][k][0] for k in lacking]
            raise KinmoInputError(f"rig preset {mapping!r} does not fit: joints not found: {', '.join(missing[:6])}")
        source.append(f"preset:{preset_id}")
    elif mapping:
        for k, v in mapping.items():
            if k not in JOINT_INDEX:
                raise KinmoInputError(f"unknown KinMo joint {k!r} in the mapping; known: {', '.join(JOINT_NAMES)}")
            if v not in names:
                raise KinmoInputError(f"joint {v!r} (mapped to {k}) is not in the rig")
            explicit[k] = names.index(v)
        source.append("explicit")
    found: dict[str, int] = {}
    if not isinstance(mapping, str):
        preset_hit = _find_preset(names, _usable(bvh.parents, rest))
        if preset_hit is not None:
            found = dict(preset_hit[1])
            source.append(f"preset:{preset_hit[0]}")
        else:
            found = _names_mapping(names, bvh.parents)
            if all(k in found or k in explicit for k in REQUIRED):
                source.append("names")
            else:
                try:
                    topo = _topology_mapping(bvh.parents, rest)
                except KinmoInputError:
                    topo = {}
                if all(k in topo or k in explicit for k in REQUIRED):
                    found = topo
                    source.append("hierarchy")
    used = set(explicit.values())
    if len(used) < len(explicit):
        raise KinmoInputError("the mapping gives one rig joint to several KinMo joints")
    # A rig joint the user placed elsewhere no longer stands for what the automatic mapping thought.
    found = {k: v for k, v in found.items() if v not in used}
    found.update(explicit)
    missing = [k for k in REQUIRED if k not in found]
    if "neck" not in found and "head" not in found:
        missing.append("neck or head")
    if missing:
        raise KinmoInputError(
            f"cannot map the rig onto KinMo's joints: no joint found for {', '.join(missing)} "
            f"(pass mapping={{kinmo_joint: rig_joint}} or a preset: {', '.join(PRESETS)})"
        )
    _fill_spine(found, bvh.parents, rest)
    joints: dict[str, int | None] = {n: found.get(n) for n in JOINT_NAMES}
    # Zero-length bones carry no direction: derive those joints instead.
    for n, j in list(joints.items()):
        par = PARENTS[JOINT_INDEX[n]]
        pj = joints.get(JOINT_NAMES[par]) if par >= 0 else None
        if j is not None and pj is not None and np.linalg.norm(rest[j] - rest[pj]) < 1e-3 and n not in REQUIRED:
            joints[n] = None
    derived = [n for n, j in joints.items() if j is None]
    return RigMapping(joints=joints, source="+".join(source) or "names", derived=derived)


def _fill_spine(found: dict[str, int], parents: np.ndarray, rest: np.ndarray) -> None:
    """Choose spine1..3 on the chain from the pelvis to where the arms branch, unless names or the user gave some."""
    pelvis = found["pelvis"]
    left = _ancestors(parents, found.get("left_collar", found["left_shoulder"]))
    right = set(_ancestors(parents, found.get("right_collar", found["right_shoulder"])))
    branch = next((j for j in left[1:] if j in right), None)
    if branch is None:
        return
    path = _ancestors(parents, branch)
    if pelvis not in path:
        raise KinmoInputError("the arms do not hang below the pelvis in this rig; check the joint mapping")
    spine = path[: path.index(pelvis)][::-1]  # from just above the pelvis up to the branch
    spine = [j for j in spine if np.linalg.norm(rest[j] - rest[parents[j]]) > 1e-3] or spine
    if any(k in found for k in ("spine1", "spine2", "spine3")):
        return
    if len(spine) == 1:
        found["spine3"] = spine[0]
    elif len(spine) >= 2:
        found["spine1"] = spine[0]
        found["spine3"] = spine[-1]
        if len(spine) >= 3:
            found["spine2"] = spine[int(round((len(spine) - 1) * 0.7))]


def _derive(pos: dict[str, np.ndarray]) -> None:
    """Fill missing joints from the others (rules in the module docstring); positions are (T, 3) arrays."""
    if "spine3" not in pos:
        mid = 0.5 * (pos.get("left_collar", pos["left_shoulder"]) + pos.get("right_collar", pos["right_shoulder"]))
        pos["spine3"] = pos["pelvis"] + 0.75 * (mid - pos["pelvis"])
    if "neck" not in pos:
        pos["neck"] = pos["spine3"] + 0.68 * (pos["head"] - pos["spine3"])
    if "head" not in pos:
        pos["head"] = pos["neck"] + 0.47 * (pos["neck"] - pos["spine3"])
    if "spine1" not in pos:
        pos["spine1"] = pos["pelvis"] + 0.40 * (pos["spine3"] - pos["pelvis"])
    if "spine2" not in pos:
        pos["spine2"] = pos["spine1"] + 0.71 * (pos["spine3"] - pos["spine1"])
    up = np.array([0.0, 1.0, 0.0])
    across = pos["left_hip"] - pos["right_hip"]
    fwd = np.cross(across, up)
    fwd /= np.maximum(np.linalg.norm(fwd, axis=-1, keepdims=True), 1e-9)
    for side in ("left", "right"):
        if f"{side}_collar" not in pos:
            pos[f"{side}_collar"] = 0.5 * (pos["spine3"] + pos[f"{side}_shoulder"])
        if f"{side}_foot" not in pos:
            shin = np.linalg.norm(pos[f"{side}_ankle"] - pos[f"{side}_knee"], axis=-1, keepdims=True)
            pos[f"{side}_foot"] = pos[f"{side}_ankle"] + shin * (0.31 * fwd - 0.12 * up)


def map_positions(bvh: BvhData, rig: RigMapping) -> np.ndarray:
    """Return the rig's world positions (T, 22, 3) on KinMo's joints (metres, Y up), deriving missing joints."""
    glob = bvh.global_positions()
    pos = {n: glob[:, j] for n, j in rig.joints.items() if j is not None}
    _derive(pos)
    return np.stack([pos[n] for n in JOINT_NAMES], axis=1)


def resample_times(num_frames: int, fps_in: float, fps_out: float) -> np.ndarray:
    """Return source frame positions (fractional) of the output frames; the duration is kept to within a frame."""
    if num_frames < 1:
        raise KinmoInputError("cannot resample a motion with no frames")
    if not (np.isfinite(fps_in) and np.isfinite(fps_out) and fps_in > 0 and fps_out > 0):
        raise KinmoInputError(f"cannot resample from {fps_in:g} to {fps_out:g} fps")
    check_duration(num_frames, fps_in)  # before the output (up to fps_out / fps_in times longer) is allocated
    n_out = int(np.floor((num_frames - 1) * fps_out / fps_in + 1e-9)) + 1
    return np.arange(n_out) * (fps_in / fps_out)


def resample_positions(x: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linearly resample (T, ...) frames from fps_in to fps_out."""
    t = resample_times(len(x), fps_in, fps_out)
    i0 = np.clip(np.floor(t).astype(int), 0, max(len(x) - 2, 0))
    i1 = np.minimum(i0 + 1, len(x) - 1)
    a = (t - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[i0] * (1 - a) + x[i1] * a


def resample_rotations(rotations: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Resample (T, J, 4) wxyz rotations from fps_in to fps_out by slerp."""
    t = resample_times(len(rotations), fps_in, fps_out)
    i0 = np.clip(np.floor(t).astype(int), 0, max(len(rotations) - 2, 0))
    i1 = np.minimum(i0 + 1, len(rotations) - 1)
    a = (t - i0)[:, None, None]
    return qslerp(rotations[i0], rotations[i1], a[..., 0])


@dataclass
class ConversionReport:
    """What `bvh_to_smpl22` did and how well: lengths in metres, errors as mean per-joint distances."""

    path: str
    rig: str
    mapping: dict[str, str | None]
    derived: list[str]
    unit: str
    up: str
    frames_in: int
    fps_in: float
    frames_out: int
    fps_out: float
    root_scale: float  # target leg length / source leg length
    bone_error_source: float  # mean |bone length - its clip mean| of the mapped source
    bone_error_output: float  # max |bone length - target length| of the output
    pose_error: float  # MPJPE of the retarget vs the source scaled by root_scale, both root-aligned
    ik_error: float  # MPJPE of FK(IK(source), source's own offsets) vs the source
    max_rotation_step: float  # largest change of a local joint rotation between two source frames, degrees

    def as_dict(self) -> dict:
        """Return the report as plain JSON-ready values."""
        return asdict(self)


def _leg_length(offsets: np.ndarray) -> float:
    j = JOINT_INDEX
    return float(np.mean([
        np.linalg.norm(offsets[j[f"{s}_knee"]]) + np.linalg.norm(offsets[j[f"{s}_ankle"]]) for s in ("left", "right")
    ]))


def retarget_to_target(joints: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Return joints (..., 22, 3) with the same root and bone directions and the target skeleton's bone lengths."""
    p = np.asarray(joints, dtype=np.float64)
    lengths = np.linalg.norm(TARGET_OFFSETS, axis=-1) if lengths is None else np.asarray(lengths, dtype=np.float64)
    out = np.empty_like(p)
    out[..., 0, :] = p[..., 0, :]
    for j in range(1, NUM_JOINTS):
        par = PARENTS[j]
        d = p[..., j, :] - p[..., par, :]
        n = np.linalg.norm(d, axis=-1, keepdims=True)
        if (n < 1e-9).any():
            raise KinmoInputError(f"the bone to {JOINT_NAMES[j]} has zero length in some frame; cannot retarget")
        out[..., j, :] = out[..., par, :] + d / n * lengths[j]
    return out


def bvh_to_smpl22(
    bvh: BvhData, mapping: dict[str, str] | str | None = None, fps: float = FPS
) -> tuple[np.ndarray, ConversionReport]:
    """Return (joints (T', 22, 3) on the target skeleton, metres, Y up, at `fps`; report) of a BVH motion.

    The source is mapped onto the 22 joints, turned into rotations (ik.positions_to_rotations), resampled (slerp
    for rotations, linear for the root) on its own skeleton, scaled by the ratio of leg lengths, and retargeted
    by keeping every bone's direction with the target's bone length (as HumanML3D does); the result is put back
    on the floor the source stood on.
    """
    if fps <= 0:
        raise KinmoInputError(f"fps must be positive, got {fps}")
    rig = resolve_mapping(bvh, mapping)
    src = map_positions(bvh, rig)  # (T, 22, 3)
    rot = positions_to_rotations(src)
    own = estimate_offsets(src)
    ik_error = float(np.linalg.norm(forward_kinematics(rot, src[:, 0], own) - src, axis=-1).mean())
    scale = _leg_length(TARGET_OFFSETS) / max(_leg_length(own), 1e-9)
    dots = np.abs((rot[1:] * rot[:-1]).sum(-1)).clip(0.0, 1.0)
    max_step = float(np.degrees(2 * np.arccos(dots.min()))) if len(rot) > 1 else 0.0

    # Resample on the source's own rigid skeleton (slerp of rotations), then keep every bone's direction with the
    # target's length: HumanML3D's uniform-skeleton retarget, exact on all 21 bones.
    src_out = forward_kinematics(resample_rotations(rot, bvh.fps, fps), resample_positions(src[:, 0], bvh.fps, fps),
                                 own) * scale
    out = retarget_to_target(src_out)
    feet = [JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
    out[..., 1] += src_out[:, feet, 1].min() - out[:, feet, 1].min()

    par = np.array(PARENTS)
    par[0] = 0
    lengths = np.linalg.norm(src - src[:, par], axis=-1)[:, 1:]
    bone_src = float(np.abs(lengths - lengths.mean(0)).mean())
    out_len = np.linalg.norm(out - out[:, par], axis=-1)[:, 1:]
    bone_out = float(np.abs(out_len - np.linalg.norm(TARGET_OFFSETS[1:], axis=-1)).max())
    pose_error = float(np.linalg.norm((out - out[:, :1]) - (src_out - src_out[:, :1]), axis=-1).mean())
    report = ConversionReport(
        path=bvh.path, rig=rig.source,
        mapping={n: (bvh.names[j] if j is not None else None) for n, j in rig.joints.items()},
        derived=rig.derived, unit=bvh.unit, up=bvh.up, frames_in=bvh.num_frames, fps_in=float(bvh.fps),
        frames_out=int(out.shape[0]), fps_out=float(fps), root_scale=float(scale), bone_error_source=bone_src,
        bone_error_output=bone_out, pose_error=pose_error, ik_error=ik_error, max_rotation_step=max_step,
    )
    return out.astype(np.float32), report


def load_bvh_joints(
    path, mapping: dict[str, str] | str | None = None, unit: str | float = "auto", up: str = "auto", fps: float = FPS
) -> tuple[np.ndarray, ConversionReport]:
    """Read a BVH file and return its motion on KinMo's 22-joint target skeleton at `fps`, with the report."""
    return bvh_to_smpl22(read_bvh(path, unit=unit, up=up), mapping=mapping, fps=fps)


__all__ = [
    "PRESETS", "SYNONYMS", "REQUIRED", "RigMapping", "ConversionReport", "normalize_name",
    "resolve_mapping", "map_positions", "retarget_to_target", "bvh_to_smpl22", "load_bvh_joints", "resample_positions",
    "resample_rotations", "resample_times",
]
