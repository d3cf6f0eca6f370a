"""Importing real motion capture (a folder of BVH files) into the HumanML3D layout, with captions from labels.

Captions come from, in order: a labels file (`--labels`: JSON {file or stem: caption or [captions]}, or CSV/TSV
lines `file,caption`), the Bandai-Namco label files (`cfg/content_label.txt`, `cfg/style_label.txt` and each clip's
JSON; detected automatically), or a filename pattern (`--pattern "dataset-1_{content}_{style}_{take}"`). A file that
fails to import is reported by name and skipped; the rest of the import goes on. A Bandai-Namco tar archive
(`bandai-namco-2-train.tar.xz`) is read directly, streaming member by member, without unpacking it.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import lzma
import os
import re
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from kinmo_core.data import layout
from kinmo_core.data.captions import mirror_text
from kinmo_core.data.corpus import GROUND_TRUTH_DIR, run_parallel
from kinmo_core.errors import KinmoInputError

BANDAI_CONTENT: dict[str, tuple[str, ...]] = {
    "walk": ("walks forward", "walks", "walks ahead"),
    "run": ("runs forward", "runs", "jogs forward"),
    "dash": ("dashes forward", "sprints", "runs fast"),
    "walk-back": ("walks backward", "walks backwards", "steps backward"),
    "walk-left": ("walks to the left", "moves to the left", "walks sideways to the left"),
    "walk-right": ("walks to the right", "moves to the right", "walks sideways to the right"),
    "bow": ("bows", "bows forward", "takes a bow"),
    "bye": ("waves goodbye", "waves bye", "waves a hand"),
    "guide": ("guides someone with the hand", "gestures to show the way", "points the way"),
    "byebye": ("waves goodbye with both hands", "waves bye-bye", "waves both hands"),
    "respond": ("responds to someone", "answers someone with a gesture", "reacts to someone"),
    "call": ("calls someone over", "beckons someone", "waves someone over"),
    "punch": ("punches", "throws punches", "punches forward"),
    "kick": ("kicks", "kicks forward", "kicks with one leg"),
    "slash": ("slashes", "makes a slashing motion", "slashes with the arm"),
    "dance-long": ("dances", "dances energetically", "performs a dance"),
    "dance-short": ("dances", "does a short dance", "dances briefly"),
    # Bandai-Namco dataset-2 (dataset-1's "walk" and "run" above serve both)
    "walk-turn-left": ("walks and turns to the left", "walks forward, then turns left", "turns left while walking",
                       "walks in a curve to the left"),
    "walk-turn-right": ("walks and turns to the right", "walks forward, then turns right", "turns right while walking",
                        "walks in a curve to the right"),
    "wave-left-hand": ("waves the left hand", "waves with the left hand", "raises the left hand and waves it",
                       "waves hello with the left hand"),
    "wave-right-hand": ("waves the right hand", "waves with the right hand", "raises the right hand and waves it",
                        "waves hello with the right hand"),
    "wave-both-hands": ("waves both hands", "waves with both hands", "raises both hands and waves them",
                        "waves hello with both hands"),
    "raise-up-left-hand": ("raises the left hand", "raises the left arm up", "lifts the left hand up",
                           "puts the left hand up in the air"),
    "raise-up-right-hand": ("raises the right hand", "raises the right arm up", "lifts the right hand up",
                            "puts the right hand up in the air"),
    "raise-up-both-hands": ("raises both hands", "raises both arms up", "lifts both hands up",
                            "puts both hands up in the air"),
}
BANDAI_STYLE: dict[str, tuple[str, ...]] = {
    "normal": ("", "normally", "in a normal way"),
    "happy": ("happily", "in a happy way", "cheerfully"),
    "sad": ("sadly", "in a sad way", "gloomily"),
    "angry": ("angrily", "in an angry way", "furiously"),
    "proud": ("proudly", "in a proud way", "confidently"),
    "not-confident": ("without confidence", "timidly", "in an unsure way"),
    "masculinity": ("in a masculine way", "in a manly way", "with a masculine style"),
    "feminine": ("in a feminine way", "gracefully", "with a feminine style"),
    "childish": ("like a child", "in a childish way", "playfully"),
    "old": ("like an old person", "in an elderly way", "like an elderly person"),
    "tired": ("tiredly", "in a tired way", "wearily"),
    "active": ("actively", "energetically", "in an active way"),
    "musical": ("in a musical way", "rhythmically", "like a musical performer"),
    "giant": ("like a giant", "in a heavy, giant-like way", "with huge heavy steps"),
    "chimpira": ("like a thug", "in a thuggish way", "like a street punk"),
    # Bandai-Namco dataset-2 ("normal", "feminine" and "active" above serve both)
    "elderly": ("like an elderly person", "like an old person", "in an elderly way"),
    "exhausted": ("in an exhausted way", "wearily, as if exhausted", "like someone who is worn out"),
    "masculine": ("in a masculine way", "in a manly way", "with a masculine style"),
    "youthful": ("in a youthful way", "like a young person", "with youthful energy"),
}
BANDAI_SUBJECTS = ("a person", "someone", "a man")

BANDAI_README = """# {dataset}, converted by KinMo

Converted with `kinmo corpus import-bvh` to the HumanML3D layout (22-joint target skeleton, 20 fps, 263-d features,
`M<id>` mirrored copies with left/right swapped in joints and captions). Captions are built from each clip's content
and style labels ("a person bows in an angry way"). `ground_truth/<id>.json` holds the source file, its labels and the
conversion report. Splits: 80/5/15 by clip (a clip and its mirror share a split), Mean/Std of the training split
(HumanML3D's std post-processing).

Imported {ok} of {total} BVH files{archive}.

## License and attribution

The motion data is {dataset} by Bandai Namco Research Inc.,
https://github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset, licensed under the Creative Commons
Attribution-NonCommercial 4.0 International license (CC BY-NC 4.0, https://creativecommons.org/licenses/by-nc/4.0/).
This folder is a derived work (retargeted, resampled, mirrored, captioned) under the same license: credit Bandai Namco
Research Inc., do not use it commercially, and indicate the changes if you share it.
"""

MOCAP_README = """# Motion capture converted by KinMo

`kinmo corpus import-bvh` converted {ok} of {total} BVH files from `{src}` to the HumanML3D layout (22-joint target
skeleton, 20 fps, 263-d features, `M<id>` mirrored copies), captions from the {captions}. The motions keep the license
of their source: check it before sharing this folder.
"""

LICENSE_NOTE = """This dataset folder contains data derived from {dataset}
(c) Bandai Namco Research Inc., licensed under CC BY-NC 4.0: https://creativecommons.org/licenses/by-nc/4.0/
Source: https://github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset
Changes: converted to KinMo's 22-joint skeleton at 20 fps, HumanML3D features, mirrored copies, generated captions.
"""


def _clean_id(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", stem)


# ------------------------------------------------------------------------------------------------ labels


def read_labels_file(path: str | os.PathLike) -> dict[str, list[str]]:
    """Return {file stem: captions} from a JSON ({name: caption or [captions]}) or CSV/TSV (name,caption) file."""
    path = Path(path)
    if not path.is_file():
        raise KinmoInputError(f"{path}: labels file not found")
    text = path.read_text(encoding="utf-8", errors="replace")
    out: dict[str, list[str]] = {}
    ext = path.suffix.lower()
    if ext == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise KinmoInputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
        if not isinstance(data, dict):
            raise KinmoInputError(f"{path}: expected a JSON object {{file: caption or [captions]}}")
        for k, v in data.items():
            caps = [v] if isinstance(v, str) else v
            if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
                raise KinmoInputError(f"{path}: the value for {k!r} must be a caption or a list of captions")
            out[Path(k).stem] = [c.strip() for c in caps if c.strip()]
    elif ext in (".csv", ".tsv", ".txt"):
        delim = "\t" if ext == ".tsv" or ("\t" in text and "," not in text.splitlines()[0]) else ","
        for n, row in enumerate(csv.reader(text.splitlines(), delimiter=delim), 1):
            if not row or not "".join(row).strip() or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise KinmoInputError(f"{path}:{n}: expected 'file{delim}caption', got {delim.join(row)!r}")
            if n == 1 and row[0].strip().lower() in ("file", "filename", "name", "id"):
                continue
            out.setdefault(Path(row[0].strip()).stem, []).extend(c.strip() for c in row[1:] if c.strip())
    else:
        raise KinmoInputError(f"{path}: unknown labels file format '{ext}' (use .json, .csv, .tsv or .txt)")
    if not out:
        raise KinmoInputError(f"{path}: no labels found")
    return out


def find_bandai_cfg(src: Path) -> Path | None:
    """Return the Bandai-Namco cfg/ folder for a data folder (itself, or beside it), or None."""
    for base in (src, src.parent):
        cfg = base / "cfg"
        if (cfg / "content_label.txt").is_file() and (cfg / "style_label.txt").is_file():
            return cfg
    return None


def _bandai_label_list(text: str) -> list[str]:
    return [line.strip().split("_", 1)[-1] for line in text.splitlines() if line.strip()]


def bandai_dataset_name(cfg_text: str) -> str:
    """Return the Bandai-Namco dataset's name ("Bandai-Namco-Research-Motiondataset-2") from a cfg label file."""
    m = re.match(r"\s*dataset-(\d+)_", cfg_text)
    return f"Bandai-Namco-Research-Motiondataset-{m.group(1) if m else 1}"


def bandai_labels_from(stem: str, meta: str | None, contents: list[str], styles: list[str], where: str) -> dict:
    """Return {content, style} of a clip from its JSON text (indices into the label lists) or, without one, its name."""
    if meta is not None:
        try:
            d = json.loads(meta)
            return {"content": contents[int(d["content"])], "style": styles[int(d["style"])]}
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise KinmoInputError(f"{where}: unreadable Bandai labels ({e})") from None
    m = re.match(r"dataset-\d+_(?P<content>[a-z\-]+)_(?P<style>[a-z\-]+)_\d+$", stem)
    if not m:
        raise KinmoInputError(f"{where}: no label JSON and the name does not follow dataset-N_<content>_<style>_<take>")
    return m.groupdict()


def bandai_labels(bvh: Path, cfg: Path) -> dict:
    """Return {content, style} of a Bandai-Namco clip from its JSON (indices into the cfg label lists)."""
    meta = bvh.with_suffix(".json")
    return bandai_labels_from(bvh.stem, meta.read_text() if meta.is_file() else None,
                              _bandai_label_list((cfg / "content_label.txt").read_text()),
                              _bandai_label_list((cfg / "style_label.txt").read_text()),
                              str(meta if meta.is_file() else bvh))


BANDAI_STYLE_SUBJECTS: dict[str, str] = {
    "elderly": "an elderly person", "old": "an old person", "exhausted": "an exhausted person",
    "tired": "a tired person", "youthful": "a young person", "childish": "a child-like person",
    "happy": "a happy person", "sad": "a sad person", "angry": "an angry person", "proud": "a proud person",
    "active": "an energetic person",
}
"""Styles that also read well as the subject ("an elderly person waves the left hand"), for varied wording."""


def bandai_captions(content: str, style: str, rng: np.random.Generator) -> list[str]:
    """Return three captions for a Bandai-Namco clip: content phrase + style phrase, in varied wording."""
    acts = BANDAI_CONTENT.get(content, (content.replace("-", " "),))
    manner = BANDAI_STYLE.get(style, (f"in a {style.replace('-', ' ')} way",))
    first = int(rng.integers(len(acts)))
    out = []
    for k in range(3):
        act = acts[(first + k) % len(acts)]
        how = manner[(k + int(rng.integers(len(manner)))) % len(manner)]
        subject = BANDAI_SUBJECTS[int(rng.integers(len(BANDAI_SUBJECTS)))]
        if k == 2 and style in BANDAI_STYLE_SUBJECTS:  # one caption carries the style in its subject instead
            subject, how = BANDAI_STYLE_SUBJECTS[style], ""
        out.append(" ".join(x for x in (subject, act, how) if x))
    return out


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Return a regex for a filename pattern with {field} placeholders (each matches one or more characters)."""
    parts = re.split(r"(\{\w+\})", pattern)
    rx = "".join(f"(?P<{p[1:-1]}>.+?)" if re.fullmatch(r"\{\w+\}", p) else re.escape(p) for p in parts)
    return re.compile("^" + rx + "$")


def pattern_captions(fields: dict[str, str]) -> list[str]:
    """Return captions from filename fields: 'content' (an action) and optional 'style'."""
    if "content" not in fields:
        raise KinmoInputError("the filename pattern needs a {content} field to build captions from")
    act = fields["content"].replace("-", " ").replace("_", " ")
    style = fields.get("style", "").replace("-", " ").replace("_", " ")
    how = f" in a {style} way" if style and style != "normal" else ""
    return [f"a person does {act}{how}", f"someone performs {act}{how}", f"a person doing {act}{how}"]


# ------------------------------------------------------------------------------------------------ import


def _load_joints(path: str, data: bytes | None):
    from kinmo_core.motion.rigs import load_bvh_joints

    if data is None:
        return load_bvh_joints(path)
    # read_bvh reads files: an archive member goes through a private temporary file named like the member, so that
    # errors name the clip
    with tempfile.TemporaryDirectory(prefix="kinmo-bvh-") as tmp:
        f = Path(tmp) / Path(path).name
        f.write_bytes(data)
        return load_bvh_joints(f)


def _write_meta(out: Path, mid: str, captions: list[str], labels: dict, source: str, frames: int,
                conversion: dict) -> None:
    layout.write_captions(out, mid, captions)
    layout.write_captions(out, layout.mirror_id(mid), layout.mirrored_captions(captions))
    info = {"id": mid, "source": source, "labels": labels, "frames": frames, "conversion": conversion}
    layout.write_json(out / GROUND_TRUTH_DIR / f"{mid}.json", info)
    # the mirror's labels name its own side ("raise-up-left-hand" becomes "raise-up-right-hand")
    mirrored = {k: mirror_text(v) if isinstance(v, str) else v for k, v in labels.items()}
    layout.write_json(out / GROUND_TRUTH_DIR / f"{layout.mirror_id(mid)}.json",
                      {**info, "labels": mirrored, "mirrored": True})


def _import_one(job: tuple) -> dict:
    """Convert one BVH (a path, or an archive member's name and bytes) and write it and its mirror.

    With captions None only the motions are written; the caller writes captions and ground truth once the labels
    are known (an archive's label files may come after the clips)."""
    path, mid, out_s, captions, labels = job[:5]
    data = job[5] if len(job) > 5 else None
    out = Path(out_s)
    try:
        joints, report = _load_joints(path, data)
        if len(joints) < 3:
            raise KinmoInputError(f"only {len(joints)} frames at 20 fps")
        (f, j), (mf, mj) = layout.motion_pair(joints)
        if not (np.isfinite(f).all() and np.isfinite(mf).all()):
            raise KinmoInputError("conversion produced non-finite values")
    except Exception as e:  # one bad file must not stop the import: report it by name and go on
        return {"id": mid, "path": path, "error": " ".join(str(e).split()) or type(e).__name__}
    layout.write_motion(out, mid, f, j, captions or [])
    layout.write_motion(out, layout.mirror_id(mid), mf, mj, layout.mirrored_captions(captions or []))
    conversion = {k: v for k, v in vars(report).items() if k not in ("mapping", "path")}
    if captions is not None:
        _write_meta(out, mid, captions, labels, Path(path).name, int(len(f)), conversion)
    return {"id": mid, "path": path, "frames": int(len(f)), "conversion": conversion,
            "sums": layout.feature_sums(f) + layout.feature_sums(mf)}


def select_names(names: list[str], include: list[str] | None = None, limit: int | None = None) -> list[str]:
    """Return the sorted names whose stem matches one of the `include` globs, thinned evenly to at most `limit`."""
    out = sorted(names)
    if include:
        out = [n for n in out if any(fnmatch.fnmatch(Path(n).stem, g) or fnmatch.fnmatch(Path(n).name, g)
                                     for g in include)]
    if limit is not None:
        if limit < 1:
            raise KinmoInputError(f"--limit must be at least 1, got {limit}")
        if len(out) > limit:  # evenly spaced, so a subset spans every content and style of a sorted Bandai set
            out = [out[int(i * len(out) / limit)] for i in range(limit)]
    return out


def _finish(root: Path, ok: list[dict], failures: list[dict], summary: dict, seed: int, readme: str,
            license_note: str | None) -> dict:
    """Write splits, Mean/Std, corpus.json, README and LICENSE of an import; return the summary with the counts."""
    if ok:
        split_of = layout.assign_splits([r["id"] for r in ok], seed)
        sums = np.zeros((3, 263))
        for r in ok:
            if split_of[r["id"]] == "train":
                sums += r["sums"]
        if sums[2].max() <= 0:  # a tiny import can leave the training split empty: use everything
            sums = sum(r["sums"] for r in ok)
        layout.write_statistics(root, sums)
        counts = layout.write_splits(root, split_of, mirrored=True)
    else:
        counts = {s: 0 for s in layout.SPLITS}
    summary = {**summary, "imported": len(ok), "failed": failures, "splits": counts,
               "frames": int(sum(r["frames"] for r in ok))}
    layout.write_json(root / "corpus.json", {"kind": "mocap", **{k: v for k, v in summary.items() if k != "failed"},
                                             "failed": [Path(x["path"]).name for x in failures]})
    layout.write_text_atomic(root / "README.md", readme.format(ok=len(ok), total=summary["files"],
                                                                captions=summary["captions"]))
    if license_note is not None:
        layout.write_text_atomic(root / "LICENSE", license_note)
    return summary


def import_bvh_folder(src: str | os.PathLike, out: str | os.PathLike, labels: str | os.PathLike | None = None,
                      pattern: str | None = None, workers: int = 1, seed: int = 0, overwrite: bool = False,
                      progress: bool = True, include: list[str] | None = None, limit: int | None = None) -> dict:
    """Import every BVH file under `src` into a HumanML3D-layout dataset at `out`; return a summary with failures."""
    src = Path(src)
    if src.is_file() and is_archive(src):
        if labels is not None or pattern is not None:
            raise KinmoInputError(f"{src}: an archive is imported with its Bandai-Namco labels; --labels and "
                                  "--pattern apply to folders")
        return import_bvh_archive(src, out, workers=workers, seed=seed, overwrite=overwrite, progress=progress,
                                  include=include, limit=limit)
    if not src.is_dir():
        raise KinmoInputError(f"{src}: not a folder or a .tar/.tar.xz/.tar.gz/.tgz archive")
    by_name = {str(f): f for f in src.rglob("*.bvh")}
    if not by_name:
        raise KinmoInputError(f"{src}: no .bvh files in this folder")
    files = [by_name[n] for n in select_names(list(by_name), include, limit)]
    if not files:
        raise KinmoInputError(f"{src}: no .bvh file matches --include {' '.join(include or [])}")
    table = read_labels_file(labels) if labels is not None else None
    cfg = find_bandai_cfg(src) if table is None and pattern is None else None
    rx = pattern_regex(pattern) if pattern else None
    if table is None and cfg is None and rx is None:
        raise KinmoInputError(f"{src}: no captions source: pass --labels FILE or --pattern (Bandai-Namco cfg/ labels "
                              "are found automatically)")
    root = layout.prepare_output(out, overwrite=overwrite)
    (root / GROUND_TRUTH_DIR).mkdir(exist_ok=True)
    jobs, failures, seen = [], [], set()
    for k, f in enumerate(files):
        mid = _clean_id(f.stem)
        if mid in seen:
            mid = f"{mid}_{k}"
        seen.add(mid)
        try:
            if table is not None:
                caps = table.get(f.stem) or table.get(f.name)
                if not caps:
                    raise KinmoInputError("no caption in the labels file")
                lab = {}
            elif cfg is not None:
                lab = bandai_labels(f, cfg)
                caps = bandai_captions(lab["content"], lab["style"], np.random.default_rng([seed, k]))
            else:
                m = rx.match(f.stem)
                if not m:
                    raise KinmoInputError(f"the name does not match the pattern {pattern!r}")
                lab = m.groupdict()
                caps = pattern_captions(lab)
        except KinmoInputError as e:
            failures.append({"path": str(f), "error": str(e)})
            continue
        jobs.append((str(f), mid, str(root), caps, lab))
    results = run_parallel(_import_one, jobs, workers, "importing", progress) if jobs else []
    ok = [r for r in results if "error" not in r]
    failures += [{"path": r["path"], "error": r["error"]} for r in results if "error" in r]
    summary = {"source": str(src), "files": len(files), "captions": "labels file" if table is not None else (
        "bandai" if cfg is not None else "pattern")}
    if cfg is not None:
        dataset = bandai_dataset_name((cfg / "content_label.txt").read_text())
        return _finish(root, ok, failures, summary, seed, BANDAI_README.replace("{dataset}", dataset).replace(
            "{archive}", ""), LICENSE_NOTE.format(dataset=dataset))
    return _finish(root, ok, failures, summary, seed, MOCAP_README.replace("{src}", src.name), None)


ARCHIVE_SUFFIXES = (".tar", ".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2")


def is_archive(path: str | os.PathLike) -> bool:
    """Return whether a path names a tar archive (by its suffix)."""
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def _archive_members(archive: Path):
    """Yield (member name, bytes) of every regular file of a tar archive, streaming (no random access needed)."""
    try:
        with tarfile.open(archive, "r|*") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                fh = tar.extractfile(m)
                yield m.name, fh.read() if fh is not None else b""
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError) as e:
        why = " ".join(str(e).split()) or type(e).__name__
        raise KinmoInputError(f"{archive}: unreadable archive ({why})") from None


def import_bvh_archive(archive: str | os.PathLike, out: str | os.PathLike, workers: int = 1, seed: int = 0,
                       overwrite: bool = False, progress: bool = True, include: list[str] | None = None,
                       limit: int | None = None, batch: int = 32) -> dict:
    """Import the BVH clips of a Bandai-Namco tar archive (e.g. `bandai-namco-2-train.tar.xz`) without unpacking it.

    The archive is streamed: clips are converted `batch` at a time as they come (memory holds at most a batch of BVH
    texts) and their captions written at the end, once the cfg/ label lists and per-clip JSON (anywhere in the
    archive) have been read. `limit` needs every name first, so it reads the archive twice."""
    from tqdm import tqdm

    archive = Path(archive)
    if not archive.is_file():
        raise KinmoInputError(f"{archive}: archive not found")

    def wanted(name: str) -> bool:
        return not include or bool(select_names([name], include))

    names, metas, cfg_text, license_text = [], {}, {}, None
    ids: dict[str, str] = {}
    results: list[dict] = []
    pending: list[tuple] = []
    root: Path | None = None
    bar = tqdm(desc="importing", unit="clip", disable=not progress, dynamic_ncols=True)

    def take(name: str, data: bytes) -> None:
        nonlocal root
        if root is None:  # the output folder is made only once the archive has yielded a clip
            root = layout.prepare_output(out, overwrite=overwrite)
            (root / GROUND_TRUTH_DIR).mkdir(exist_ok=True)
        mid = _clean_id(Path(name).stem)
        if mid in ids.values():
            mid = f"{mid}_{len(ids)}"
        ids[name] = mid
        pending.append((name, mid, str(root), None, {}, data))
        if len(pending) >= batch:
            flush()

    def flush() -> None:
        results.extend(run_parallel(_import_one, pending, workers, "importing", progress=False))
        bar.update(len(pending))
        pending.clear()

    try:
        for name, data in _archive_members(archive):
            base = Path(name).name
            if base.lower().endswith(".bvh"):
                names.append(name)
                if limit is None and wanted(name):
                    take(name, data)
            elif base.endswith(".json"):
                metas[Path(name).with_suffix("").as_posix()] = data.decode("utf-8", "replace")
            elif base in ("content_label.txt", "style_label.txt") and Path(name).parent.name == "cfg":
                cfg_text[base] = data.decode("utf-8", "replace")
            elif base == "LICENSE" and Path(name).parent.parent == Path("."):
                license_text = data.decode("utf-8", "replace")
        if not names:
            raise KinmoInputError(f"{archive}: no .bvh files in this archive")
        if len(cfg_text) < 2:
            raise KinmoInputError(f"{archive}: no Bandai-Namco cfg/content_label.txt and cfg/style_label.txt in it")
        if limit is not None:
            chosen = set(select_names(names, include, limit))
            bar.reset(total=len(chosen))
            for name, data in _archive_members(archive):
                if name in chosen:
                    take(name, data)
                    if len(ids) == len(chosen):
                        break  # every chosen clip read: skip decompressing the rest
        if pending:
            flush()
    finally:
        bar.close()
    if root is None:
        raise KinmoInputError(f"{archive}: no .bvh member matches --include {' '.join(include or [])}")
    contents = _bandai_label_list(cfg_text["content_label.txt"])
    styles = _bandai_label_list(cfg_text["style_label.txt"])
    order = {n: k for k, n in enumerate(sorted(ids))}
    results.sort(key=lambda r: order[r["path"]])  # archive order is arbitrary: captions and splits follow the names
    ok, failures = [], [{"path": r["path"], "error": r["error"]} for r in results if "error" in r]
    for r in results:
        if "error" in r:
            continue
        try:
            lab = bandai_labels_from(Path(r["path"]).stem, metas.get(Path(r["path"]).with_suffix("").as_posix()),
                                     contents, styles, r["path"])
        except KinmoInputError as e:
            failures.append({"path": r["path"], "error": str(e)})
            for mid in (r["id"], layout.mirror_id(r["id"])):
                for sub, ext in (("new_joint_vecs", "npy"), ("new_joints", "npy"), ("texts", "txt")):
                    (root / sub / f"{mid}.{ext}").unlink(missing_ok=True)
            continue
        caps = bandai_captions(lab["content"], lab["style"], np.random.default_rng([seed, order[r["path"]]]))
        _write_meta(root, r["id"], caps, lab, Path(r["path"]).name, r["frames"], r["conversion"])
        ok.append(r)
    ok.sort(key=lambda r: r["id"])
    dataset = bandai_dataset_name(cfg_text["content_label.txt"])
    if license_text is not None:  # the source's own licence text travels with the derived data
        layout.write_text_atomic(root / "LICENSE-source.txt", license_text)
    summary = {"source": str(archive), "files": len(ids), "archive_files": len(names), "captions": "bandai"}
    note = f" (of {len(names)} in `{archive.name}`, read without unpacking)"
    return _finish(root, ok, failures, summary, seed, BANDAI_README.replace("{dataset}", dataset).replace(
        "{archive}", note), LICENSE_NOTE.format(dataset=dataset))
