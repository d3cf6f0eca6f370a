"""Measure annotation quality against a synthetic corpus's hidden ground truth.

For every motion and group, each ground-truth action span (`ground_truth/<id>.json`, written
by the corpus synthesiser, never read by any annotator) is scored: does the group's
description name that action with the shared vocabulary (`actions.mentions_action`), and,
where the action has a side or direction that the group name does not imply (torso lean and
twist, head look, kneel and lunge), does it name that side? Brief spans are not scored (a
0.4 s pause between two actions is not something a description must mention):
moving actions count from MIN_MOVING_SECONDS, still ones from MIN_STILL_SECONDS.
Also reported: how often a description claims motion for a group that is still
throughout, and how often it names an action the group never performs.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path

from kinmo_core.data.actions import GROUP_ACTIONS, STILL_ACTIONS, mentioned_actions, mentions_action
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.kinematic import GROUPS
from kinmo_core.motion.skeleton import FPS

MIN_MOVING_SECONDS: float = 0.5
MIN_STILL_SECONDS: float = 1.0
SIDED_ACTIONS: frozenset[str] = frozenset({"lean", "twist", "look", "kneel", "lunge"})
"""Actions whose side/direction must be named: the group's own name does not imply it."""


def _merged(spans: list[dict]) -> list[dict]:
    out: list[dict] = []
    for s in sorted(spans, key=lambda s: s["start"]):
        side = _side_of(s)
        if out and out[-1]["action"] == s["action"] and out[-1]["side"] == side and out[-1]["end"] >= s["start"]:
            out[-1]["end"] = max(out[-1]["end"], s["end"])
        else:
            out.append({"start": int(s["start"]), "end": int(s["end"]), "action": s["action"], "side": side})
    return out


def _side_of(span: dict) -> str | None:
    if span["action"] not in SIDED_ACTIONS:
        return None
    params = span.get("params") or {}
    if span["action"] == "look":
        return params.get("direction") or span.get("side")
    return span.get("side") or params.get("direction")


def scored_spans(spans: list[dict], fps: float = FPS) -> list[dict]:
    """Return the ground-truth spans of one group that are long enough to score (same-action neighbours merged)."""
    out = []
    for s in _merged(spans):
        seconds = (s["end"] - s["start"]) / fps
        limit = MIN_STILL_SECONDS if s["action"] in STILL_ACTIONS else MIN_MOVING_SECONDS
        if seconds >= limit:
            out.append(s)
    return out


def span_correct(description: str, span: dict) -> tuple[bool, bool]:
    """Return (names the action, names the action and its side where one is needed) for one span."""
    named = mentions_action(description, span["action"])
    side = span.get("side")
    if not named or side is None:
        return named, named
    return named, bool(re.search(rf"\b{re.escape(side)}\b", description, re.IGNORECASE))


def score_motion(groups_text: dict[str, str], gt_groups: dict[str, list[dict]], fps: float = FPS) -> dict:
    """Score one motion's six group descriptions against its ground-truth spans."""
    out: dict[str, dict] = {}
    for g in GROUPS:
        text = groups_text.get(g, "")
        spans = scored_spans(gt_groups.get(g, []), fps)
        results = [span_correct(text, s) for s in spans]
        performed = {s["action"] for s in _merged(gt_groups.get(g, []))}
        named = set(mentioned_actions(text, g))
        still_only = all(a in STILL_ACTIONS for a in performed)
        out[g] = {
            "spans": [{**s, "named": r[0], "correct": r[1]} for s, r in zip(spans, results, strict=True)],
            "still_group": still_only,
            "claims_motion": still_only and any(a not in STILL_ACTIONS for a in named),
            "extra_actions": sorted(named - performed),
        }
    return out


def summarise(per_motion: dict[str, dict]) -> dict:
    """Aggregate per-motion scores into accuracy per group and overall, per action, and the still-claim rate."""
    per_group = {
        g: {"spans": 0, "named": 0, "correct": 0, "still_groups": 0, "still_claims": 0, "extra": 0, "group_motions": 0}
        for g in GROUPS
    }
    per_action: dict[str, dict[str, int]] = defaultdict(lambda: {"spans": 0, "correct": 0})
    for res in per_motion.values():
        for g in GROUPS:
            r, pg = res[g], per_group[g]
            pg["group_motions"] += 1
            for s in r["spans"]:
                pg["spans"] += 1
                pg["named"] += s["named"]
                pg["correct"] += s["correct"]
                key = f"{'arm' if g.endswith('_arm') else 'leg' if g.endswith('_leg') else g}:{s['action']}"
                per_action[key]["spans"] += 1
                per_action[key]["correct"] += s["correct"]
            pg["still_groups"] += r["still_group"]
            pg["still_claims"] += r["claims_motion"]
            pg["extra"] += bool(r["extra_actions"])
    total = sum(p["spans"] for p in per_group.values())
    correct = sum(p["correct"] for p in per_group.values())
    still = sum(p["still_groups"] for p in per_group.values())
    claims = sum(p["still_claims"] for p in per_group.values())
    return {
        "motions": len(per_motion),
        "overall_accuracy": correct / total if total else 0.0,
        "scored_spans": total,
        "per_group": {
            g: {
                **p,
                "accuracy": p["correct"] / p["spans"] if p["spans"] else 0.0,
                "action_named": p["named"] / p["spans"] if p["spans"] else 0.0,
                "still_claim_rate": p["still_claims"] / p["still_groups"] if p["still_groups"] else 0.0,
                "extra_action_rate": p["extra"] / p["group_motions"] if p["group_motions"] else 0.0,
            }
            for g, p in per_group.items()
        },
        "per_action": {k: {**v, "accuracy": v["correct"] / v["spans"]} for k, v in sorted(per_action.items())},
        "still_groups": still,
        "still_claim_rate": claims / still if still else 0.0,
    }


def load_ground_truth(folder: str | os.PathLike, motion_id: str) -> dict:
    """Return ground_truth/<id>.json of a synthetic corpus (evaluation only)."""
    path = Path(folder) / "ground_truth" / f"{motion_id}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KinmoInputError(f"no ground truth for {motion_id} ({path}); evaluation needs a synthetic corpus") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise KinmoInputError(f"unreadable ground truth {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("groups"), dict):
        raise KinmoInputError(f"{path}: ground truth has no 'groups' table")
    for g, spans in data["groups"].items():
        if g in GROUP_ACTIONS:
            for s in spans:
                if s.get("action") not in GROUP_ACTIONS[g]:
                    raise KinmoInputError(f"{path}: unknown action {s.get('action')!r} for {g}")
    return data


def evaluate_annotations(folder: str | os.PathLike, annotations: dict, split: str | None = None) -> dict:
    """Score an annotation file against the dataset's ground truth; return the summary report."""
    root = Path(folder)
    if not (root / "ground_truth").is_dir():
        raise KinmoInputError(f"{root} has no ground_truth/ folder: evaluation needs a synthetic corpus")
    motions = annotations.get("motions", {})
    if split is not None:
        split_file = root / f"{split}.txt"
        if not split_file.is_file():
            raise KinmoInputError(f"no split file {split_file}")
        ids = [i.strip() for i in split_file.read_text().splitlines() if i.strip()]
    else:
        ids = sorted(motions)
    ids = [i for i in ids if i in motions]
    if not ids:
        raise KinmoInputError("no annotated motion to evaluate (ids of the annotations and the split do not meet)")
    per_motion = {}
    for mid in ids:
        gt = load_ground_truth(root, mid)
        per_motion[mid] = score_motion(motions[mid]["groups"], gt["groups"], gt.get("fps", FPS))
    report = summarise(per_motion)
    report["annotator"] = annotations.get("annotator")
    report["dataset"] = str(root)
    report["split"] = split
    return report


def format_report(report: dict) -> str:
    """Return the report as a plain-text table."""
    lines = [
        f"{report['motions']} motions, {report['scored_spans']} scored action spans; "
        f"annotator {report.get('annotator')}",
        f"{'group':<10} {'spans':>6} {'named':>7} {'correct':>8} {'still claims':>13} {'extra':>7}",
    ]
    for g, p in report["per_group"].items():
        lines.append(
            f"{g:<10} {p['spans']:>6} {p['action_named']:>7.1%} {p['accuracy']:>8.1%} "
            f"{p['still_claims']:>4}/{p['still_groups']:<4} {p['still_claim_rate']:>4.0%} "
            f"{p['extra_action_rate']:>6.1%}"
        )
    lines.append(
        f"overall accuracy {report['overall_accuracy']:.1%}; descriptions claiming motion for a still "
        f"group: {report['still_claim_rate']:.1%} of {report['still_groups']}"
    )
    lines.append(
        "per action: " + ", ".join(f"{k} {v['correct']}/{v['spans']}" for k, v in report["per_action"].items())
    )
    return "\n".join(lines)


BANDAI_LABEL_PATTERN: str = r"^dataset-\d+_(?P<label>[a-z-]+)_[a-z]+_\d+$"
"""Bandai-Namco clip names, e.g. dataset-1_walk-back_angry_001: the content label is the second field."""


def label_table(annotations: dict, pattern: str = BANDAI_LABEL_PATTERN) -> dict[str, dict]:
    """Cross-tabulate content labels (parsed from motion ids) against the actions each group's description names."""
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise KinmoInputError(f"bad label pattern {pattern!r}: {exc}") from exc
    if "label" not in rx.groupindex:
        raise KinmoInputError("the label pattern needs a named group (?P<label>...)")
    table: dict[str, dict] = {}
    for mid, rec in sorted(annotations.get("motions", {}).items()):
        match = rx.search(mid)
        if not match:
            continue
        row = table.setdefault(match.group("label"), {"clips": 0, **{g: defaultdict(int) for g in GROUPS}})
        row["clips"] += 1
        for g in GROUPS:
            for action in mentioned_actions(rec["groups"][g], g) or ["(none)"]:
                row[g][action] += 1
    if not table:
        raise KinmoInputError("no motion id matches the label pattern")
    return {
        k: {"clips": v["clips"], **{g: dict(sorted(v[g].items(), key=lambda kv: -kv[1])) for g in GROUPS}}
        for k, v in table.items()
    }


def format_label_table(table: dict[str, dict], top: int = 2) -> str:
    """Return the label table as text: per label, the most often named actions of each group (count/clips)."""
    head = f"{'label':<12} {'clips':>5}  " + "  ".join(f"{g:<22}" for g in GROUPS)
    lines = [head]
    for label, row in sorted(table.items()):
        cells = []
        for g in GROUPS:
            items = list(row[g].items())[:top]
            cells.append(", ".join(f"{a} {n}" for a, n in items)[:22].ljust(22))
        lines.append(f"{label:<12} {row['clips']:>5}  " + "  ".join(cells))
    return "\n".join(lines)
