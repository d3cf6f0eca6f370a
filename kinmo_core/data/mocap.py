"""Importing real motion capture (a folder of BVH files) into the HumanML3D layout, with captions from labels.

Captions come from, in order: a labels file (`--labels`: JSON {file or stem: caption or [captions]}, or CSV/TSV
lines `file,caption`), the Bandai-Namco label files (`cfg/content_label.txt`, `cfg/style_label.txt` and each clip's
JSON; detected automatically), or a filename pattern (`--pattern "dataset-1_{content}_{style}_{take}"`). A file that
fails to import is reported by name and skipped; the rest of the import goes on.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import numpy as np

from kinmo_core.data import layout
from kinmo_core.data.corpus import GROUND_TRUTH_DIR, run_parallel
from kinmo_core.errors import KinmoInputError

BANDAI_CONTENT: dict[str, tuple[str, ...]] = {
    "walk": ("walks forward", "walks", "walks ahead"),
    "run": ("runs forward", "runs", "jogs forward"),
    "dash": ("dashes forward", "sprints", "runs fast"),
    "walk-back": ("walks backward", "walks backwards", "steps backward"),
    "walk-left": ("walks to the left", "moves to the left", "walks leftward"),
    "walk-right": ("walks to the right", "moves to the right", "walks rightward"),
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
}
BANDAI_SUBJECTS = ("a person", "someone", "a man")

BANDAI_README = """# Bandai-Namco-Research-Motiondataset-1, converted by KinMo

Converted with `kinmo corpus import-bvh` to the HumanML3D layout (22-joint target skeleton, 20 fps, 263-d features,
`M<id>` mirrored copies with left/right swapped in joints and captions). Captions are built from each clip's content
and style labels ("a person bows in an angry way"). `ground_truth/<id>.json` holds the source file, its labels and the
conversion report. Splits: 80/5/15 by clip (a clip and its mirror share a split), Mean/Std of the training split
(HumanML3D's std post-processing).

Imported {ok} of {total} BVH files.

## License and attribution

The motion data is Bandai-Namco-Research-Motiondataset-1 by Bandai Namco Research Inc.,
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

LICENSE_NOTE = """This dataset folder contains data derived from Bandai-Namco-Research-Motiondataset-1
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


def _bandai_label_list(path: Path) -> list[str]:
    return [line.strip().split("_", 1)[-1] for line in path.read_text().splitlines() if line.strip()]


def bandai_labels(bvh: Path, cfg: Path) -> dict:
    """Return {content, style} of a Bandai-Namco clip from its JSON (indices into the cfg label lists)."""
    contents = _bandai_label_list(cfg / "content_label.txt")
    styles = _bandai_label_list(cfg / "style_label.txt")
    meta = bvh.with_suffix(".json")
    if meta.is_file():
        try:
            d = json.loads(meta.read_text())
            return {"content": contents[int(d["content"])], "style": styles[int(d["style"])]}
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise KinmoInputError(f"{meta}: unreadable Bandai labels ({e})") from None
    m = re.match(r"dataset-\d+_(?P<content>[a-z\-]+)_(?P<style>[a-z\-]+)_\d+$", bvh.stem)
    if not m:
        raise KinmoInputError(f"{bvh}: no label JSON and the name does not follow dataset-1_<content>_<style>_<take>")
    return m.groupdict()


def bandai_captions(content: str, style: str, rng: np.random.Generator) -> list[str]:
    """Return three captions for a Bandai-Namco clip: content phrase + style phrase, varied."""
    acts = BANDAI_CONTENT.get(content, (content.replace("-", " "),))
    manner = BANDAI_STYLE.get(style, (f"in a {style.replace('-', ' ')} way",))
    out = []
    for k in range(3):
        act = acts[k % len(acts)]
        how = manner[(k + int(rng.integers(len(manner)))) % len(manner)]
        subject = BANDAI_SUBJECTS[int(rng.integers(len(BANDAI_SUBJECTS)))]
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


def _import_one(job: tuple[str, str, str, list[str], dict]) -> dict:
    from kinmo_core.motion.rigs import load_bvh_joints

    path, mid, out_s, captions, labels = job
    out = Path(out_s)
    try:
        joints, report = load_bvh_joints(path)
        if len(joints) < 3:
            raise KinmoInputError(f"only {len(joints)} frames at 20 fps")
        (f, j), (mf, mj) = layout.motion_pair(joints)
        if not (np.isfinite(f).all() and np.isfinite(mf).all()):
            raise KinmoInputError("conversion produced non-finite values")
    except Exception as e:  # one bad file must not stop the import: report it by name and go on
        return {"id": mid, "path": path, "error": " ".join(str(e).split()) or type(e).__name__}
    layout.write_motion(out, mid, f, j, captions)
    layout.write_motion(out, layout.mirror_id(mid), mf, mj, layout.mirrored_captions(captions))
    info = {"id": mid, "source": Path(path).name, "labels": labels, "frames": int(len(f)),
            "conversion": {k: v for k, v in vars(report).items() if k not in ("mapping", "path")}}
    layout.write_json(out / GROUND_TRUTH_DIR / f"{mid}.json", info)
    layout.write_json(out / GROUND_TRUTH_DIR / f"{layout.mirror_id(mid)}.json", {**info, "mirrored": True})
    return {"id": mid, "path": path, "frames": int(len(f)),
            "sums": layout.feature_sums(f) + layout.feature_sums(mf)}


def import_bvh_folder(src: str | os.PathLike, out: str | os.PathLike, labels: str | os.PathLike | None = None,
                      pattern: str | None = None, workers: int = 1, seed: int = 0, overwrite: bool = False,
                      progress: bool = True) -> dict:
    """Import every BVH file under `src` into a HumanML3D-layout dataset at `out`; return a summary with failures."""
    src = Path(src)
    if not src.is_dir():
        raise KinmoInputError(f"{src}: not a folder")
    files = sorted(src.rglob("*.bvh"))
    if not files:
        raise KinmoInputError(f"{src}: no .bvh files in this folder")
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
    summary = {"source": str(src), "files": len(files), "imported": len(ok), "failed": failures, "splits": counts,
               "frames": int(sum(r["frames"] for r in ok)), "captions": "labels file" if table is not None else (
                   "bandai" if cfg is not None else "pattern")}
    layout.write_json(root / "corpus.json", {"kind": "mocap", **{k: v for k, v in summary.items() if k != "failed"},
                                             "failed": [Path(x["path"]).name for x in failures]})
    if cfg is not None:
        layout.write_text_atomic(root / "README.md", BANDAI_README.format(ok=len(ok), total=len(files)))
        layout.write_text_atomic(root / "LICENSE", LICENSE_NOTE)
    else:
        layout.write_text_atomic(root / "README.md", MOCAP_README.format(
            src=src.name, ok=len(ok), total=len(files), captions=summary["captions"]))
    return summary
