"""Test rigs with the bone names of the rigs animators use, on one small humanoid (no Blender needed to import).

Each rig is (bones, scale, expected): bones are (name, parent, head, tail) rows in the rig's own units and Blender
axes (z up, facing -y, the body's left at +x), scale the object scale that makes them metres, and expected the
SMPL-22 joint -> bone map the add-on should detect. Rigify's rigs are made by its own add-on (tests build them).
"""

from __future__ import annotations

import numpy as np

_C = 0.7071
SIDES = (("left", 1.0), ("right", -1.0))


def points(s: float, height: float = 1.0, tpose: bool = False) -> dict[str, tuple[float, float, float]]:
    """Joint points (cm) of one side (s = +1 left, -1 right) and the trunk: an A-pose humanoid 1.8 m tall, scaled by
    `height`, with the arms horizontal when `tpose`."""
    p = _points(s)
    if tpose:
        p.update({"elbow": (s * 43, 0, 144), "wrist": (s * 68, 0, 144), "hand_end": (s * 76, 0, 144)})
    return {k: tuple(height * x for x in v) for k, v in p.items()}


def _points(s: float) -> dict[str, tuple[float, float, float]]:
    return {
        "root": (0, 0, 0), "pelvis": (0, 0, 100), "spine1": (0, 0, 110), "spine2": (0, 0, 122),
        "spine3": (0, 0, 134), "neck": (0, 0, 148), "head": (0, -1, 158), "head_top": (0, -1, 175),
        "collar": (s * 3, 0, 144), "shoulder": (s * 15, 0, 144), "elbow": (s * (15 + 28 * _C), 0, 144 - 28 * _C),
        "wrist": (s * (15 + 53 * _C), 0, 144 - 53 * _C), "hand_end": (s * (15 + 61 * _C), 0, 144 - 61 * _C),
        "hip": (s * 10, 0, 96), "knee": (s * 10, 1, 52), "ankle": (s * 10, 3, 9), "toe": (s * 10, -10, 2),
        "toe_end": (s * 10, -17, 2),
    }  # fmt: skip


def _mid(a, b, t: float) -> tuple[float, float, float]:
    return tuple(float(x) for x in np.asarray(a, float) + t * (np.asarray(b, float) - np.asarray(a, float)))


def chain_rig(trunk: dict[str, str], limb: dict[str, str], side_name, root: str | None = None,
              split: dict[str, str] | None = None, extras: list | None = None, unit: float = 1.0,
              height: float = 1.0, tpose: bool = False) -> tuple[list, dict[str, str]]:
    """A rig whose bones follow the joints: trunk {joint: name}, limb {role: base name}, side_name(base, side).

    split {trunk joint: name}: that joint's bone is cut in half, the upper half a bone of that name (the bones
    above hang from it), as UE5's spine_02 between spine_01 and spine_03.
    """
    p = points(1.0, height, tpose)
    split = split or {}
    bones = []
    if root:
        bones.append((root, None, p["root"], (0, 10, 0)))
    up = {"pelvis": "spine1", "spine1": "spine2", "spine2": "spine3", "spine3": "neck", "neck": "head",
          "head": "head_top"}  # fmt: skip
    below = {"spine1": "pelvis", "spine2": "spine1", "spine3": "spine2", "neck": "spine3", "head": "neck"}
    expected = {}

    def top(j: str) -> str:  # the bone the next ones hang from
        return split.get(j, trunk[j])

    for j, name in trunk.items():
        parent = top(below[j]) if j in below else root
        tail = _mid(p[j], p[up[j]], 0.5) if j in split else p[up[j]]
        bones.append((name, parent, p[j], tail))
        if j in split:
            bones.append((split[j], name, tail, p[up[j]]))
        expected[j] = name
    limb_up = {"collar": "shoulder", "shoulder": "elbow", "elbow": "wrist", "wrist": "hand_end", "hip": "knee",
               "knee": "ankle", "ankle": "toe", "foot": "toe_end"}  # fmt: skip
    limb_parent = {"collar": "spine3", "shoulder": "collar", "elbow": "shoulder", "wrist": "elbow", "hip": "pelvis",
                   "knee": "hip", "ankle": "knee", "foot": "ankle"}  # fmt: skip
    for side, s in SIDES:
        ps = points(s, height, tpose)
        for role, base in limb.items():
            par = limb_parent[role]
            parent = side_name(limb[par], side) if par in limb else top(par)
            head = ps["toe"] if role == "foot" else ps[role]
            bones.append((side_name(base, side), parent, head, ps[limb_up[role]]))
            expected[f"{side}_{role}"] = side_name(base, side)
    bones += list(extras or [])
    if unit != 1.0:
        bones = [(n, par, tuple(unit * x for x in h), tuple(unit * x for x in t)) for n, par, h, t in bones]
    return bones, expected


def _cap(side: str) -> str:
    return side.capitalize()


def rigs() -> dict[str, tuple[list, float, dict[str, str]]]:
    """Every test rig by kind: (bones, object scale, expected joint -> bone map)."""
    out = {}
    limbs = ("collar", "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "foot")

    # Unreal Engine 5 mannequin (cm): five spine bones, two neck bones, twist and IK bones.
    p1 = points(1.0)
    bones, expected = chain_rig({"pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_03", "spine3": "spine_05",
                              "neck": "neck_01", "head": "head"},
                             dict(zip(limbs, ("clavicle", "upperarm", "lowerarm", "hand", "thigh", "calf", "foot",
                                              "ball"), strict=True)),
                             lambda b, s: f"{b}_{s[0]}", root="root",
                             split={"spine1": "spine_02", "spine2": "spine_04", "neck": "neck_02"},
                             extras=[("upperarm_twist_01_l", "upperarm_l", _mid(p1["shoulder"], p1["elbow"], 0.5),
                                      p1["elbow"]), ("ik_foot_root", "root", (0, 0, 0), (0, 0, 10))],
                             height=1.05)  # fmt: skip
    out["ue5"] = (bones, 0.01, expected)

    # Character Creator / iClone (cm): BoneRoot > Hip > (Pelvis > thighs; Waist > Spine01 > Spine02 > ...).
    cc_trunk = {"pelvis": "CC_Base_Hip", "spine1": "CC_Base_Waist", "spine2": "CC_Base_Spine01",
                "spine3": "CC_Base_Spine02", "neck": "CC_Base_NeckTwist01", "head": "CC_Base_Head"}  # fmt: skip
    bones, expected = chain_rig(cc_trunk, dict(zip(limbs, ("Clavicle", "Upperarm", "Forearm", "Hand", "Thigh", "Calf",
                                                           "Foot", "ToeBase"), strict=True)),
                                lambda b, s: f"CC_Base_{s[0].upper()}_{b}", root="CC_Base_BoneRoot",
                                extras=[("CC_Base_Pelvis", "CC_Base_Hip", p1["pelvis"], (0, 0, 90)),
                                        ("CC_Base_L_UpperarmTwist01", "CC_Base_L_Upperarm", p1["shoulder"],
                                         p1["elbow"])])  # fmt: skip
    # The thighs hang from CC_Base_Pelvis, a child of CC_Base_Hip (which moves the whole body).
    bones = [(n, "CC_Base_Pelvis" if n.endswith("_Thigh") else par, h, t) for n, par, h, t in bones]
    bones.sort(key=lambda row: row[0] != "CC_Base_BoneRoot")
    out["character_creator"] = (bones, 0.01, expected)

    # VRoid / VRM (metres).
    bones, expected = chain_rig({"pelvis": "J_Bip_C_Hips", "spine1": "J_Bip_C_Spine", "spine2": "J_Bip_C_Chest",
                                 "spine3": "J_Bip_C_UpperChest", "neck": "J_Bip_C_Neck", "head": "J_Bip_C_Head"},
                                dict(zip(limbs, ("Shoulder", "UpperArm", "LowerArm", "Hand", "UpperLeg", "LowerLeg",
                                                 "Foot", "ToeBase"), strict=True)),
                                lambda b, s: f"J_Bip_{s[0].upper()}_{b}", root="Root", unit=0.01, height=0.85,
                                tpose=True)  # fmt: skip
    out["vrm"] = (bones, 1.0, expected)

    # Auto-Rig Pro, as its game-engine export names the deform bones (cm).
    bones, expected = chain_rig({"pelvis": "root.x", "spine1": "spine_01.x", "spine2": "spine_02.x",
                                 "spine3": "spine_03.x", "neck": "neck.x", "head": "head.x"},
                                dict(zip(limbs, ("shoulder", "arm_stretch", "forearm_stretch", "hand", "thigh_stretch",
                                                 "leg_stretch", "foot", "toes_01"), strict=True)),
                                lambda b, s: f"{b}.{s[0]}", height=1.1, tpose=True)  # fmt: skip
    out["auto_rig_pro"] = (bones, 0.01, expected)

    # The SMPL-X add-on's armature (metres, T-pose): SMPL joint names under a root, with jaw, eyes and fingers.
    px = points(1, 0.95, True)
    bones, expected = chain_rig({j: j for j in ("pelvis", "spine1", "spine2", "spine3", "neck", "head")},
                                {r: r for r in limbs}, lambda b, s: f"{s}_{b}", root="root",
                                extras=[("jaw", "head", (0, -1, 160), (0, -8, 158)),
                                        ("left_eye_smplhf", "head", (3, -8, 165), (3, -10, 165)),
                                        ("left_index1", "left_wrist", px["hand_end"],
                                         _mid(px["hand_end"], px["wrist"], -0.3))],
                                unit=0.01, height=0.95, tpose=True)  # fmt: skip
    out["smplx"] = (bones, 1.0, expected)

    # Common naming: .L, _l, Left..., L_... (no preset: the name matcher).
    trunk = {"pelvis": "Hips", "spine1": "Spine", "spine2": "Chest", "spine3": "UpperChest", "neck": "Neck",
             "head": "Head"}  # fmt: skip
    out["names_dot_L"] = (*chain_rig(trunk, dict(zip(limbs, ("Shoulder", "UpperArm", "LowerArm", "Hand", "UpperLeg",
                                                              "LowerLeg", "Foot", "Toes"), strict=True)),
                                     lambda b, s: f"{b}.{s[0].upper()}")[:1], 0.01, None)  # fmt: skip
    out["names_underscore_l"] = (*chain_rig({"pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_02",
                                             "spine3": "spine_03", "neck": "neck", "head": "head"},
                                            dict(zip(limbs, ("clavicle", "upperarm", "forearm", "hand", "thigh", "calf",
                                                             "foot", "toe"), strict=True)),
                                            lambda b, s: f"{b}_{s[0]}")[:1], 0.01, None)  # fmt: skip
    out["names_Left"] = (*chain_rig({"pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2",
                                     "neck": "Neck", "head": "Head"},
                                    dict(zip(limbs, ("Shoulder", "Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot",
                                                     "ToeBase"), strict=True)),
                                    lambda b, s: f"{_cap(s)}{b}")[:1], 0.01, None)  # fmt: skip
    out["names_L_"] = (*chain_rig({"pelvis": "Pelvis", "spine1": "Spine1", "spine2": "Spine2", "spine3": "Spine3",
                                   "neck": "Neck", "head": "Head"},
                                  dict(zip(limbs, ("Clavicle", "UpperArm", "Forearm", "Hand", "Thigh", "Shin", "Foot",
                                                   "Toe"), strict=True)),
                                  lambda b, s: f"{s[0].upper()}_{b}")[:1], 0.01, None)  # fmt: skip
    for kind in [k for k in out if k.startswith("names_")]:
        bones = out[kind][0]
        out[kind] = (bones, 0.01, chain_expected(bones))
    return out


def chain_expected(bones: list) -> dict[str, str]:
    """The expected map of a `chain_rig` without extras: bones in joint order (trunk, then left, then right limbs)."""
    order = ["pelvis", "spine1", "spine2", "spine3", "neck", "head"]
    limbs = ("collar", "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "foot")
    order += [f"{s}_{r}" for s, _ in SIDES for r in limbs]
    return dict(zip(order, [b[0] for b in bones], strict=True))


RIGIFY_METARIG_EXPECTED = {
    "pelvis": "spine", "spine1": "spine.001", "spine2": "spine.002", "spine3": "spine.003", "neck": "spine.004",
    "head": "spine.006",
    **{f"{side}_{role}": f"{bone}.{side[0].upper()}" for side, _ in SIDES for role, bone in (
        ("collar", "shoulder"), ("shoulder", "upper_arm"), ("elbow", "forearm"), ("wrist", "hand"), ("hip", "thigh"),
        ("knee", "shin"), ("ankle", "foot"), ("foot", "toe"))},
}  # fmt: skip

RIGIFY_CONTROLS_EXPECTED = {
    "pelvis": "torso", "spine2": "spine_fk.002", "spine3": "spine_fk.003", "neck": "neck", "head": "head",
    **{f"{side}_{role}": f"{bone}.{side[0].upper()}" for side, _ in SIDES for role, bone in (
        ("collar", "shoulder"), ("shoulder", "upper_arm_fk"), ("elbow", "forearm_fk"), ("wrist", "hand_fk"),
        ("hip", "thigh_fk"), ("knee", "shin_fk"), ("ankle", "foot_fk"), ("foot", "toe_fk"))},
}  # fmt: skip
"""A generated Rigify rig is keyed on its FK controls and its torso; below the torso's pivot the FK spine runs
backwards (spine_fk.001 turns the hips), so spine1 has no control of its own and follows the torso."""


def build_rigify(bpy, generate: bool):
    """Rigify's human metarig without face, fingers and extras (small and fast); generated into a rig if asked."""
    import addon_utils

    if not addon_utils.check("rigify")[1]:
        addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    meta = bpy.context.active_object
    bpy.ops.object.mode_set(mode="EDIT")
    eb = meta.data.edit_bones
    drop = set()
    for b in list(eb):
        if b.name == "face" or b.name.startswith(("palm", "breast", "pelvis")):
            drop.add(b.name)
            drop.update(c.name for c in b.children_recursive)
    for n in drop:
        eb.remove(eb[n])
    bpy.ops.object.mode_set(mode="OBJECT")
    if not generate:
        return meta
    bpy.ops.pose.rigify_generate()
    rig = bpy.context.active_object
    meta.hide_set(True)
    return rig
