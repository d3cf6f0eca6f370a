"""Caches and batches shared by the token-generator trainers (masked and residual transformer, length estimator).

Codes cache: every item of a split (a motion, or a captioned sub-clip) is encoded once with the trained RVQ, whole
(up to `MAX_SOURCE_FRAMES`), so training crops at random in token space. Condition cache: every caption of every
item gets its condition vectors (3, cond_dim) and level presence (3,) once, from the caption and the motion's
group / interaction descriptions in the annotations file. Both are .npz files beside the run, named by what made
them (RVQ weights, conditioner, data and annotations), so a changed input makes a new cache instead of a stale read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from kinmo_core.data.dataset import MotionTextDataset
from kinmo_core.errors import KinmoInputError
from kinmo_core.fileio import write_atomic

MAX_SOURCE_FRAMES: int = 1200  # a minute at 20 fps: longer items are cut (HumanML3D's longest is 10 s)
MAX_TRAIN_TOKENS: int = 49  # 196 frames, HumanML3D's longest motion


def load_annotations(path: str | os.PathLike | None) -> dict[str, dict]:
    """Return {motion id: {"groups", "interactions"}} from an annotations.json (empty when path is None)."""
    if path is None:
        return {}
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        motions = data["motions"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KinmoInputError(f"{p}: not a KinMo annotations file ({exc})") from None
    return {mid: {"groups": m.get("groups") or {}, "interactions": m.get("interactions") or {}}
            for mid, m in motions.items()}


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode())
    return h.hexdigest()[:12]


def _save_npz(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: np.savez(f, **arrays), overwrite=True)


def _items(data: str | os.PathLike, split: str, unit: int) -> MotionTextDataset:
    return MotionTextDataset(data, split, max_frames=MAX_SOURCE_FRAMES, min_frames=unit * 2, unit=unit)


@torch.no_grad()
def code_cache(data: str | os.PathLike, split: str, rvq_dir: str | os.PathLike, cache_dir: str | os.PathLike
               ) -> dict:
    """Return {'codes': list of (T', Q) int arrays, 'ids', 'starts'} for a split, encoding once into the cache."""
    from kinmo_core.models.io import load_pretrained, model_version
    from kinmo_core.models.rvq import RVQVAE, RVQConfig
    from training.common import data_version

    rvq = load_pretrained(RVQVAE, RVQConfig, rvq_dir)
    unit = rvq.cfg.frames_per_token
    ds = _items(data, split, unit)
    # The RVQ saw features normalised with its own statistics; the data folder's may differ (other corpus).
    mean = np.load(Path(rvq_dir) / "Mean.npy").astype(np.float32)
    std = np.load(Path(rvq_dir) / "Std.npy").astype(np.float32)
    key = _digest(model_version(rvq, rvq.cfg), data_version(str(data)), split, MAX_SOURCE_FRAMES)
    path = Path(cache_dir) / f"codes-{split}-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            flat, offsets = z["codes"], z["offsets"]
            return {"codes": [flat[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)],
                    "lengths": np.diff(offsets), "path": str(path)}
    out = []
    for it in tqdm(ds.items, desc=f"encode {split}", unit="item"):
        x = ds._features(it["id"])[it["start"]:it["end"]][:MAX_SOURCE_FRAMES]
        n = len(x) - len(x) % unit
        x = torch.from_numpy((x[:n] - mean) / std)[None]
        out.append(rvq.encode(x)[0].numpy().astype(np.int16))
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in out])]).astype(np.int64)
    _save_npz(path, codes=np.concatenate(out), offsets=offsets)
    return {"codes": out, "lengths": np.diff(offsets), "path": str(path)}


def cond_cache(data: str | os.PathLike, split: str, conditioner, annotations: str | os.PathLike | None,
               cache_dir: str | os.PathLike, unit: int = 4, batch: int = 64) -> dict:
    """Return {'cond' (N, 3, C) float32, 'present' (N, 3) bool, 'item' (N,) item index, 'captions'} for a split."""
    from kinmo_core.conditioning import combine
    from kinmo_core.models.io import model_version
    from training.common import data_version

    if hasattr(conditioner, "parts"):
        # A composite's conditions are its parts' side by side: each part keeps (and reuses) its own cache.
        parts = [cond_cache(data, split, part, annotations, cache_dir, unit, batch) for part in conditioner.parts]
        cond, present = combine([(c["cond"], c["present"]) for c in parts])
        if any(not np.array_equal(c["item"], parts[0]["item"]) for c in parts):
            raise KinmoInputError(f"the condition caches of {data} ({split}) list different items; delete them")
        return {"cond": cond, "present": present, "item": parts[0]["item"], "path": [c["path"] for c in parts]}
    ds = _items(data, split, unit)
    ann = load_annotations(annotations)
    ann_hash = hashlib.sha256(Path(annotations).read_bytes()).hexdigest()[:12] if annotations else "none"
    model_hash = model_version(conditioner.model, conditioner.model.cfg) if conditioner.kind == "htma" else "minilm"
    key = _digest(conditioner.kind, model_hash, data_version(str(data)), split, ann_hash)
    path = Path(cache_dir) / f"cond-{conditioner.kind}-{split}-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in ("cond", "present", "item")} | {"path": str(path)}
    captions, descs, owner = [], [], []
    missing = 0
    for i, it in enumerate(ds.items):
        d = ann.get(it["id"])
        missing += d is None
        for rec in it["texts"]:
            captions.append(rec["caption"])
            descs.append(d)
            owner.append(i)
    if ann and missing:
        print(f"note: {missing} of {len(ds.items)} {split} items have no descriptions in {annotations}")
    conditioner.precompute(captions, descs)
    conds, pres = [], []
    for s in tqdm(range(0, len(captions), batch), desc=f"condition {split} ({conditioner.kind})", unit="batch"):
        c, p = conditioner(captions[s:s + batch], descs[s:s + batch])
        conds.append(c.numpy().astype(np.float32))
        pres.append(p.numpy())
    out = {"cond": np.concatenate(conds), "present": np.concatenate(pres), "item": np.asarray(owner, np.int64)}
    _save_npz(path, **out)
    return out | {"path": str(path)}


@torch.no_grad()
def joint_cache(data: str | os.PathLike, split: str, unit: int, cache_dir: str | os.PathLike) -> dict:
    """Return {'joints': list of (T, 22, 3) float32, 'angle': list of (T,) root half angles} per item of a split.

    The items and frames are the code cache's (`code_cache`: whole items up to MAX_SOURCE_FRAMES, cut to whole
    tokens), so token t of an item's codes covers frames unit*t .. unit*t + unit - 1 here. Joints are in the item's
    own frame (pelvis at x = z = 0 facing +Z at its first frame); `crop_joints` re-places a crop.
    """
    from kinmo_core.motion.features import features_to_joints
    from training.common import data_version

    ds = _items(data, split, unit)
    key = _digest("joints", data_version(str(data)), split, MAX_SOURCE_FRAMES, unit)
    path = Path(cache_dir) / f"joints-{split}-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            flat, ang, offsets = z["joints"], z["angle"], z["offsets"]
    else:
        joints, angles = [], []
        for it in tqdm(ds.items, desc=f"joints {split}", unit="item"):
            x = ds._features(it["id"])[it["start"]:it["end"]][:MAX_SOURCE_FRAMES]
            x = torch.from_numpy(x[: len(x) - len(x) % unit]).double()
            joints.append(features_to_joints(x).float().numpy())
            angles.append(torch.cat([x.new_zeros(1), torch.cumsum(x[:-1, 0], 0)]).float().numpy())
        offsets = np.concatenate([[0], np.cumsum([len(j) for j in joints])]).astype(np.int64)
        flat, ang = np.concatenate(joints), np.concatenate(angles)
        _save_npz(path, joints=flat, angle=ang, offsets=offsets)
    return {"joints": [flat[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)],
            "angle": [ang[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)], "path": str(path)}


def crop_joints(joints: np.ndarray, angle: np.ndarray, start: int, frames: int) -> np.ndarray:
    """Return joints[start:start + frames] placed as a motion starting there would be (pelvis at x = z = 0, +Z)."""
    j = joints[start:start + frames].astype(np.float64)
    # HumanML3D's root angle is a half angle; rotating by the heading at `start` undoes the turn up to there.
    a = 2.0 * float(angle[start])
    c, s = np.cos(a), np.sin(a)
    x, z = j[..., 0] - j[0, 0, 0], j[..., 2] - j[0, 0, 2]
    out = j.copy()
    out[..., 0] = c * x + s * z
    out[..., 2] = -s * x + c * z
    return out


SIX_JOINTS: tuple[int, ...] = (0, 10, 11, 15, 20, 21)
"""pelvis, left foot, right foot, head, left wrist, right wrist: the joints of OmniControl's protocol."""


def sample_control(joints: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return training targets (T, 22, 3), NaN where free, drawn from a crop's own joints (T, 22, 3).

    The kinds a user gives: one of the protocol's joints or a few of them, dense, over a span or at a sparse share of
    frames (1-30%); the pelvis on the ground only (a path); full-body keyframes; and sometimes nothing.
    """
    t = len(joints)
    out = np.full(joints.shape, np.nan, np.float32)
    u = rng.random()
    if u < 0.1:
        return out
    if u < 0.2:  # keyframes: every joint at a few frames
        frames = rng.choice(t, size=min(t, int(rng.integers(1, 5))), replace=False)
        out[frames] = joints[frames]
        return out
    if u < 0.3:  # a path: the pelvis on the ground at every frame
        out[:, 0, 0], out[:, 0, 2] = joints[:, 0, 0], joints[:, 0, 2]
        return out
    if u < 0.75:
        chosen = [SIX_JOINTS[int(rng.integers(len(SIX_JOINTS)))]]
    elif u < 0.95:
        chosen = list(rng.choice(SIX_JOINTS, size=int(rng.integers(2, 4)), replace=False))
    else:
        chosen = [int(rng.integers(joints.shape[1]))]
    v = rng.random()
    if v < 0.3:
        frames = np.arange(t)
    elif v < 0.5:
        n = max(1, int(round(t * rng.uniform(0.2, 1.0))))
        s = int(rng.integers(0, t - n + 1))
        frames = np.arange(s, s + n)
    else:
        share = float(np.exp(rng.uniform(np.log(0.01), np.log(0.3))))
        frames = rng.choice(t, size=max(1, int(round(share * t))), replace=False)
    for j in chosen:
        out[frames, j] = joints[frames, j]
    return out


SPLICE_TOKENS: tuple[int, int] = (5, 25)
"""Length range in tokens (1-5 s at 4 frames a token) of a spliced item's regenerated stretch (`TokenBatches`)."""


class TokenBatches:
    """Random training batches in token space: an item's caption, a random crop of its codes, its conditions."""

    def __init__(self, codes: list[np.ndarray], cond: dict, levels: int = 3, max_tokens: int = MAX_TRAIN_TOKENS,
                 min_tokens: int = 2, seed: int = 0, splice: float = 0.0) -> None:
        if levels not in (1, 2, 3):
            raise KinmoInputError(f"levels must be 1, 2 or 3, got {levels}")
        if not 0.0 <= splice <= 1.0:
            raise KinmoInputError(f"splice must be a share between 0 and 1, got {splice}")
        self.codes, self.max_tokens, self.min_tokens, self.splice = codes, max_tokens, min_tokens, splice
        self.cond = torch.from_numpy(cond["cond"])
        present = torch.from_numpy(cond["present"]).bool()
        # --levels k trains the generator with only the first k text levels (k=1: the global-only baseline).
        present[:, levels:] = False
        self.present = present
        self.item = cond["item"]
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.item)

    def sample(self, batch: int) -> dict[str, torch.Tensor]:
        """Return codes (B, T, Q) padded with -1, token lengths (B,), cond (B, 3, C), present (B, 3); with splice,
        also keep (B, T): context tokens of another item around the crop, given and never predicted."""
        rows = self.rng.integers(0, len(self.item), batch)
        crops, lengths, keeps, self.last_crops = [], [], [], []
        for r in rows:
            c = self.codes[int(self.item[r])]
            n = min(len(c), self.max_tokens)
            # Shorter crops too, so the generator learns every length it will be asked for.
            if len(c) > self.min_tokens and self.rng.random() < 0.1:
                n = int(self.rng.integers(self.min_tokens, n + 1))
            off = int(self.rng.integers(0, len(c) - n + 1))
            crop, keep = c[off:off + n], np.zeros(n, bool)
            if self.splice and self.rng.random() < self.splice:
                crop, keep = self._spliced(c)
            crops.append(crop)
            keeps.append(keep)
            lengths.append(len(crop))
            self.last_crops.append((int(self.item[r]), off, n))
        t = max(lengths)
        q = crops[0].shape[1]
        codes = torch.full((batch, t, q), -1, dtype=torch.long)
        keep = torch.zeros(batch, t, dtype=torch.bool)
        for i, (c, k) in enumerate(zip(crops, keeps, strict=True)):
            codes[i, : len(c)] = torch.from_numpy(c.astype(np.int64))
            keep[i, : len(k)] = torch.from_numpy(k)
        out = {"codes": codes, "lengths": torch.tensor(lengths), "cond": self.cond[rows],
               "present": self.present[rows]}
        if self.splice:
            out["keep"] = keep
        return out

    def _spliced(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An edit as `kinmo edit` poses it: a 1-5 s stretch of this item (under its own text) inside the tokens of
        another item, which stay as they are; returns the codes and the keep mask (True: context)."""
        n = min(len(c), int(self.rng.integers(max(self.min_tokens, SPLICE_TOKENS[0]), SPLICE_TOKENS[1] + 1)))
        off = int(self.rng.integers(0, len(c) - n + 1))
        other = self.codes[int(self.item[int(self.rng.integers(0, len(self.item)))])]
        k = min(len(other), self.max_tokens - n)
        start = int(self.rng.integers(0, len(other) - k + 1))
        ctx = other[start:start + k]
        cut = int(self.rng.integers(0, k + 1))
        codes = np.concatenate([ctx[:cut], c[off:off + n], ctx[cut:]])
        keep = np.ones(len(codes), bool)
        keep[cut:cut + n] = False
        return codes, keep


class ControlBatches(TokenBatches):
    """TokenBatches with spatial-control targets drawn from each crop's own joints (`sample_control`)."""

    def __init__(self, codes: list[np.ndarray], cond: dict, joints: dict, unit: int, **kwargs) -> None:
        if kwargs.get("splice"):  # targets follow `last_crops`, which a spliced row (two items' tokens) is not
            raise KinmoInputError("spatial-control batches cannot be spliced")
        super().__init__(codes, cond, **kwargs)
        if len(joints["joints"]) != len(codes):
            raise KinmoInputError(f"{len(codes)} code items but {len(joints['joints'])} joint items; delete the caches")
        self.joints, self.angle, self.unit = joints["joints"], joints["angle"], unit

    def sample(self, batch: int) -> dict[str, torch.Tensor]:
        """TokenBatches.sample plus targets (B, T' * unit, 22, 3), NaN where free."""
        out = super().sample(batch)
        t = out["codes"].shape[1] * self.unit
        targets = np.full((batch, t, 22, 3), np.nan, np.float32)
        for i, (item, off, n) in enumerate(self.last_crops):
            j = crop_joints(self.joints[item], self.angle[item], off * self.unit, n * self.unit)
            targets[i, : len(j)] = sample_control(j, self.rng)
        return out | {"targets": torch.from_numpy(targets)}
