"""Text-motion retrieval with HTMA: index a dataset once, query it by text or by motion, evaluate TMR's protocols.

A dataset is a folder in the HumanML3D layout (new_joint_vecs/, texts/, optional annotations.json) or a folder of
motion files (.npz, .bvh, .npy; searched recursively). Indexes are saved beside the data in DATASET/.kinmo_index/
(or at an explicit path), named by the model version, and reused while the dataset's ids and texts are unchanged:

    motions-<version>.safetensors/.json   motion embeddings [mu_c; mu_g; mu_i], one per motion
    texts-<source>-<version>...           text embeddings, one per caption (id "<motion id>#<caption number>")

Text queries are expanded into group and pair descriptions by the Motion Reasoner (or given by the caller), encoded
at every level, and compared by cosine similarity. A query with fewer levels than the model is zero on the finer
levels: it ranks exactly like the cosine of its levels, and the scores reported are that cosine.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinmo_core.alignment import HTMAAligner, check_descriptions, check_query, expand_texts
from kinmo_core.errors import KinmoInputError
from kinmo_core.retrieval.index import Hit, RetrievalIndex

INDEX_DIR = ".kinmo_index"
MOTION_FILE_EXTENSIONS: tuple[str, ...] = (".npz", ".bvh", ".npy")
DESCRIPTION_SOURCES: tuple[str, ...] = ("auto", "annotations", "reasoner")


@dataclass
class MotionSet:
    """Motions of a dataset: ids, features (T, 263) and one display text each."""

    root: Path
    ids: list[str]
    features: list[np.ndarray]
    texts: list[str]

    def fingerprint(self) -> str:
        """Hash of the ids, texts and frame counts (an index is reused only while it matches)."""
        h = hashlib.sha256()
        for i, t, f in zip(self.ids, self.texts, self.features, strict=True):
            h.update(f"{i}\0{t}\0{len(f)}\n".encode())
        return h.hexdigest()


def is_humanml_folder(root: Path) -> bool:
    """Return whether a folder has the HumanML3D layout."""
    return (root / "new_joint_vecs").is_dir()


def _captions(root: Path, mid: str) -> list[str]:
    from kinmo_core.data.layout import read_texts

    path = root / "texts" / f"{mid}.txt"
    return [r["caption"] for r in read_texts(path)] if path.is_file() else []


def dataset_root(dataset: str | os.PathLike) -> Path:
    """Return the folder of a dataset (KinmoInputError when it does not exist)."""
    root = Path(dataset).expanduser()
    if not root.exists():
        raise KinmoInputError(f"dataset not found: {root}")
    if not root.is_dir():
        raise KinmoInputError(f"{root}: a dataset must be a folder (HumanML3D layout or motion files)")
    return root


def split_ids(root: Path, split: str | None) -> list[str]:
    """Return the motion ids of a split (None or 'all': every motion with features), sorted for determinism."""
    from kinmo_core.data.layout import read_split

    available = {p.stem for p in (root / "new_joint_vecs").glob("*.npy")}
    if split in (None, "all") and not (root / "all.txt").is_file():
        return sorted(available)
    ids = read_split(root, split or "all")
    return [m for m in ids if m in available]


def _reason(exc: Exception, root: Path) -> str:
    """The error message without the file path it starts with (the motion id is named instead)."""
    text = str(exc)
    head, sep, tail = text.partition(": ")
    return tail if sep and head.startswith(str(root)) else text


def load_motion_set(dataset: str | os.PathLike, split: str | None = None) -> MotionSet:
    """Read the motions of a HumanML3D-layout folder (one split or all) or a folder of motion files."""
    from tqdm import tqdm

    from kinmo_core.motion.file import load_features, load_motion

    root = dataset_root(dataset)
    ids, feats, texts = [], [], []
    skipped: list[str] = []
    # One unreadable motion (NaN, wrong shape, bad file) is skipped and named, as `kinmo annotate` does.
    if is_humanml_folder(root):
        for mid in split_ids(root, split):
            try:
                f = load_features(root / "new_joint_vecs" / f"{mid}.npy")
            except KinmoInputError as exc:
                skipped.append(mid)
                warnings.warn(f"skipped motion {mid}: {_reason(exc, root)}", stacklevel=2)
                continue
            ids.append(mid)
            feats.append(f)
            caps = _captions(root, mid)
            texts.append(caps[0] if caps else "")
    else:
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in MOTION_FILE_EXTENSIONS and p.is_file()
                       and INDEX_DIR not in p.parts)
        for p in tqdm(files, desc="reading motions", unit="file", disable=len(files) < 50):
            mid = str(p.relative_to(root))
            try:
                m = load_motion(p)
            except KinmoInputError as exc:
                skipped.append(mid)
                warnings.warn(f"skipped motion {mid}: {_reason(exc, root)}", stacklevel=2)
                continue
            ids.append(mid)
            feats.append(np.asarray(m.features, dtype=np.float32))
            texts.append(m.text)
    if not ids and skipped:
        raise KinmoInputError(f"{root}: no readable motions ({len(skipped)} skipped, e.g. {skipped[0]})")
    if not ids:
        raise KinmoInputError(f"{root}: no motions found (expected new_joint_vecs/*.npy or .npz/.bvh/.npy files)")
    return MotionSet(root, ids, feats, texts)


def load_annotation_descriptions(root: Path, annotations: str | os.PathLike | None = None) -> dict[str, dict]:
    """Return {motion id: descriptions} of a dataset's annotations; KinmoInputError when it has none."""
    from kinmo_core.annotate.annotations import read_annotations

    path = Path(annotations) if annotations else root / "annotations.json"
    if not path.is_file():
        raise KinmoInputError(f"{root} has no annotations ({path}): run `kinmo annotate {root} -o {path}`, or use "
                              "the Motion Reasoner's descriptions (--descriptions reasoner) or --levels 1")
    data = read_annotations(path)
    return {mid: check_descriptions(rec, f"{path}: motion {mid}") for mid, rec in data["motions"].items()}


@dataclass
class TextSet:
    """Captions of a dataset with their descriptions: id '<motion>#<n>', motion id, caption, descriptions."""

    ids: list[str]
    motion_ids: list[str]
    captions: list[str]
    descriptions: list[dict] | None


def load_text_set(dataset: str | os.PathLike, levels: int, source: str = "auto",
                  annotations: str | os.PathLike | None = None, split: str | None = None, first_only: bool = False,
                  reasoner=None) -> TextSet:
    """Read the captions of a HumanML3D-layout folder with their descriptions (annotations or the Reasoner)."""
    root = dataset_root(dataset)
    if not is_humanml_folder(root):
        raise KinmoInputError(f"{root}: a text dataset must have the HumanML3D layout (texts/ and new_joint_vecs/)")
    if source not in DESCRIPTION_SOURCES:
        raise KinmoInputError(f"unknown description source {source!r}; expected one of {DESCRIPTION_SOURCES}")
    ids, mids, caps = [], [], []
    for mid in split_ids(root, split):
        for n, cap in enumerate(_captions(root, mid)[: 1 if first_only else None]):
            if cap.strip():
                ids.append(f"{mid}#{n}")
                mids.append(mid)
                caps.append(cap)
    if not ids:
        raise KinmoInputError(f"{root}: no captions found in texts/")
    if levels == 1:
        return TextSet(ids, mids, caps, None)
    if source == "auto":
        has_ann = Path(annotations).is_file() if annotations else (root / "annotations.json").is_file()
        source = "annotations" if has_ann else "reasoner"
    if source == "reasoner":
        descs = expand_texts(caps, reasoner)
        return TextSet(ids, mids, caps, descs)
    table = load_annotation_descriptions(root, annotations)
    keep = [i for i, m in enumerate(mids) if m in table]
    if not keep:
        raise KinmoInputError(f"{root}: none of its motions is in the annotations")
    return TextSet([ids[i] for i in keep], [mids[i] for i in keep], [caps[i] for i in keep],
                   [table[mids[i]] for i in keep])


def default_index_path(root: Path, kind: str, version: str) -> Path:
    """Return DATASET/.kinmo_index/<kind>-<version prefix> (the .safetensors/.json pair's stem)."""
    return root / INDEX_DIR / f"{kind}-{version[:16]}"


def _usable(path: Path, version: str, ids: list[str], texts: list[str]) -> RetrievalIndex | None:
    idx = RetrievalIndex.load(path, expected_version=version)
    return idx if idx.ids == ids and idx.texts == texts else None


def _index_exists(path: Path) -> bool:
    return path.with_name(path.name + ".safetensors").is_file() or path.with_name(path.name + ".json").is_file()


def _open_or_build(path: Path | None, default: Path, version: str, ids: list[str], texts: list[str], build,
                   rebuild: bool) -> tuple[RetrievalIndex, bool]:
    target = Path(path) if path is not None else default
    if _index_exists(target) and not rebuild:
        idx = _usable(target, version, ids, texts)  # KinmoModelError for another model version
        if idx is not None:
            return idx, False
        if path is not None:
            raise KinmoInputError(f"the index {target} was built from other motions or texts; pass --rebuild to "
                                  "replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    idx = RetrievalIndex.build(build(), ids, texts, model_version=version)
    try:
        idx.save(target, overwrite=True)
    except (KinmoInputError, PermissionError, OSError) as exc:
        raise KinmoInputError(f"cannot save the index at {target} ({exc}); pass --index PATH") from None
    return idx, True


def motion_index(aligner: HTMAAligner, dataset: str | os.PathLike, index_path: str | os.PathLike | None = None,
                 rebuild: bool = False, split: str | None = None) -> tuple[RetrievalIndex, bool]:
    """Return (the motion index of a dataset, whether it was built now); built once, saved and reused."""
    ms = load_motion_set(dataset, split)
    texts = [f"{t}" for t in ms.texts]
    suffix = f"-{split}" if split not in (None, "all") else ""
    default = default_index_path(ms.root, f"motions{suffix}", aligner.version)

    def build() -> np.ndarray:
        return aligner.embed(aligner.encode_motions(ms.features, progress=len(ms.features) >= 256))

    return _open_or_build(Path(index_path) if index_path else None, default, aligner.version, ms.ids, texts, build,
                          rebuild)


def text_index(aligner: HTMAAligner, dataset: str | os.PathLike, source: str = "auto",
               annotations: str | os.PathLike | None = None, index_path: str | os.PathLike | None = None,
               rebuild: bool = False, reasoner=None, levels: int | None = None) -> tuple[RetrievalIndex, bool]:
    """Return (the caption index of a dataset, whether it was built now).

    With fewer levels than the model, the index holds those levels zero-padded to the full width (and needs no
    descriptions at level 1); search it with `search_motion(..., index_levels=levels)`.
    """
    lv = aligner._levels(levels)
    ts = load_text_set(dataset, lv, source, annotations, reasoner=reasoner)
    root = dataset_root(dataset)
    kind = "texts" if lv == 1 else f"texts-{'reasoner' if source == 'reasoner' else 'annotations'}"
    if lv < aligner.levels:
        kind += f"-L{lv}"
    default = default_index_path(root, kind, aligner.version)

    def build() -> np.ndarray:
        return aligner.query_embedding(aligner.encode_texts(ts.captions, ts.descriptions, levels=lv, cached=True), lv)

    return _open_or_build(Path(index_path) if index_path else None, default, aligner.version, ts.ids, ts.captions,
                          build, rebuild)


def query_descriptions(aligner: HTMAAligner, text: str, levels: int, descriptions: dict | None = None,
                       reasoner=None) -> dict | None:
    """Return the descriptions a text query is expanded with (given ones, or the Motion Reasoner's)."""
    if levels == 1:
        return None
    if descriptions is not None:
        return check_descriptions(descriptions)
    return aligner.expand([text], reasoner)[0]


def search_text(aligner: HTMAAligner, index: RetrievalIndex, text: str, k: int = 5, levels: int | None = None,
                descriptions: dict | None = None, reasoner=None) -> tuple[list[Hit], dict | None]:
    """Return the k motions closest to a text query, best first, and the descriptions used."""
    text = check_query(text)
    lv = aligner._levels(levels)
    desc = query_descriptions(aligner, text, lv, descriptions, reasoner)
    mu = aligner.encode_texts([text], None if desc is None else [desc], levels=lv)
    return rescale(index.query(aligner.query_embedding(mu, lv)[0], k), aligner.levels, lv), desc


def search_motion(aligner: HTMAAligner, index: RetrievalIndex, features: np.ndarray, k: int = 5,
                  levels: int | None = None, index_levels: int | None = None) -> list[Hit]:
    """Return the k captions closest to a motion (features (T, 263)), best first.

    index_levels: the levels the index was built with (text_index(levels=...); default all the model has).
    """
    lv = aligner._levels(levels)
    mu = aligner.encode_motions([features])
    hits = index.query(aligner.query_embedding(mu, lv)[0], k)
    # Both sides padded alike already score the cosine of their levels.
    return hits if index_levels is not None and index_levels <= lv else rescale(hits, aligner.levels, lv)


def rescale(hits: list[Hit], model_levels: int, levels: int) -> list[Hit]:
    """Turn scores of a zero-padded `levels`-level query into the cosine of those levels."""
    if levels == model_levels:
        return hits
    f = math.sqrt(model_levels / levels)
    return [Hit(h.index, h.id, h.text, h.score * f) for h in hits]
