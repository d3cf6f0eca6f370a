"""Bone-name matching: which bone (or BVH joint) of a rig stands for each of KinMo's 22 joints, from names.

The one matcher of KinMo: the BVH importer (`kinmo_core.motion.rigs`) and the Blender add-on's retargeter both use
it. Part of the numpy-only core (no torch, no scipy): `make addon` copies this module into the add-on.

Everything rig-specific is data, so a new rig is a new entry, not new code:
- `PRESETS`: preset id -> {KinMo joint: candidate bone names, first found wins}; `PRESET_TITLES`: id -> title.
  Joints a preset leaves out are derived (BVH import) or left unmapped (add-on).
- `SYNONYMS`: KinMo joint role -> normalised name stems, most specific first (thigh/upleg, calf/shin, ...).
- `SIDE_WORDS`, `NOISE_WORDS`: side tokens (L, Left, r, ...) and prefixes to ignore (mixamorig, DEF, Bip01, ...).

`split_name` reads any bone name the same way for every rig; `match_preset` applies a preset; `match_by_names`
maps a hierarchy by synonyms, keeping each limb's bones on one chain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .skeleton import JOINT_NAMES

SIDES: tuple[str, str] = ("left", "right")


def _sided(table: dict[str, str], fmt: Callable[[str, str], str]) -> dict[str, tuple[str, ...]]:
    """Expand {limb joint: base name} into both sides' candidates, fmt(side, base) -> bone name."""
    return {f"{side}_{joint}": (fmt(side, base),) for side in SIDES for joint, base in table.items()}


_MB_LIMBS = {"hip": "UpLeg", "knee": "Leg", "ankle": "Foot", "foot": "ToeBase",
             "collar": "Shoulder", "shoulder": "Arm", "elbow": "ForeArm", "wrist": "Hand"}  # fmt: skip
_MB_TRUNK = {"pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
             "head": "Head"}  # fmt: skip
_SMPL_FBX = ("Pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle", "Spine3",
             "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder", "L_Elbow",
             "R_Elbow", "L_Wrist", "R_Wrist")  # fmt: skip
_RIGIFY = ("DEF-spine", "DEF-thigh.L", "DEF-thigh.R", "DEF-spine.001", "DEF-shin.L", "DEF-shin.R", "DEF-spine.002",
           "DEF-foot.L", "DEF-foot.R", "DEF-spine.003", "DEF-toe.L", "DEF-toe.R", "DEF-spine.004",
           "DEF-shoulder.L", "DEF-shoulder.R", "DEF-spine.006", "DEF-upper_arm.L", "DEF-upper_arm.R",
           "DEF-forearm.L", "DEF-forearm.R", "DEF-hand.L", "DEF-hand.R")  # fmt: skip
_BANDAI_LIMBS = {"hip": "UpperLeg", "knee": "LowerLeg", "ankle": "Foot", "foot": "Toes",
                 "collar": "Shoulder", "shoulder": "UpperArm", "elbow": "LowerArm", "wrist": "Hand"}  # fmt: skip

PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "smpl": {n: (n,) for n in JOINT_NAMES},
    "smpl_fbx": {n: (f"m_avg_{b}", f"f_avg_{b}", b) for n, b in zip(JOINT_NAMES, _SMPL_FBX, strict=True)},
    "mixamo": {
        **{k: (f"mixamorig:{v}", v) for k, v in _MB_TRUNK.items()},
        **{k: (f"mixamorig:{v[0]}", v[0]) for k, v in _sided(_MB_LIMBS, lambda s, b: s.capitalize() + b).items()},
    },
    "motionbuilder": {**{k: (v,) for k, v in _MB_TRUNK.items()}, **_sided(_MB_LIMBS, lambda s, b: s.capitalize() + b)},
    "rigify": {n: (b,) for n, b in zip(JOINT_NAMES, _RIGIFY, strict=True)},
    "bandai": {
        "pelvis": ("Hips",), "spine1": ("Spine",), "spine3": ("Chest",), "neck": ("Neck",), "head": ("Head",),
        **_sided(_BANDAI_LIMBS, lambda s, b: f"{b}_{s[0].upper()}"),
    },  # fmt: skip
    "cmu": {
        # LowerBack is a bone in Blender but a zero-length joint in CMU's BVH files, where Spine then stands for
        # spine1 and spine2 is derived: `match_preset(usable=...)` skips joints that cannot stand for anything.
        "pelvis": ("Hips",), "spine1": ("LowerBack", "Spine"), "spine2": ("Spine",), "spine3": ("Spine1",),
        "neck": ("Neck",), "head": ("Head",), **_sided(_MB_LIMBS, lambda s, b: s.capitalize() + b),
    },  # fmt: skip
}
"""Bone names per KinMo joint for common rigs. smpl also covers the SMPL-X add-on (its bones use the SMPL joint
names); smpl_fbx the m_avg_/f_avg_ FBX rigs and Blender's SMPL add-on; mixamo with or without the mixamorig:
namespace; motionbuilder the HumanIK names; rigify the DEF bones of a generated Rigify rig."""


_RIGIFY_SIDE = lambda side, base: f"{base}.{side[0].upper()}"  # noqa: E731
_CC = lambda side, base: f"CC_Base_{side[0].upper()}_{base}"  # noqa: E731
_UE = lambda side, base: f"{base}_{side[0]}"  # noqa: E731
_UE_LIMBS = {"collar": "clavicle", "shoulder": "upperarm", "elbow": "lowerarm", "wrist": "hand", "hip": "thigh",
             "knee": "calf", "ankle": "foot", "foot": "ball"}  # fmt: skip

PRESETS.update({
    # Rigify's human metarig (before generating): the spine is one chain, spine.004-.005 the neck, .006 the head.
    "rigify_metarig": {
        "pelvis": ("spine",), "spine1": ("spine.001",), "spine2": ("spine.002",), "spine3": ("spine.003",),
        "neck": ("spine.004",), "head": ("spine.006", "spine.005"),
        **_sided({"collar": "shoulder", "shoulder": "upper_arm", "elbow": "forearm", "wrist": "hand", "hip": "thigh",
                  "knee": "shin", "ankle": "foot", "foot": "toe"}, _RIGIFY_SIDE),
    },
    # A generated Rigify rig, keyed on the controls an animator uses: the torso carries the body, the FK controls
    # the limbs (with the IK/FK switches at FK). Below the torso's pivot Rigify's FK spine runs backwards (spine_fk
    # .001 turns the hips), so spine1 has no control of its own and follows the torso.
    "rigify_fk": {
        "pelvis": ("torso",), "spine2": ("spine_fk.002",), "spine3": ("spine_fk.003",), "neck": ("neck",),
        "head": ("head",),
        **{k: (v[0], v[0].replace("_fk", "")) if k.endswith("_foot") else v for k, v in _sided(
            {"collar": "shoulder", "shoulder": "upper_arm_fk", "elbow": "forearm_fk", "wrist": "hand_fk",
             "hip": "thigh_fk", "knee": "shin_fk", "ankle": "foot_fk", "foot": "toe_fk"}, _RIGIFY_SIDE).items()},
    },
    # Auto-Rig Pro: its FK controls first, else the deform bones as its game-engine export names them.
    "auto_rig_pro": {
        "pelvis": ("c_root_master.x", "root.x"), "spine1": ("c_spine_01.x", "spine_01.x"),
        "spine2": ("c_spine_02.x", "spine_02.x"), "spine3": ("c_spine_03.x", "spine_03.x"),
        "neck": ("c_neck.x", "neck.x"), "head": ("c_head.x", "head.x"),
        **{f"{side}_{role}": tuple(f"{base}.{side[0]}" for base in bases) for side in SIDES for role, bases in (
            ("collar", ("c_shoulder", "shoulder")), ("shoulder", ("c_arm_fk", "arm_stretch", "arm")),
            ("elbow", ("c_forearm_fk", "forearm_stretch", "forearm")), ("wrist", ("c_hand_fk", "hand")),
            ("hip", ("c_thigh_fk", "thigh_stretch", "thigh")), ("knee", ("c_leg_fk", "leg_stretch", "leg")),
            ("ankle", ("c_foot_fk", "foot")), ("foot", ("c_toes_fk", "toes_01")))},
    },  # fmt: skip
    # Unreal Engine 5's mannequin (five spine bones, two neck bones) and UE4's (three spine bones).
    "ue5": {"pelvis": ("pelvis",), "spine1": ("spine_01",), "spine2": ("spine_03",), "spine3": ("spine_05",),
            "neck": ("neck_01",), "head": ("head",), **_sided(_UE_LIMBS, _UE)},
    "ue4": {"pelvis": ("pelvis",), "spine1": ("spine_01",), "spine2": ("spine_02",), "spine3": ("spine_03",),
            "neck": ("neck_01",), "head": ("head",), **_sided(_UE_LIMBS, _UE)},
    # Character Creator / iClone: CC_Base_Hip carries the body (CC_Base_Pelvis, the thighs' parent, hangs from it).
    "character_creator": {
        "pelvis": ("CC_Base_Hip",), "spine1": ("CC_Base_Waist",), "spine2": ("CC_Base_Spine01",),
        "spine3": ("CC_Base_Spine02",), "neck": ("CC_Base_NeckTwist01",), "head": ("CC_Base_Head",),
        **_sided({"collar": "Clavicle", "shoulder": "Upperarm", "elbow": "Forearm", "wrist": "Hand", "hip": "Thigh",
                  "knee": "Calf", "ankle": "Foot", "foot": "ToeBase"}, _CC),
    },
    # VRoid Studio's VRM models (J_Bip_ bones; where UpperChest is absent spine3 stays unmapped).
    "vrm": {
        "pelvis": ("J_Bip_C_Hips",), "spine1": ("J_Bip_C_Spine",), "spine2": ("J_Bip_C_Chest",),
        "spine3": ("J_Bip_C_UpperChest",), "neck": ("J_Bip_C_Neck",), "head": ("J_Bip_C_Head",),
        **_sided({"collar": "Shoulder", "shoulder": "UpperArm", "elbow": "LowerArm", "wrist": "Hand",
                  "hip": "UpperLeg", "knee": "LowerLeg", "ankle": "Foot", "foot": "ToeBase"},
                 lambda side, base: f"J_Bip_{side[0].upper()}_{base}"),
    },
})

PRESET_TITLES: dict[str, str] = {
    "smpl": "SMPL / SMPL-X add-on",
    "smpl_fbx": "SMPL FBX (m_avg_, f_avg_)",
    "mixamo": "Mixamo",
    "motionbuilder": "MotionBuilder / HumanIK",
    "rigify": "Rigify DEF bones",
    "bandai": "Bandai-Namco BVH",
    "cmu": "CMU BVH",
    "rigify_metarig": "Rigify metarig",
    "rigify_fk": "Rigify rig (FK controls)",
    "auto_rig_pro": "Auto-Rig Pro",
    "ue5": "Unreal Engine 5 mannequin",
    "ue4": "Unreal Engine 4 mannequin",
    "character_creator": "Character Creator / iClone",
    "vrm": "VRoid / VRM",
}

PRESET_ALIASES: dict[str, str] = {"smpl_blender": "smpl_fbx", "bandai_namco": "bandai"}
"""Other names accepted for a preset id."""

SYNONYMS: dict[str, tuple[str, ...]] = {
    "pelvis": ("hips", "pelvis", "hip", "root"),
    "hip": ("upleg", "upperleg", "thigh", "legupper", "hip", "uleg", "uprleg"),
    "knee": ("leg", "lowerleg", "loleg", "shin", "calf", "knee", "leglower"),
    "ankle": ("foot", "ankle"),
    "foot": ("toebase", "toe", "toes", "ball", "toe0"),
    "collar": ("clavicle", "collar", "collarbone", "shoulder", "clav"),
    "shoulder": ("upperarm", "uparm", "arm", "shldr", "armupper", "shoulder"),
    "elbow": ("forearm", "lowerarm", "loarm", "elbow", "armlower"),
    "wrist": ("hand", "wrist"),
    "neck": ("neck", "neck1", "neck01", "neck0"),
    "head": ("head",),
}
"""Normalised name stems of each KinMo joint role in common rigs, most specific first."""

SPINE_WORDS: tuple[str, ...] = ("spine", "chest", "back", "torso", "abdomen", "lowerback", "upperchest")
"""Stems that start the names of spine bones."""

SIDE_WORDS: dict[str, str] = {"l": "left", "left": "left", "lf": "left", "lft": "left",
                              "r": "right", "right": "right", "rt": "right", "rgt": "right"}  # fmt: skip
NOISE_WORDS: frozenset[str] = frozenset(
    {"mixamorig", "def", "org", "mch", "bip", "bip01", "bip001", "jnt", "joint", "bn", "bone", "smpl", "avg", "c", "m",
     "f"}
)  # fmt: skip
"""Name parts that say nothing about the joint (rig prefixes, Rigify layers, namespaces' leftovers)."""


@dataclass(frozen=True)
class BoneName:
    """A bone name read into side ('left', 'right' or ''), stem (lower case, no side, no trailing number) and the
    trailing number (digits as written, '' when none): 'mixamorig:LeftUpLeg' -> ('left', 'upleg', '')."""

    side: str
    stem: str
    digits: str = ""

    @property
    def core(self) -> str:
        """The stem with its trailing number ('Spine_01' -> 'spine01'), as names are compared."""
        return self.stem + self.digits

    @property
    def number(self) -> int:
        """The trailing number as an integer (0 when none): a segment index ('thigh.L.001' -> 1)."""
        return int(self.digits) if self.digits else 0


def strip_namespace(name: str) -> str:
    """Return a name without its namespace or path ('mixamorig1:Hips' -> 'Hips', 'Armature|Hips' -> 'Hips')."""
    return re.split(r"[:|]", name)[-1].strip()


def split_name(name: str) -> BoneName:
    """Read a bone name: namespace, noise words (`NOISE_WORDS`) and the side word (`SIDE_WORDS`, or a glued
    'left'/'right' prefix) removed; camelCase and separators split words."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", strip_namespace(name))
    words = [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]
    side = ""
    rest: list[str] = []
    for i, w in enumerate(words):
        if not side and w in SIDE_WORDS and len(words) > 1:
            side = SIDE_WORDS[w]
            continue
        if not side and i == 0 and w.startswith(SIDES) and len(w) > len("right"):
            side = "left" if w.startswith("left") else "right"
            w = w[len(side):]
        rest.append(w)
    kept = [w for w in rest if w not in NOISE_WORDS]
    rest = kept or rest
    digits = []
    while len(rest) > 1 and rest[-1].isdigit():
        digits.insert(0, rest.pop())
    return BoneName(side, "".join(rest), "".join(digits))


def normalize_name(name: str) -> tuple[str, str]:
    """Return (side, core) of a name, the form in which two rigs' names are compared."""
    b = split_name(name)
    return b.side, b.core


def resolve_preset(preset: str) -> str:
    """Return the preset id for a preset name or alias (any case); KeyError when unknown."""
    key = PRESET_ALIASES.get(preset.lower(), preset.lower())
    if key not in PRESETS:
        raise KeyError(preset)
    return key


def match_preset(preset: str, names: Sequence[str], usable: Callable[[str, int], bool] | None = None,
                 normalized: bool = False) -> tuple[dict[str, int], int, list[str]]:
    """Apply a preset to a rig's names: return ({joint: name index}, exact matches, joints the rig lacks).

    A candidate matches its bone by exact name, then without namespaces, then (with `normalized`, for names that
    went through exporters, such as BVH joints) by `normalize_name`; the first candidate that matches, is
    `usable(joint, index)` and is not taken by an earlier joint wins. A joint counts as lacking only when none of
    its candidates occurs in the rig at all.
    """
    table = PRESETS[resolve_preset(preset)]
    exact = {n: i for i, n in enumerate(names)}
    stripped: dict[str, int] = {}
    normal: dict[tuple[str, str], int] = {}
    for i, n in enumerate(names):
        stripped.setdefault(strip_namespace(n), i)
        normal.setdefault(normalize_name(n), i)
    found: dict[str, int] = {}
    n_exact = 0
    lacking = []
    for joint, candidates in table.items():
        hits = []
        for c in candidates:
            i = exact.get(c)
            how_exact = i is not None
            if i is None:
                i = stripped.get(strip_namespace(c))
            if i is None and normalized:
                i = normal.get(normalize_name(c))
            if i is not None:
                hits.append((i, how_exact))
        if not hits:
            lacking.append(joint)
            continue
        taken = set(found.values())
        pick = next(((i, e) for i, e in hits if i not in taken and (usable is None or usable(joint, i))), None)
        if pick is not None:
            found[joint] = pick[0]
            n_exact += pick[1]
    return found, n_exact, lacking


@dataclass
class Hierarchy:
    """A rig's names and parent indices (-1 for roots), parents listed before their children."""

    names: Sequence[str]
    parents: Sequence[int]

    def is_ancestor(self, a: int, b: int) -> bool:
        """Return True when a is a strict ancestor of b."""
        p = self.parents[b]
        while p >= 0:
            if p == a:
                return True
            p = self.parents[p]
        return False

    def depth(self, i: int) -> int:
        """Return the number of ancestors of i."""
        d, p = 0, self.parents[i]
        while p >= 0:
            d, p = d + 1, self.parents[p]
        return d


def match_by_names(names: Sequence[str], parents: Sequence[int]) -> dict[str, int]:
    """Map a hierarchy's joints by `SYNONYMS`: {KinMo joint: index}.

    Each joint is the best-named candidate below the joint it hangs from (a hip below the pelvis, a knee below that
    hip, ...): names without a segment number first, then the synonym's rank, then the shallowest. The spine joints
    are the unsided spine-named bones between the pelvis and the neck (first, middle, last); a lone 'shoulder' bone
    with no upper arm below it is the upper arm.
    """
    rig = Hierarchy(names, parents)
    info = [split_name(n) for n in names]
    out: dict[str, int] = {}

    def pick(role: str, side: str, below: str | None = None) -> int | None:
        anchor = out.get(below) if below else None
        found = []
        for i, b in enumerate(info):
            if b.side != side or b.stem not in SYNONYMS[role]:
                continue
            if anchor is not None and not rig.is_ancestor(anchor, i):
                continue
            if i in out.values():
                continue
            found.append((b.number, SYNONYMS[role].index(b.stem), rig.depth(i), i))
        return min(found)[3] if found else None

    def put(joint: str, i: int | None) -> None:
        if i is not None:
            out[joint] = i

    put("pelvis", pick("pelvis", ""))
    put("neck", pick("neck", "", "pelvis"))
    put("head", pick("head", "", "neck" if "neck" in out else "pelvis"))
    spine = []
    if "pelvis" in out and "neck" in out:
        b = parents[out["neck"]]
        while b >= 0 and b != out["pelvis"]:
            if not info[b].side and any(info[b].stem.startswith(w) for w in SPINE_WORDS):
                spine.append(b)
            b = parents[b]
        spine.reverse()
    if spine:
        out["spine1"] = spine[0]
        if len(spine) > 1:
            out["spine3"] = spine[-1]
        if len(spine) >= 3:
            out["spine2"] = spine[len(spine) // 2]
    for side in SIDES:
        for role, parent_role in (("hip", "pelvis"), ("knee", "hip"), ("ankle", "knee"), ("foot", "ankle")):
            put(f"{side}_{role}", pick(role, side, f"{side}_{parent_role}" if parent_role != "pelvis" else "pelvis"))
        arm_anchor = "spine3" if "spine3" in out else ("spine1" if "spine1" in out else "pelvis")
        put(f"{side}_collar", pick("collar", side, arm_anchor))
        for role, parent_role in (("shoulder", "collar"), ("elbow", "shoulder"), ("wrist", "elbow")):
            anchor = f"{side}_{parent_role}" if f"{side}_{parent_role}" in out else arm_anchor
            put(f"{side}_{role}", pick(role, side, anchor))
        if f"{side}_collar" in out and f"{side}_shoulder" not in out:
            out[f"{side}_shoulder"] = out.pop(f"{side}_collar")
    return out
