"""The HumanML3D folder layout: writing motions, captions, splits and normalisation statistics, and reading them.

    DIR/new_joint_vecs/<id>.npy   (T-1, 263) float32 features (kinmo_core.motion.features.joints_to_features)
    DIR/new_joints/<id>.npy       (T-1, 22, 3) float32 joints recovered from the features (features_to_joints)
    DIR/texts/<id>.txt            one caption per line: caption#word/POS tokens#start#end (0.0#0.0 = whole clip)
    DIR/train.txt val.txt test.txt all.txt   ids, one per line
    DIR/Mean.npy Std.npy          (263,) statistics of the training split (mirrors included)

Mirrored copies (HumanML3D's augmentation: joints reflected, left and right swapped in joints and in words) get the
id `M<id>` and always land in the same split as their original, so no test motion leaks into training through its
mirror. Users' own HumanML3D and KIT-ML folders have this layout and load with the same code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from kinmo_core.data.captions import humanml_line, mirror_text
from kinmo_core.errors import KinmoInputError
from kinmo_core.fileio import atomic_output

SPLITS: tuple[str, ...] = ("train", "val", "test")
SPLIT_FRACTIONS: tuple[float, float, float] = (0.80, 0.05, 0.15)
FEAT_BIAS: float = 5.0
"""HumanML3D's weight-down factor for the root and foot-contact blocks of Std (their std is multiplied by it)."""
MIRROR_PREFIX = "M"
SUBDIRS: tuple[str, ...] = ("new_joint_vecs", "new_joints", "texts")


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """Save one .npy file atomically, replacing an older version (prepare_output guards the user's folder)."""
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array))


def write_text_atomic(path: Path, text: str) -> None:
    """Write a UTF-8 text file atomically, replacing an older version (prepare_output guards the user's folder)."""
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_bytes(text.encode("utf-8"))


def prepare_output(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Create the dataset folder and its subfolders; refuse a non-empty folder unless overwrite."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise KinmoInputError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise KinmoInputError(f"{out}: folder is not empty; choose a new folder or pass --overwrite")
    for sub in SUBDIRS:
        (out / sub).mkdir(parents=True, exist_ok=True)
    return out


def mirror_id(motion_id: str) -> str:
    """Return the id of a motion's mirrored copy."""
    return MIRROR_PREFIX + motion_id


def base_id(motion_id: str) -> str:
    """Return the id of the original of a (possibly mirrored) motion."""
    return motion_id[len(MIRROR_PREFIX):] if motion_id.startswith(MIRROR_PREFIX) else motion_id


def write_motion(out: Path, motion_id: str, features: np.ndarray, joints: np.ndarray, captions: Iterable[str]) -> None:
    """Write one motion's features, joints and captions in the layout."""
    save_npy_atomic(out / "new_joint_vecs" / f"{motion_id}.npy", features.astype(np.float32))
    save_npy_atomic(out / "new_joints" / f"{motion_id}.npy", joints.astype(np.float32))
    write_captions(out, motion_id, captions)


def write_captions(out: Path, motion_id: str, captions: Iterable[str]) -> None:
    """Write one motion's captions file (HumanML3D `caption#tokens#start#end` lines)."""
    write_text_atomic(out / "texts" / f"{motion_id}.txt", "".join(humanml_line(c) + "\n" for c in captions))


def motion_pair(joints: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return ((features, joints), (mirrored features, mirrored joints)) of raw joints, HumanML3D's way."""
    from kinmo_core.motion.features import features_to_joints, joints_to_features, mirror_joints

    feats = joints_to_features(joints)
    mfeats = joints_to_features(mirror_joints(joints))
    return (feats, features_to_joints(feats)), (mfeats, features_to_joints(mfeats))


def mirrored_captions(captions: Iterable[str]) -> list[str]:
    """Return captions with left and right swapped."""
    return [mirror_text(c) for c in captions]


def assign_splits(ids: list[str], seed: int) -> dict[str, str]:
    """Return {id: split} for original ids: a seeded 80/5/15 shuffle (mirrors follow their original)."""
    order = np.random.default_rng([int(seed), 0x5B1]).permutation(len(ids))
    n_train = int(round(SPLIT_FRACTIONS[0] * len(ids)))
    n_val = int(round(SPLIT_FRACTIONS[1] * len(ids)))
    out = {}
    for rank, i in enumerate(order):
        out[ids[i]] = "train" if rank < n_train else ("val" if rank < n_train + n_val else "test")
    return out


def write_splits(out: Path, split_of: dict[str, str], mirrored: bool) -> dict[str, int]:
    """Write train/val/test/all.txt (each original followed by its mirror) and return the counts."""
    lists: dict[str, list[str]] = {s: [] for s in SPLITS}
    for mid in sorted(split_of):
        lists[split_of[mid]].append(mid)
        if mirrored:
            lists[split_of[mid]].append(mirror_id(mid))
    for s, ids in lists.items():
        write_text_atomic(out / f"{s}.txt", "".join(i + "\n" for i in ids))
    write_text_atomic(out / "all.txt", "".join(i + "\n" for s in SPLITS for i in lists[s]))
    return {s: len(v) for s, v in lists.items()}


def feature_sums(features: np.ndarray) -> np.ndarray:
    """Return (3, 263) float64 [sum, sum of squares, count] of one motion's features, for Mean/Std."""
    f = np.asarray(features, dtype=np.float64)
    return np.stack((f.sum(0), (f**2).sum(0), np.full(f.shape[1], float(len(f)))))


def humanml_std(std: np.ndarray) -> np.ndarray:
    """Return Std post-processed as HumanML3D does: one shared std per block; root and contacts divided by FEAT_BIAS.

    Sharing a block's std keeps relative scales inside a block (e.g. between joints) intact; dividing the root and
    contact blocks makes their normalised values larger, so reconstruction losses weigh them more.
    """
    from kinmo_core.motion.features import FEATURE_SLICES

    s = np.array(std, dtype=np.float64)
    out = s.copy()
    out[0:1] = s[0:1].mean() / FEAT_BIAS
    out[1:3] = s[1:3].mean() / FEAT_BIAS
    out[3:4] = s[3:4].mean() / FEAT_BIAS
    for key in ("ric", "rot6d", "velocity"):
        sl = FEATURE_SLICES[key]
        out[sl] = s[sl].mean()
    sl = FEATURE_SLICES["contacts"]
    out[sl] = s[sl].mean() / FEAT_BIAS
    return out


def write_statistics(out: Path, sums: np.ndarray, humanml_postprocess: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Write Mean.npy and Std.npy from accumulated feature_sums and return them."""
    total, sq, count = sums
    if count.max() <= 0:
        raise KinmoInputError(f"{out}: no training frames to compute Mean/Std from")
    mean = total / count
    std = np.sqrt(np.maximum(sq / count - mean**2, 0.0))
    if humanml_postprocess:
        std = humanml_std(std)
    std = np.maximum(std, 1e-6)
    save_npy_atomic(out / "Mean.npy", mean.astype(np.float32))
    save_npy_atomic(out / "Std.npy", std.astype(np.float32))
    return mean, std


def write_json(path: Path, obj: dict | list) -> None:
    """Write JSON deterministically (sorted keys) and atomically."""
    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def read_split(root: str | os.PathLike, split: str) -> list[str]:
    """Return the ids listed in root/<split>.txt."""
    path = Path(root) / f"{split}.txt"
    if not path.is_file():
        raise KinmoInputError(f"{path}: no such split file (expected {', '.join(SPLITS)} or all)")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def read_texts(path: str | os.PathLike) -> list[dict]:
    """Return the caption records of a texts/<id>.txt file: caption, tokens, start, end (seconds; 0 = whole)."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("#")
        if len(parts) < 2:
            raise KinmoInputError(f"{path}:{n}: not a HumanML3D caption line (caption#tokens#start#end)")
        caption, tokens = parts[0].strip(), parts[1].split()
        try:
            start = float(parts[2]) if len(parts) > 2 and parts[2].strip() else 0.0
            end = float(parts[3]) if len(parts) > 3 and parts[3].strip() else 0.0
        except ValueError:
            start = end = 0.0
        start = 0.0 if np.isnan(start) else start
        end = 0.0 if np.isnan(end) else end
        out.append({"caption": caption, "tokens": tokens, "start": start, "end": end})
    return out
