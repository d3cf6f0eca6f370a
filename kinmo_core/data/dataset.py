"""A torch Dataset over any HumanML3D-layout folder (ours, HumanML3D's, KIT-ML's) and a length-bucketing sampler.

Each item is one (motion, caption record) pair as in HumanML3D's loader: a caption line with start/end times names a
sub-clip, which becomes its own item; lines covering the whole motion are pooled, and one of them is drawn at random
per access. Motions are normalised with the folder's Mean/Std, randomly cropped to at most `max_frames` (a multiple
of `unit`), and every random choice comes from a generator seeded by (seed, epoch, index), so a run is repeatable.
The hidden `ground_truth/` folder is never read here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from kinmo_core.data import layout
from kinmo_core.data.kit import KIT_FEATURE_DIM, kit_folder_message
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.skeleton import FPS


class MotionTextDataset(Dataset):
    """Motion features with captions from a HumanML3D-layout folder, normalised and randomly cropped."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        max_frames: int = 196,
        min_frames: int = 40,
        unit: int = 4,
        normalize: bool = True,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        seed: int = 0,
        feature_dim: int = 263,
        fps: int = FPS,
    ):
        self.root = Path(root)
        if not (self.root / "new_joint_vecs").is_dir():
            raise KinmoInputError(f"{self.root}: not a dataset in the HumanML3D layout (no new_joint_vecs/ folder)")
        if min_frames < 1 or max_frames < min_frames or unit < 1:
            raise KinmoInputError(f"need 1 <= min_frames <= max_frames and unit >= 1, got {min_frames}, {max_frames}, "
                                  f"{unit}")
        self.split, self.max_frames, self.min_frames, self.unit = split, max_frames, min_frames, unit
        self.seed, self.epoch, self.fps = int(seed), 0, fps
        self.normalize = normalize
        if normalize:
            self.mean = np.load(self.root / "Mean.npy") if mean is None else np.asarray(mean)
            self.std = np.load(self.root / "Std.npy") if std is None else np.asarray(std)
            self.mean = self.mean.astype(np.float32)
            self.std = self.std.astype(np.float32)
        self.items: list[dict] = []
        self._cache: dict[str, np.ndarray] = {}
        for mid in layout.read_split(self.root, split):
            vec = self.root / "new_joint_vecs" / f"{mid}.npy"
            txt = self.root / "texts" / f"{mid}.txt"
            if not vec.is_file() or not txt.is_file():
                continue  # HumanML3D's split files list a few ids without data; its loader skips them too
            data = np.load(vec, mmap_mode="r")
            if data.ndim != 2 or data.shape[1] != feature_dim:
                if data.ndim == 2 and data.shape[1] == KIT_FEATURE_DIM:
                    raise KinmoInputError(kit_folder_message(self.root))
                raise KinmoInputError(f"{vec}: expected (frames, {feature_dim}) features, got {data.shape}")
            whole = []
            for rec in layout.read_texts(txt):
                if rec["start"] == 0.0 and rec["end"] == 0.0:
                    whole.append(rec)
                    continue
                a, b = int(rec["start"] * fps), int(rec["end"] * fps)
                if min_frames <= b - a and b <= len(data):
                    self.items.append({"id": mid, "start": a, "end": b, "texts": [rec]})
            if whole and len(data) >= min_frames:
                self.items.append({"id": mid, "start": 0, "end": int(len(data)), "texts": whole})
        if not self.items:
            raise KinmoInputError(f"{self.root}: split '{split}' has no motions of at least {min_frames} frames "
                                  "with captions")

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Change the random crops and captions drawn (use a new epoch number each pass)."""
        self.epoch = int(epoch)

    def lengths(self) -> list[int]:
        """Return each item's length in frames after the max_frames / unit limits (for bucketing)."""
        return [self._crop_len(it["end"] - it["start"]) for it in self.items]

    def _crop_len(self, n: int) -> int:
        n = min(n, self.max_frames)
        return max(n - n % self.unit, self.unit) if n >= self.unit else n

    def _features(self, mid: str) -> np.ndarray:
        arr = self._cache.get(mid)
        if arr is None:
            arr = np.load(self.root / "new_joint_vecs" / f"{mid}.npy").astype(np.float32)
            if len(self._cache) < 4096:
                self._cache[mid] = arr
        return arr

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        rec = item["texts"][int(rng.integers(len(item["texts"])))]
        data = self._features(item["id"])[item["start"]:item["end"]]
        n = self._crop_len(len(data))
        off = int(rng.integers(0, len(data) - n + 1))
        motion = data[off:off + n]
        if self.normalize:
            motion = (motion - self.mean) / self.std
        return {
            "motion": torch.from_numpy(np.ascontiguousarray(motion, dtype=np.float32)),
            "length": n,
            "caption": rec["caption"],
            "tokens": rec["tokens"],
            "id": item["id"],
        }

    def denormalize(self, motion: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Return features in their original units from normalised ones."""
        if not self.normalize:
            return motion
        if isinstance(motion, torch.Tensor):
            return motion * torch.as_tensor(self.std, dtype=motion.dtype) + torch.as_tensor(self.mean,
                                                                                            dtype=motion.dtype)
        return motion * self.std + self.mean


def collate_motions(batch: list[dict]) -> dict:
    """Pad a list of items to the longest; return motion (B, T, D), lengths (B,), mask (B, T), captions, ids."""
    lengths = torch.tensor([b["length"] for b in batch], dtype=torch.long)
    t = int(lengths.max())
    d = batch[0]["motion"].shape[-1]
    motion = torch.zeros(len(batch), t, d)
    for i, b in enumerate(batch):
        motion[i, : b["length"]] = b["motion"]
    mask = torch.arange(t)[None] < lengths[:, None]
    return {"motion": motion, "lengths": lengths, "mask": mask, "captions": [b["caption"] for b in batch],
            "tokens": [b["tokens"] for b in batch], "ids": [b["id"] for b in batch]}


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of similar-length items (little padding): items sorted into length buckets, batches shuffled."""

    def __init__(self, lengths: list[int], batch_size: int, bucket_width: int = 20, shuffle: bool = True,
                 drop_last: bool = False, seed: int = 0):
        if batch_size < 1 or bucket_width < 1:
            raise KinmoInputError(f"batch_size and bucket_width must be positive, got {batch_size}, {bucket_width}")
        self.lengths = list(lengths)
        self.batch_size, self.bucket_width = batch_size, bucket_width
        self.shuffle, self.drop_last, self.seed, self.epoch = shuffle, drop_last, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle differently for a new epoch."""
        self.epoch = int(epoch)

    def _batches(self) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        buckets: dict[int, list[int]] = {}
        for i, n in enumerate(self.lengths):
            buckets.setdefault(n // self.bucket_width, []).append(i)
        batches = []
        for key in sorted(buckets):
            idx = buckets[key]
            if self.shuffle:
                idx = [idx[k] for k in torch.randperm(len(idx), generator=g).tolist()]
            for s in range(0, len(idx), self.batch_size):
                b = idx[s:s + self.batch_size]
                if len(b) == self.batch_size or not self.drop_last:
                    batches.append(b)
        if self.shuffle:
            batches = [batches[k] for k in torch.randperm(len(batches), generator=g).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())


def load_corpora(roots: list[str | os.PathLike], split: str = "train", **kwargs) -> torch.utils.data.ConcatDataset:
    """Return one dataset over several HumanML3D-layout folders (e.g. the synthetic corpus and converted Bandai clips).

    All folders are normalised with the first folder's Mean/Std (pass mean=, std= to choose others), so one model
    sees one feature scale.
    """
    if not roots:
        raise KinmoInputError("no dataset folders given")
    first = Path(roots[0])
    if "mean" not in kwargs and kwargs.get("normalize", True):
        kwargs["mean"] = np.load(first / "Mean.npy")
        kwargs["std"] = np.load(first / "Std.npy")
    return torch.utils.data.ConcatDataset([MotionTextDataset(r, split, **kwargs) for r in roots])
