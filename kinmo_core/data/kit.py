"""Importing a KIT-ML folder (HumanML3D's processing of the KIT Motion-Language set) into KinMo's one representation.

KIT-ML holds new_joints/<id>.npy (T, 21, 3) positions of the KIT/MMM skeleton at 12.5 fps, new_joint_vecs/<id>.npy
(T-1, 251) features, texts/<id>.txt, train/val/test.txt and a 251-d Mean/Std. KinMo's models read 263-d features of
the SMPL 22-joint skeleton at 20 fps, so `import_kit_folder` converts once: each clip's 21 joint positions are mapped
onto the 22 joints (`kit_to_smpl22`), resampled to 20 fps, and turned into features with joints_to_features; captions
(with their start/end times, which are in seconds) and splits are copied as they are, and Mean/Std are recomputed.

KIT joint order (HumanML3D's paramUtil.kit_kinematic_chain [[0, 11..15], [0, 16..20], [0, 1..4], [3, 5..7],
[3, 8..10]]): 0 pelvis; 1 torso, 2 chest, 3 neck (where the arms branch), 4 head; 5-7 right shoulder, elbow, wrist;
8-10 left; 11-15 right hip, knee, ankle, foot, toe; 16-20 left. Right before left, as in HumanML3D's chains and its
face_joint_indx [11, 16, 5, 8] = (right hip, left hip, right shoulder, left shoulder). Assumed: Y is up (checked: the
head must be above the pelvis), any unit (scaled so the median leg length is the target skeleton's), and the sides as
above (checked per clip from the toes: a clip whose toes point backwards for the assumed sides is counted in the
summary as `sides_suspect`). SMPL's foot joint takes KIT's joint 15 (HumanML3D pairs KIT's contact joints 14, 15
with SMPL's ankle and foot); spine1-3 lie along the pelvis-torso-chest-neck chain at the target skeleton's length
ratios; the collars lie between the neck, spine3 and the shoulders (COLLAR_WEIGHTS).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kinmo_core.data import layout
from kinmo_core.data.corpus import run_parallel
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.skeleton import BONE_LENGTHS, FPS, JOINT_INDEX, JOINT_NAMES

KIT_FPS: float = 12.5
KIT_NUM_JOINTS: int = 21
KIT_FEATURE_DIM: int = 251
KIT_JOINTS: dict[str, int] = {
    "pelvis": 0, "neck": 3, "head": 4,
    "right_shoulder": 5, "right_elbow": 6, "right_wrist": 7,
    "left_shoulder": 8, "left_elbow": 9, "left_wrist": 10,
    "right_hip": 11, "right_knee": 12, "right_ankle": 13, "right_foot": 15,
    "left_hip": 16, "left_knee": 17, "left_ankle": 18, "left_foot": 20,
}
"""KinMo joint name -> KIT joint index, for the joints both skeletons have."""
KIT_TORSO: tuple[int, ...] = (0, 1, 2, 3)
"""KIT's pelvis, torso, chest and neck: the chain spine1-3 are placed along."""
KIT_TOES: tuple[int, int] = (15, 20)

_J = JOINT_INDEX
_SPINE = ("spine1", "spine2", "spine3")
# Arc-length fractions of spine1..3 on the pelvis -> neck chain of the target skeleton.
_CUM = np.cumsum([BONE_LENGTHS[_J[n]] for n in (*_SPINE, "neck")])
SPINE_FRACTIONS: tuple[float, ...] = tuple(float(c) for c in _CUM[:3] / _CUM[3])
COLLAR_WEIGHTS: tuple[float, float] = (0.30, 0.36)
"""collar = neck + a (spine3 - neck) + b (shoulder - neck): least squares on HumanML3D's motions 012314 and 000612
(residual about 2 cm)."""
TARGET_LEG: float = float(np.mean([BONE_LENGTHS[_J[f"{s}_knee"]] + BONE_LENGTHS[_J[f"{s}_ankle"]]
                                   for s in ("left", "right")]))

KIT_README = """# KIT-ML, converted by KinMo

`kinmo corpus import-kit` converted {ok} of {total} KIT-ML clips from `{src}` to KinMo's representation: the 21 KIT
joints mapped onto the 22-joint SMPL skeleton, resampled from 12.5 to 20 fps, 263-d features (joints_to_features),
the source's captions, splits and mirrored copies kept as they were, Mean/Std of the training split recomputed
(HumanML3D's std post-processing). The motions keep the license of the KIT Motion-Language Dataset: check it before
sharing this folder.
"""


def _along(points: np.ndarray, fractions: tuple[float, ...]) -> np.ndarray:
    """Return (T, len(fractions), 3) points at the given arc-length fractions of the (T, K, 3) polylines."""
    seg = np.linalg.norm(np.diff(points, axis=1), axis=-1)  # (T, K-1)
    cum = np.concatenate((np.zeros((len(points), 1)), np.cumsum(seg, axis=1)), axis=1)  # (T, K)
    out = []
    for f in fractions:
        s = f * cum[:, -1]
        k = np.clip((cum[:, 1:-1] < s[:, None]).sum(axis=1), 0, seg.shape[1] - 1)  # segment holding s
        rows = np.arange(len(points))
        a = (s - cum[rows, k]) / np.maximum(seg[rows, k], 1e-9)
        out.append(points[rows, k] + a[:, None] * (points[rows, k + 1] - points[rows, k]))
    return np.stack(out, axis=1)


def check_kit_joints(joints: np.ndarray, what: str = "KIT joints") -> np.ndarray:
    """Return (T, 21, 3) float64 KIT joints, or raise a one-line error for a wrong shape, NaNs or a non-Y-up clip."""
    x = np.asarray(joints, dtype=np.float64)
    if x.ndim != 3 or x.shape[1:] != (KIT_NUM_JOINTS, 3) or len(x) < 2:
        raise KinmoInputError(f"{what}: expected (frames >= 2, 21, 3) KIT-ML joint positions, got {x.shape}")
    if not np.isfinite(x).all():
        raise KinmoInputError(f"{what}: joint positions are not all finite")
    if np.median(x[:, KIT_JOINTS["head"], 1] - x[:, 0, 1]) <= 0:
        raise KinmoInputError(f"{what}: the head is not above the pelvis along Y (KIT-ML's new_joints are Y-up)")
    return x


def kit_leg_length(joints: np.ndarray) -> float:
    """Return the median over frames of the mean hip-knee-ankle length of the two legs (in the clip's unit)."""
    k = KIT_JOINTS
    legs = [np.linalg.norm(joints[:, k[f"{s}_knee"]] - joints[:, k[f"{s}_hip"]], axis=-1)
            + np.linalg.norm(joints[:, k[f"{s}_ankle"]] - joints[:, k[f"{s}_knee"]], axis=-1)
            for s in ("left", "right")]
    return float(np.median(0.5 * (legs[0] + legs[1])))


def kit_sides_agree(joints: np.ndarray) -> bool:
    """Return whether the toes point the way a body with KIT_JOINTS' left and right sides faces (Y up)."""
    k = KIT_JOINTS
    across = joints[:, k["left_hip"]] - joints[:, k["right_hip"]]
    facing = np.cross(across, np.array([0.0, 1.0, 0.0]))  # left is +X when facing +Z (skeleton.py)
    toes = sum(joints[:, t] - joints[:, k[f"{s}_ankle"]] for t, s in zip(KIT_TOES, ("right", "left"), strict=True))
    return float((facing[:, [0, 2]] * toes[:, [0, 2]]).sum()) >= 0.0


def kit_to_smpl22(joints: np.ndarray, fps_in: float = KIT_FPS, fps_out: float = FPS) -> tuple[np.ndarray, dict]:
    """Return (joints (T', 22, 3) in metres at fps_out, info {scale, sides_agree}) of (T, 21, 3) KIT joints."""
    from kinmo_core.motion.rigs import resample_positions

    x = check_kit_joints(joints)
    leg = kit_leg_length(x)
    if not leg > 1e-9:
        raise KinmoInputError("KIT joints: the legs have no length")
    scale = TARGET_LEG / leg
    x = resample_positions(x * scale, fps_in, fps_out)
    pos = {n: x[:, i] for n, i in KIT_JOINTS.items()}
    spine = _along(x[:, list(KIT_TORSO)], SPINE_FRACTIONS)
    for i, n in enumerate(_SPINE):
        pos[n] = spine[:, i]
    for side in ("left", "right"):
        pos[f"{side}_collar"] = pos["neck"] + COLLAR_WEIGHTS[0] * (pos["spine3"] - pos["neck"]) \
            + COLLAR_WEIGHTS[1] * (pos[f"{side}_shoulder"] - pos["neck"])
    out = np.stack([pos[n] for n in JOINT_NAMES], axis=1)
    return out.astype(np.float32), {"scale": scale, "sides_agree": kit_sides_agree(x)}


def smpl22_to_kit(joints: np.ndarray) -> np.ndarray:
    """Return (T, 21, 3) KIT-layout positions of (T, 22, 3) KinMo joints (torso, chest and toes approximated).

    For tests and for comparing with KIT-ML: torso = spine1, chest = spine3, KIT's foot (14/19) halfway from the ankle
    to KinMo's foot joint, which is KIT's toe (15/20).
    """
    j = np.asarray(joints, dtype=np.float64)
    out = np.zeros(j.shape[:-2] + (KIT_NUM_JOINTS, 3))
    for n, i in KIT_JOINTS.items():
        out[..., i, :] = j[..., _J[n], :]
    out[..., 1, :] = j[..., _J["spine1"], :]
    out[..., 2, :] = j[..., _J["spine3"], :]
    for s, foot in (("right", 14), ("left", 19)):
        out[..., foot, :] = 0.5 * (j[..., _J[f"{s}_ankle"], :] + j[..., _J[f"{s}_foot"], :])
    return out


def is_kit_folder(root: str | os.PathLike) -> bool:
    """Return whether a HumanML3D-layout folder holds KIT-ML data (251-d features or 21-joint positions)."""
    root = Path(root)
    for sub, ok in (("new_joint_vecs", lambda s: len(s) == 2 and s[1] == KIT_FEATURE_DIM),
                    ("new_joints", lambda s: len(s) == 3 and s[1:] == (KIT_NUM_JOINTS, 3))):
        d = root / sub
        first = next(iter(sorted(d.glob("*.npy"))), None) if d.is_dir() else None
        if first is not None:
            return bool(ok(np.load(first, mmap_mode="r", allow_pickle=False).shape))
    return False


def kit_folder_message(root: str | os.PathLike) -> str:
    """Return the one-line advice for a KIT-ML folder given where KinMo's representation is expected."""
    return (f"{root}: a KIT-ML folder (21 joints, 12.5 fps, 251-d features): convert it once with "
            f"`kinmo corpus import-kit {root} -o data/kit`, then use --data data/kit")


def _convert_one(job: tuple) -> dict:
    from kinmo_core.motion.features import features_to_joints, joints_to_features

    src_s, mid, out_s = job
    src, out = Path(src_s), Path(out_s)
    path = src / "new_joints" / f"{mid}.npy"
    try:
        kit = np.load(path, allow_pickle=False)
        joints, info = kit_to_smpl22(kit)
        if len(joints) < 3:
            raise KinmoInputError(f"only {len(joints)} frames at 20 fps")
        feats = joints_to_features(joints)
        if not np.isfinite(feats).all():
            raise KinmoInputError("conversion produced non-finite values")
        text = (src / "texts" / f"{mid}.txt").read_text(encoding="utf-8")
        layout.read_texts(src / "texts" / f"{mid}.txt")  # a malformed caption file fails here, by name
    except (KinmoInputError, OSError, ValueError) as e:  # one bad clip must not stop the import
        return {"id": mid, "path": str(path), "error": " ".join(str(e).split()) or type(e).__name__}
    f, j = feats, features_to_joints(feats)
    layout.save_npy_atomic(out / "new_joint_vecs" / f"{mid}.npy", f.astype(np.float32))
    layout.save_npy_atomic(out / "new_joints" / f"{mid}.npy", j.astype(np.float32))
    layout.write_text_atomic(out / "texts" / f"{mid}.txt", text)
    return {"id": mid, "frames": int(len(f)), "sides_agree": info["sides_agree"], "sums": layout.feature_sums(f)}


def import_kit_folder(src: str | os.PathLike, out: str | os.PathLike, workers: int = 1, overwrite: bool = False,
                      progress: bool = True) -> dict:
    """Convert a KIT-ML folder into a KinMo dataset folder at `out`; return a summary (counts, failures, splits)."""
    src = Path(src)
    if not (src / "new_joints").is_dir() or not (src / "texts").is_dir():
        raise KinmoInputError(f"{src}: not a KIT-ML folder (needs new_joints/ and texts/ as HumanML3D's KIT-ML has)")
    if not is_kit_folder(src):
        raise KinmoInputError(f"{src}: new_joints/ does not hold (frames, 21, 3) KIT-ML positions; a HumanML3D "
                              "folder (263-d features) is used as it is with --data")
    splits = {s: layout.read_split(src, s) for s in layout.SPLITS if (src / f"{s}.txt").is_file()}
    if not splits:
        raise KinmoInputError(f"{src}: no train.txt, val.txt or test.txt")
    ids = list(dict.fromkeys(i for s in splits.values() for i in s
                             if (src / "new_joints" / f"{i}.npy").is_file() and (src / "texts" / f"{i}.txt").is_file()))
    if not ids:
        raise KinmoInputError(f"{src}: no id of the split files has both new_joints/<id>.npy and texts/<id>.txt")
    root = layout.prepare_output(out, overwrite=overwrite)
    results = run_parallel(_convert_one, [(str(src), i, str(root)) for i in ids], workers, "importing KIT-ML",
                           progress)
    ok = {r["id"]: r for r in results if "error" not in r}
    failed = [{"path": r["path"], "error": r["error"]} for r in results if "error" in r]
    if not ok:
        raise KinmoInputError(f"{src}: no clip converted; first error: {failed[0]['path']}: {failed[0]['error']}")
    train = [ok[i]["sums"] for i in splits.get("train", []) if i in ok]
    layout.write_statistics(root, sum(train) if train else sum(r["sums"] for r in ok.values()))
    counts = {}
    for s, lst in splits.items():
        kept = [i for i in lst if i in ok]
        layout.write_text_atomic(root / f"{s}.txt", "".join(i + "\n" for i in kept))
        counts[s] = len(kept)
    layout.write_text_atomic(root / "all.txt", "".join(i + "\n" for i in ok))
    summary = {"source": str(src), "clips": len(ids), "imported": len(ok), "splits": counts,
               "frames": int(sum(r["frames"] for r in ok.values())),
               "sides_suspect": sorted(i for i, r in ok.items() if not r["sides_agree"])}
    layout.write_json(root / "corpus.json", {"kind": "kit-ml", **summary, "failed": [x["path"] for x in failed]})
    layout.write_text_atomic(root / "README.md", KIT_README.format(ok=len(ok), total=len(ids), src=src.name))
    return {**summary, "failed": failed}
