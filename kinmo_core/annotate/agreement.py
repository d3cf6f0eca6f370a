"""Human review of annotations: drawing a review sheet and Cohen's kappa between two reviewers.

Review CSV format (UTF-8, with a header row; extra columns are ignored):

    id,field,verdict[,text]
    000123,groups.left_arm,correct
    000123,interactions.left_arm|torso,wrong

`id` is the motion id, `field` is `groups.<group>` or `interactions.<pair key>`, and
`verdict` is the reviewer's category (any labels, e.g. correct / partly / wrong; compared
case-insensitively). `kinmo annotate sample` writes such a sheet with an empty verdict
column and the text to judge; two reviewers fill in copies, and `kinmo annotate
agreement A.csv B.csv` reports kappa over the rows both judged.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path

import numpy as np

from kinmo_core.errors import KinmoInputError
from kinmo_core.fileio import atomic_output
from kinmo_core.motion.kinematic import GROUPS, PAIRS

REQUIRED_COLUMNS: tuple[str, ...] = ("id", "field", "verdict")
FIELDS: tuple[str, ...] = tuple(f"groups.{g}" for g in GROUPS) + tuple(f"interactions.{p}" for p in PAIRS)


def read_verdicts(path: str | os.PathLike) -> dict[tuple[str, str], str]:
    """Return {(id, field): verdict} from a review CSV; rows with an empty verdict are skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise KinmoInputError(f"review sheet not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise KinmoInputError(f"cannot read review sheet {path}: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise KinmoInputError(
            f"{path}: review sheet needs the columns id, field, verdict (missing {', '.join(missing)})"
        )
    reader.fieldnames = header
    out: dict[tuple[str, str], str] = {}
    for line, row in enumerate(reader, start=2):
        mid, field, verdict = (str(row.get(c) or "").strip() for c in REQUIRED_COLUMNS)
        if not mid and not field:
            continue
        if field not in FIELDS:
            raise KinmoInputError(
                f"{path}:{line}: unknown field {field!r} (expected groups.<group> or interactions.<pair>)"
            )
        if not verdict:
            continue
        key = (mid, field)
        if key in out:
            raise KinmoInputError(f"{path}:{line}: duplicate row for {mid} {field}")
        out[key] = verdict.lower()
    return out


def cohen_kappa(a: list[str], b: list[str]) -> dict:
    """Return Cohen's kappa, observed and chance agreement, and the confusion table of two label lists."""
    if len(a) != len(b):
        raise KinmoInputError("the two reviewers must judge the same number of items")
    if not a:
        raise KinmoInputError("the two review sheets have no judged row in common")
    labels = sorted(set(a) | set(b))
    idx = {lab: i for i, lab in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for x, y in zip(a, b, strict=True):
        table[idx[x], idx[y]] += 1
    n = table.sum()
    po = float(np.trace(table) / n)
    pe = float((table.sum(1) * table.sum(0)).sum() / (n * n))
    # Both reviewers used one identical label throughout: agreement is perfect, kappa defined as 1.
    kappa = 1.0 if pe >= 1.0 else (po - pe) / (1.0 - pe)
    return {"kappa": kappa, "observed": po, "expected": pe, "items": int(n), "labels": labels, "table": table.tolist()}


def agreement(path_a: str | os.PathLike, path_b: str | os.PathLike) -> dict:
    """Return kappa (and details) between two review sheets over the rows both reviewers judged."""
    va, vb = read_verdicts(path_a), read_verdicts(path_b)
    common = sorted(set(va) & set(vb))
    result = cohen_kappa([va[k] for k in common], [vb[k] for k in common])
    result["only_in_a"] = len(set(va) - set(vb))
    result["only_in_b"] = len(set(vb) - set(va))
    result["counts_a"] = dict(Counter(va[k] for k in common))
    result["counts_b"] = dict(Counter(vb[k] for k in common))
    return result


def sample_rows(annotations: dict, n: int, seed: int = 0, fields: str = "all") -> list[dict[str, str]]:
    """Draw n (motion, field) rows at random (seeded) from an annotation file's motions for review."""
    motions = annotations.get("motions", {})
    if not motions:
        raise KinmoInputError("the annotation file holds no annotated motion to sample")
    if n < 1:
        raise KinmoInputError(f"sample size must be at least 1, got {n}")
    pool_fields = {"all": FIELDS, "groups": FIELDS[: len(GROUPS)], "interactions": FIELDS[len(GROUPS) :]}.get(fields)
    if pool_fields is None:
        raise KinmoInputError(f"unknown field set {fields!r}; choose all, groups or interactions")
    pool = [(mid, f) for mid in sorted(motions) for f in pool_fields]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
    rows = []
    for i in sorted(pick.tolist()):
        mid, f = pool[i]
        part, key = f.split(".", 1)
        rec = motions[mid]
        rows.append(
            {
                "id": mid,
                "field": f,
                "verdict": "",
                "text": rec[part][key],
                "captions": " | ".join(rec.get("captions", [])),
            }
        )
    return rows


def write_review_sheet(rows: list[dict[str, str]], path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a review CSV atomically; refuse to replace an existing file unless overwrite."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise KinmoInputError(f"{path} exists; not overwriting it (pass --overwrite)")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["id", "field", "verdict", "text", "captions"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return path
