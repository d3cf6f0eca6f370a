"""Annotate a whole dataset (HumanML3D layout) into one versioned JSON file, resumably.

Output schema (`format_version` 1):

    {
      "format_version": 1,
      "kind": "kinmo-annotations",
      "dataset": "<folder>",
      "annotator": {"name": "rules", "version": "rules-2"},
      "settings": {"threshold": 0.85, "embedding": "groups"},
      "complete": true,                      # false while a run is in progress (checkpoints)
      "motions": {
        "<id>": {
          "captions": ["a person walks forward", ...],   # global captions from texts/<id>.txt
          "groups": {"torso": str, "neck": str, "left_arm": str, "right_arm": str, "left_leg": str, "right_leg": str},
          "interactions": {"left_arm|left_leg": str, ... 15 keys of kinematic.PAIRS},
          "keyframes": [0, 14, ...],                     # frame indices
          "n_frames": 120, "fps": 20,
          "actions": {"<group>": [{"start": 0, "end": 60, "action": "walk", ...}]},  # detected, not ground truth
          "annotator": {"name": "rules", "version": "rules-2"}
        }
      },
      "failures": {"<id>": "reason"},
      "stats": {"motions": N, "failed": F, "keyframes_per_second": k, "seconds": s}
    }

A motion whose joints are missing, not finite or too short, or whose annotator fails
after its retries, goes to "failures" with the reason; the run goes on. Re-running with
the same output file resumes: finished motions are kept, failed ones are tried again.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kinmo_core.annotate.core import analyse_motion, check_description_keys, timeline_json
from kinmo_core.annotate.keyframes import DEFAULT_THRESHOLD, keyframes_per_second
from kinmo_core.annotate.rules import RULES_VERSION, annotate_rules
from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.fileio import atomic_output
from kinmo_core.motion.skeleton import FPS

FORMAT_VERSION: int = 1
FILE_KIND: str = "kinmo-annotations"
ANNOTATORS: tuple[str, ...] = ("rules", "openai", "hf")
MOTION_ATTEMPTS: int = 2
"""Times a motion is tried before it is reported as failed (input errors are not retried)."""
CHECKPOINT_SECONDS: float = 20.0
CHECKPOINT_MOTIONS: int = 500


class RulesAnnotator:
    """The default deterministic, offline template annotator."""

    name = "rules"
    version = RULES_VERSION

    def annotate(self, analysis, captions: list[str] | None = None) -> dict:
        """Return group and interaction descriptions from the analysis."""
        return annotate_rules(analysis, captions)


def make_annotator(name: str, **options):
    """Return an annotator by name: 'rules', 'openai' (options: base_url, model, api_key, ...) or 'hf' (model_path)."""
    if name == "rules":
        return RulesAnnotator()
    if name == "openai":
        from kinmo_core.annotate.llm import OpenAIAnnotator

        return OpenAIAnnotator(**{k: v for k, v in options.items() if v is not None})
    if name == "hf":
        from kinmo_core.annotate.llm import HFAnnotator

        if not options.get("model_path"):
            raise KinmoInputError("the hf annotator needs --hf-model PATH (a local Hugging Face causal LM folder)")
        return HFAnnotator(**{k: v for k, v in options.items() if v is not None})
    raise KinmoInputError(f"unknown annotator {name!r}; choose one of {', '.join(ANNOTATORS)}")


def dataset_ids(folder: str | os.PathLike, split: str | None = None) -> list[str]:
    """Return the motion ids of a HumanML3D-layout folder (all of new_joints/, or those of <split>.txt).

    A folder with new_joint_vecs/ but no new_joints/ (a trimmed HumanML3D copy) is read through the features.
    """
    root = Path(folder)
    if not root.is_dir():
        raise KinmoInputError(f"dataset folder not found: {root}")
    joints_dir = root / "new_joints"
    if not joints_dir.is_dir():
        joints_dir = root / "new_joint_vecs"
    if not joints_dir.is_dir():
        raise KinmoInputError(f"not a dataset in the HumanML3D layout (no new_joints/ folder): {root}")
    from kinmo_core.data.kit import is_kit_folder, kit_folder_message

    if is_kit_folder(root):
        raise KinmoInputError(kit_folder_message(root))
    if split is not None:
        split_file = root / f"{split}.txt"
        if not split_file.is_file():
            raise KinmoInputError(f"no split file {split_file}")
        ids = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
    else:
        ids = sorted(p.stem for p in joints_dir.glob("*.npy"))
    if not ids:
        raise KinmoInputError(f"dataset has no motions: {root}")
    return ids


def load_joints(folder: str | os.PathLike, motion_id: str) -> np.ndarray:
    """Return new_joints/<id>.npy (or joints recovered from new_joint_vecs/<id>.npy), else KinmoInputError."""
    path = Path(folder) / "new_joints" / f"{motion_id}.npy"
    vecs = Path(folder) / "new_joint_vecs" / f"{motion_id}.npy"
    if not path.is_file() and vecs.is_file() and not (Path(folder) / "new_joints").is_dir():
        from kinmo_core.motion.features import features_to_joints

        try:
            return np.asarray(features_to_joints(np.load(vecs, allow_pickle=False).astype(np.float32)))
        except (OSError, ValueError) as exc:
            raise KinmoInputError(f"{motion_id}: unreadable features file ({exc})") from exc
    if not path.is_file():
        raise KinmoInputError(f"{motion_id}: missing {path.name}")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise KinmoInputError(f"{motion_id}: unreadable joints file ({exc})") from exc


def load_captions(folder: str | os.PathLike, motion_id: str) -> list[str]:
    """Return the captions of texts/<id>.txt (the part of each line before '#'); [] if there is none."""
    path = Path(folder) / "texts" / f"{motion_id}.txt"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        cap = line.split("#", 1)[0].strip()
        if cap:
            out.append(cap)
    return out


def annotate_joints(
    joints: np.ndarray,
    motion_id: str,
    annotator,
    encoder=None,
    threshold: float = DEFAULT_THRESHOLD,
    mode: str = "groups",
    captions: list[str] | None = None,
) -> dict:
    """Annotate one motion given as (T, 22, 3) joints; return its record of the output schema."""
    analysis = analyse_motion(joints, motion_id, encoder=encoder, threshold=threshold, mode=mode)
    desc = annotator.annotate(analysis, captions or [])
    check_description_keys(desc)
    return {
        "captions": list(captions or []),
        "groups": desc["groups"],
        "interactions": desc["interactions"],
        "keyframes": [int(k) for k in analysis.keyframes],
        "n_frames": analysis.n_frames,
        "fps": analysis.fps,
        "actions": timeline_json(analysis),
        "annotator": {"name": annotator.name, "version": annotator.version},
    }


def write_json_atomic(path: str | os.PathLike, data: dict) -> None:
    """Write JSON to path atomically (creating its folder), replacing an older version of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def read_annotations(path: str | os.PathLike) -> dict:
    """Load an annotation file written by this module, or raise KinmoInputError."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KinmoInputError(f"annotation file not found: {path}") from exc
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KinmoInputError(f"not a KinMo annotation file: {path} ({exc})") from exc
    if not isinstance(data, dict) or data.get("kind") != FILE_KIND:
        raise KinmoInputError(f"not a KinMo annotation file: {path}")
    if data.get("format_version") != FORMAT_VERSION:
        raise KinmoInputError(f"{path}: annotation format version {data.get('format_version')} is not supported")
    return data


@dataclass
class RunSummary:
    """What an annotation run did."""

    output: Path
    done: int = 0
    skipped: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    keyframes_per_second: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 when every motion was annotated, 1 when some failed."""
        return 1 if self.failures else 0


def annotate_dataset(
    folder: str | os.PathLike,
    output: str | os.PathLike,
    annotator,
    workers: int = 1,
    threshold: float = DEFAULT_THRESHOLD,
    mode: str = "groups",
    split: str | None = None,
    limit: int | None = None,
    progress: bool = True,
    encoder=None,
    overwrite: bool = False,
    on_motion: Callable[[str], None] | None = None,
) -> RunSummary:
    """Annotate every motion of a dataset into `output`, resuming a previous run of the same settings."""
    if workers < 1:
        raise KinmoInputError(f"--workers must be at least 1, got {workers}")
    if not -1.0 <= threshold <= 1.0:
        raise KinmoInputError(f"--threshold must be a cosine similarity in [-1, 1], got {threshold}")
    ids = dataset_ids(folder, split)
    if limit is not None:
        ids = ids[: max(0, int(limit))]
    out = Path(output)
    meta = {"name": annotator.name, "version": annotator.version}
    settings = {"threshold": float(threshold), "embedding": mode}
    motions: dict[str, dict] = {}
    if out.exists() and not overwrite:
        if out.is_dir():
            raise KinmoInputError(f"output is a folder: {out}")
        try:
            previous = read_annotations(out)
        except KinmoInputError as exc:
            raise KinmoInputError(f"{out} exists and is not a KinMo annotation file; not overwriting it") from exc
        if previous.get("annotator") != meta or previous.get("settings") != settings:
            raise KinmoInputError(
                f"{out} was made with other settings ({previous.get('annotator')}, "
                f"{previous.get('settings')}); pass --overwrite or choose another file"
            )
        motions = dict(previous.get("motions", {}))
    if encoder is None:
        from kinmo_core.text import get_sentence_encoder

        encoder = get_sentence_encoder()

    todo = [i for i in ids if i not in motions]
    summary = RunSummary(output=out, skipped=len(ids) - len(todo))
    failures: dict[str, str] = {}
    lock = threading.Lock()
    t0 = time.perf_counter()
    last_ckpt = [t0, 0, 0.0]  # time of the last checkpoint, motions done then, seconds it took to write

    def snapshot(complete: bool) -> dict:
        kps = keyframes_per_second(
            [m["keyframes"] for m in motions.values()], [m["n_frames"] for m in motions.values()], FPS
        )
        return {
            "format_version": FORMAT_VERSION,
            "kind": FILE_KIND,
            "dataset": str(Path(folder)),
            "annotator": meta,
            "settings": settings,
            "complete": complete,
            "motions": {k: motions[k] for k in sorted(motions)},
            "failures": dict(sorted(failures.items())),
            "stats": {
                "motions": len(motions),
                "failed": len(failures),
                "keyframes_per_second": round(kps, 3),
                "seconds": round(time.perf_counter() - t0, 2),
            },
        }

    def work(motion_id: str) -> tuple[str, dict | None, str | None]:
        reason = "not attempted"
        for _ in range(MOTION_ATTEMPTS):
            try:
                joints = load_joints(folder, motion_id)
                rec = annotate_joints(
                    joints, motion_id, annotator, encoder, threshold, mode, load_captions(folder, motion_id)
                )
                return motion_id, rec, None
            except KinmoInputError as exc:
                return motion_id, None, str(exc)  # bad input: retrying cannot help
            except KinmoModelError as exc:
                reason = str(exc)
            except Exception as exc:  # noqa: BLE001 - one motion's failure must not stop the run
                reason = f"{type(exc).__name__}: {exc}"
        return motion_id, None, reason

    def finished(motion_id: str, rec: dict | None, reason: str | None) -> None:
        with lock:
            if rec is not None:
                motions[motion_id] = rec
                summary.done += 1
            else:
                reason = " ".join(str(reason).split())
                failures[motion_id] = reason.removeprefix(f"{motion_id}: ")
            now = time.perf_counter()
            # A checkpoint of a large dataset takes seconds to write: keep writing it a small share of the run.
            gap = max(CHECKPOINT_SECONDS, 10.0 * last_ckpt[2])
            if now - last_ckpt[0] > gap or summary.done - last_ckpt[1] >= max(CHECKPOINT_MOTIONS, len(motions) // 10):
                write_json_atomic(out, snapshot(False))
                end = time.perf_counter()
                last_ckpt[0], last_ckpt[1], last_ckpt[2] = end, summary.done, end - now
        if on_motion is not None:
            on_motion(motion_id)

    from tqdm import tqdm

    bar = tqdm(
        total=len(ids),
        initial=summary.skipped,
        desc=f"annotate ({annotator.name})",
        unit="motion",
        disable=not progress,
    )
    try:
        if workers == 1:
            for mid in todo:
                finished(*work(mid))
                bar.update(1)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(work, mid) for mid in todo]
                for fut in as_completed(futures):
                    finished(*fut.result())
                    bar.update(1)
    finally:
        bar.close()
        # Interrupted or not, what is done is saved, so a re-run resumes from here.
        with lock:
            complete = len(motions) + len(failures) >= len(ids) and all(i in motions or i in failures for i in ids)
            data = snapshot(complete)
            write_json_atomic(out, data)
    summary.failures = failures
    summary.seconds = time.perf_counter() - t0
    summary.keyframes_per_second = data["stats"]["keyframes_per_second"]
    return summary
