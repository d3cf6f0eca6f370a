"""Retrieval and sides (issue 21): does text-to-motion search return the other side's action for a sided prompt?

For each part-following prompt that names a left or right side (`part_prompts.PART_PROMPTS`; the up/down looks
have no side and are left out), a retriever ranks the motions of a gallery. Each retrieved motion is judged on its
joints with the prompt's check and its mirror check (`part_following.check_part`):

  named side acts   the prompt's check passes
  other side acts   the mirror check passes (the other arm or leg, the other direction for the neck and torso)
  followed          the named side acts and the other does not
  other side only   the other side acts and the named does not (the plain side swap)

The issue's target reads "the top-1 motion has the other side's action": the share of queries whose top-1 motion
passes the mirror check, whatever the named side does. The same shares are given over the top k (the share of the
k retrieved motions), overall and per check (arm raise, wave, reach, punch; leg kick, lift; neck look; torso lean,
twist).

A gallery is the chosen splits of HumanML3D-layout folders (originals and mirrors), searched with the same index and
query code as `kinmo retrieve --text ... --motions DIR`, built in memory: nothing is written beside the data.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kinmo_core.errors import KinmoInputError
from kinmo_core.eval.part_following import GROUP_KIND, PartCheck, check_part
from kinmo_core.eval.part_prompts import PART_PROMPTS, PartPrompt

SIDED: tuple[str, ...] = ("left", "right")
FIGURES: tuple[str, ...] = ("other_side_acts", "named_side_acts", "followed", "other_side_only", "both_sides_act")


def side_prompts(prompts: Iterable[PartPrompt] | None = None) -> list[PartPrompt]:
    """Return the prompts that name a left or right side (up/down looks have no mirror side)."""
    return [p for p in (PART_PROMPTS if prompts is None else prompts) if p.side in SIDED]


def check_name(prompt: PartPrompt) -> str:
    """Return a prompt's check without its side, e.g. 'arm raise', 'neck look'."""
    return f"{GROUP_KIND[prompt.group]} {prompt.action}"


def figures(results: Sequence[PartCheck]) -> dict[str, float]:
    """Return the shares of FIGURES over judged motions."""
    if not results:
        raise KinmoInputError("no judged motions")
    named = np.array([r.named for r in results])
    other = np.array([r.other for r in results])
    return {"other_side_acts": float(other.mean()), "named_side_acts": float(named.mean()),
            "followed": float((named & ~other).mean()), "other_side_only": float((other & ~named).mean()),
            "both_sides_act": float((named & other).mean())}


def _mean_figures(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in FIGURES}


@dataclass
class Judge:
    """Runs a prompt's check and its mirror on gallery motions, loading each motion's joints once."""

    joints_of: Callable[[str], np.ndarray]

    def __post_init__(self) -> None:
        self._joints: dict[str, np.ndarray] = {}
        self._memo: dict[tuple[str, str, str, str], PartCheck] = {}

    def __call__(self, motion_id: str, prompt: PartPrompt) -> PartCheck:
        """Return check_part of the prompt's (group, action, side) on the motion's joints."""
        key = (motion_id, prompt.group, prompt.action, prompt.side)
        if key not in self._memo:
            if motion_id not in self._joints:
                self._joints[motion_id] = np.asarray(self.joints_of(motion_id), dtype=np.float32)
            self._memo[key] = check_part(self._joints[motion_id], prompt.group, prompt.action, prompt.side)
        return self._memo[key]


def _pair_figures(choices: Sequence[bool | None]) -> dict[str, float | None]:
    decisive = [c for c in choices if c is not None]
    # None, not NaN, where no pair decides: the report is written as strict JSON
    return {"decisive_pairs": len(decisive), "picked_followed": float(np.mean(decisive)) if decisive else None}


def judge_rankings(prompts: Sequence[PartPrompt], rankings: Sequence[Sequence[str]],
                   joints_of: Callable[[str], np.ndarray], k: int = 5, progress: bool = False,
                   counterpart: Callable[[str], str | None] | None = None) -> dict:
    """Judge the retrieved motion ids of each prompt (best first): FIGURES for top-1 and top-k, overall and per check.

    Returns {'count', 'k', 'top1': {...}, 'topk': {...}, 'per_check': {name: {'prompts', 'top1', 'topk'}},
    'queries': [{'text', 'check', 'side', 'ids', 'named', 'other'}]}; top-k figures are the mean over queries of the
    share among its first k motions.

    counterpart(id) gives the id of a motion's mirrored copy in the gallery (None: not there). Then 'mirror_pairs'
    (overall and per check) measures side discrimination apart from action recall: among queries where exactly one
    of the top-1 motion and its mirrored copy is followed, the share where retrieval ranked that one first
    ('picked_followed'; a side-blind retriever scores about 50%).
    """
    if len(prompts) != len(rankings):
        raise KinmoInputError(f"{len(rankings)} rankings for {len(prompts)} prompts")
    if not prompts:
        raise KinmoInputError("no prompts to judge")
    if k < 1:
        raise KinmoInputError(f"k must be at least 1, got {k}")
    bad = [p.text for p in prompts if p.side not in SIDED]
    if bad:
        raise KinmoInputError(f"{len(bad)} prompts name no left/right side, e.g. {bad[0]!r}")
    judge = Judge(joints_of)
    top1: list[PartCheck] = []
    topk: list[dict[str, float]] = []
    per: dict[str, dict[str, list]] = defaultdict(lambda: {"top1": [], "topk": [], "pairs": []})
    pairs: list[bool | None] = []
    queries = []
    for p, ids in tqdm(list(zip(prompts, rankings, strict=True)), desc="judging", disable=not progress):
        ids = list(ids)[:k]
        if not ids:
            raise KinmoInputError(f"no motions retrieved for {p.text!r}")
        judged = [judge(i, p) for i in ids]
        top1.append(judged[0])
        topk.append(figures(judged))
        per[check_name(p)]["top1"].append(judged[0])
        per[check_name(p)]["topk"].append(topk[-1])
        twin = counterpart(ids[0]) if counterpart is not None else None
        if twin is not None:
            mirrored = judge(twin, p)
            pairs.append(judged[0].followed if judged[0].followed != mirrored.followed else None)
            per[check_name(p)]["pairs"].append(pairs[-1])
        queries.append({"text": p.text, "check": check_name(p), "side": p.side, "ids": ids,
                        "named": [r.named for r in judged], "other": [r.other for r in judged]})
    out = {"count": len(prompts), "k": k, "top1": figures(top1), "topk": _mean_figures(topk),
           "per_check": {name: {"prompts": len(v["top1"]), "top1": figures(v["top1"]),
                                "topk": _mean_figures(v["topk"])} for name, v in sorted(per.items())},
           "queries": queries}
    if counterpart is not None:
        out["mirror_pairs"] = _pair_figures(pairs)
        for name, v in per.items():
            out["per_check"][name]["mirror_pairs"] = _pair_figures(v["pairs"])
    return out


def gallery_figures(ids: Sequence[str], joints_of: Callable[[str], np.ndarray],
                    prompts: Iterable[PartPrompt] | None = None, progress: bool = False) -> dict[str, dict[str, int]]:
    """Count the gallery motions that follow each check on each side (what a perfect retriever could return).

    Returns {check name: {'motions', 'left', 'right'}}: motions where that side acts and the other does not.
    """
    left = {check_name(p): p for p in side_prompts(prompts) if p.side == "left"}
    counts = {name: {"motions": len(ids), "left": 0, "right": 0} for name in sorted(left)}
    for mid in tqdm(ids, desc="gallery checks", disable=not progress):
        joints = np.asarray(joints_of(mid), dtype=np.float32)
        for name, p in left.items():
            r = check_part(joints, p.group, p.action, p.side)
            counts[name]["left"] += int(r.named and not r.other)
            counts[name]["right"] += int(r.other and not r.named)
    return counts


@dataclass
class Gallery:
    """Motions of several folders' splits: ids '<folder name>/<motion id>', features (T, 263), joint files."""

    ids: list[str]
    features: list[np.ndarray]
    joint_files: dict[str, Path]

    def __post_init__(self) -> None:
        self._position = {m: i for i, m in enumerate(self.ids)}

    def counterpart(self, motion_id: str) -> str | None:
        """Return the gallery id of a motion's mirrored copy (or of the original of a mirror), None if absent."""
        from kinmo_core.data.layout import base_id, mirror_id

        folder, sep, mid = motion_id.rpartition("/")
        twin = base_id(mid) if base_id(mid) != mid else mirror_id(mid)
        gid = f"{folder}{sep}{twin}"
        return gid if gid in self._position else None

    def joints(self, motion_id: str) -> np.ndarray:
        """Return the joints (T, 22, 3) of a gallery motion: new_joints/<id>.npy, else from its features."""
        from kinmo_core.motion.features import features_to_joints

        path = self.joint_files.get(motion_id)
        if path is not None and path.is_file():
            return np.load(path, allow_pickle=False)
        return np.asarray(features_to_joints(self.features[self._position[motion_id]]))


def load_gallery(folders: Sequence[str | os.PathLike], splits: Sequence[str] | str = "test") -> Gallery:
    """Read the given split of each HumanML3D-layout folder (one split for all, or one per folder)."""
    from kinmo_core.retrieval.search import dataset_root, is_humanml_folder, load_motion_set

    folders = [dataset_root(f) for f in folders]
    splits = [splits] * len(folders) if isinstance(splits, str) else list(splits)
    if len(splits) == 1:
        splits = splits * len(folders)
    if len(splits) != len(folders):
        raise KinmoInputError(f"{len(splits)} splits for {len(folders)} folders (give one, or one per folder)")
    names = [f.name for f in folders]
    if len(set(names)) != len(names):
        raise KinmoInputError(f"gallery folders must have distinct names, got {names}")
    ids, feats, files = [], [], {}
    for root, split in zip(folders, splits, strict=True):
        if not is_humanml_folder(root):
            raise KinmoInputError(f"{root}: a gallery folder must have the HumanML3D layout (new_joint_vecs/)")
        ms = load_motion_set(root, split)
        for mid, f in zip(ms.ids, ms.features, strict=True):
            gid = f"{root.name}/{mid}"
            ids.append(gid)
            feats.append(f)
            files[gid] = root / "new_joints" / f"{mid}.npy"
    return Gallery(ids, feats, files)


def htma_rankings(aligner, gallery: Gallery, texts: Sequence[str], k: int = 5, reasoner=None,
                  descriptions: Sequence[dict] | None = None, progress: bool = True) -> tuple[list[list[str]], list]:
    """Rank the gallery for each text with HTMA as `kinmo retrieve --text` does; return (ids best first, descriptions).

    The gallery is encoded once into an in-memory index; descriptions default to the Motion Reasoner's.
    """
    from kinmo_core.retrieval.index import RetrievalIndex
    from kinmo_core.retrieval.search import search_text

    levels = aligner.levels
    if descriptions is None and levels > 1:
        descriptions = aligner.expand(list(texts), reasoner)
    emb = aligner.embed(aligner.encode_motions(gallery.features, progress=progress))
    index = RetrievalIndex.build(emb, gallery.ids, model_version=aligner.version)
    out = []
    for i, t in enumerate(tqdm(texts, desc="queries", disable=not progress)):
        hits, _ = search_text(aligner, index, t, k, levels, None if descriptions is None else descriptions[i])
        out.append([h.id for h in hits])
    return out, list(descriptions) if descriptions is not None else []
