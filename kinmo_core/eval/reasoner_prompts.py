"""Evaluation of the Motion Reasoner: 100 hand-written prompts with their expected per-group actions, and corpus
scoring against a synthetic corpus's hidden ground truth.

The prompts are worded unlike the corpus grammar (other verbs, subjects, word order, context, side named last). Each
lists, for all six groups, the actions a correct description may name (`kinmo_core.data.actions` labels). Groups the
prompt says nothing about get the natural behaviour of the action: arms swing with a gait and hang still otherwise,
the torso stays upright, the head neutral. A group is judged correct when its description names one of its expected
actions and does not name an action that only the mirrored limb performs (a side error).

Corpus scoring (`evaluate_corpus`) asks the reasoner for every caption of a split and scores the group descriptions
with the annotation checks (`kinmo_core.annotate.evaluate.span_correct`), but only on what the caption determines:
captions are coarse on purpose, so a ground-truth action the caption does not name cannot be inferred. A moving
span counts when the caption names its action; a still span counts when the caption names every moving action of
the group (and, for arms, of both legs, which decide between hanging and swinging).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

from kinmo_core.data.actions import (
    ACTION_WORDS,
    GROUP_ACTIONS,
    IMPLIED_ACTIONS,
    SAME_POSE,
    STILL_ACTIONS,
    TWO_LEGGED,
    action_spans,
    mentioned_actions,
    mentions_action,
)
from kinmo_core.motion.kinematic import GROUPS, MIRROR_GROUP, PAIRS
from kinmo_core.motion.skeleton import FPS

QUIET_ACTIONS: frozenset[str] = STILL_ACTIONS | {"swing"}
"""Actions a caption leaves implicit: the natural state of a group."""

GAITS: frozenset[str] = frozenset({"walk", "jog", "run", "march"})
SIDED_GROUPS: tuple[str, ...] = ("left_arm", "right_arm", "left_leg", "right_leg")
class ReasonerPrompt(NamedTuple):
    """A hand-written caption and the actions each group's description may name."""

    text: str
    expected: dict[str, tuple[str, ...]]
    sides: dict[str, str]


def _p(text: str, legs: str | tuple[str, ...] = "still", *, arms: str | tuple[str, ...] | None = None,
       left_arm: str | tuple[str, ...] | None = None, right_arm: str | tuple[str, ...] | None = None,
       left_leg: str | tuple[str, ...] | None = None, right_leg: str | tuple[str, ...] | None = None,
       torso: str | tuple[str, ...] = "upright", neck: str | tuple[str, ...] = "neutral",
       sides: dict[str, str] | None = None) -> ReasonerPrompt:
    def tup(v) -> tuple[str, ...]:
        return (v,) if isinstance(v, str) else tuple(v)

    legs_t = tup(legs)
    natural = "swing" if set(legs_t) & GAITS else "still"
    exp = {
        "torso": tup(torso),
        "neck": tup(neck),
        "left_arm": tup(left_arm or arms or natural),
        "right_arm": tup(right_arm or arms or natural),
        "left_leg": tup(left_leg or legs_t),
        "right_leg": tup(right_leg or legs_t),
    }
    for g, acts in exp.items():
        for a in acts:
            if a not in GROUP_ACTIONS[g]:
                raise ValueError(f"{text!r}: {a} is not a {g} action")
    return ReasonerPrompt(text, exp, dict(sides or {}))


REASONER_PROMPTS: tuple[ReasonerPrompt, ...] = (
    # ---------------------------------------------------------------- gaits, arms implied
    _p("a man strolls across the room", "walk"),
    _p("the woman is walking slowly down a corridor", "walk"),
    _p("person walking in a straight line at an easy pace", "walk"),
    _p("someone takes a leisurely walk forward", "walk"),
    _p("a tired old man walks ahead", "walk"),
    _p("an athlete is jogging lightly", "jog"),
    _p("she goes for a slow jog", "jog"),
    _p("the guy trots forward at a steady rhythm", "jog"),
    _p("a sprinter dashes ahead as fast as he can", "run"),
    _p("the kid runs forward quickly", "run"),
    _p("a runner is running in a straight line", "run"),
    _p("someone marches like a soldier on parade", "march"),
    _p("the person is marching, lifting the knees high", "march"),
    # ---------------------------------------------------------------- gaits with one arm busy
    _p("while walking, the woman waves her left hand at a friend", "walk", left_arm="wave", right_arm="swing"),
    _p("a man walks forward and waves with his right hand", "walk", right_arm="wave", left_arm="swing"),
    _p("walking along, he lifts his right arm above his head", "walk", right_arm="raise", left_arm="swing"),
    _p("a person jogs and raises the left hand high", "jog", left_arm="raise", right_arm="swing"),
    _p("she strolls forward with her left hand resting on her hip", "walk", left_arm="hands_on_hips",
       right_arm="swing"),
    _p("someone walks ahead, pointing forward with the right hand", "walk", right_arm="point", left_arm="swing"),
    _p("the man marches while punching with his left fist", "march", left_arm="punch", right_arm="swing"),
    _p("walking slowly, the person keeps both hands on the hips", "walk", arms="hands_on_hips"),
    _p("a figure walks forward with arms folded across the chest", "walk", arms="cross_arms"),
    _p("he walks and claps his hands together", "walk", arms="clap"),
    _p("a woman is jogging while clapping", "jog", arms="clap"),
    # ---------------------------------------------------------------- standing, one arm
    _p("a person stands still and waves the left hand", left_arm="wave"),
    _p("the man greets someone by waving his right hand", right_arm="wave"),
    _p("a girl says hello with a wave of her left hand", left_arm="wave"),
    _p("standing in place, someone waves goodbye with the right arm", right_arm="wave"),
    _p("the figure lifts its left arm up over its head", left_arm="raise"),
    _p("a student raises her right hand to ask a question", right_arm="raise"),
    _p("with his left arm, the man reaches up toward the ceiling", left_arm=("raise", "reach")),
    _p("someone holds the right arm up high", right_arm="raise"),
    _p("a boxer throws jabs with his left fist", left_arm="punch"),
    _p("the fighter punches forward with the right hand", right_arm="punch"),
    _p("a person strikes straight ahead using the left arm", left_arm="punch"),
    _p("someone hits the air in front of them with their right fist", right_arm="punch"),
    _p("a man points to something on his left with the left hand", left_arm="point"),
    _p("the woman points ahead with her right index finger", right_arm="point"),
    _p("someone extends the left arm to grab an object in front", left_arm="reach"),
    _p("a person reaches out with the right hand as if to take something", right_arm="reach"),
    _p("the child tosses a ball with the right hand", right_arm="throw"),
    _p("a pitcher throws overhand using his left arm", left_arm="throw"),
    _p("someone puts the right hand on the hip and stands", right_arm="hands_on_hips"),
    _p("a man rests his left hand on his hip", left_arm="hands_on_hips"),
    # ---------------------------------------------------------------- standing, both arms
    _p("a person claps several times", arms="clap"),
    _p("the audience member applauds by clapping the hands", arms="clap"),
    _p("someone stands with both hands on the hips", arms="hands_on_hips"),
    _p("a woman stands with her arms crossed", arms="cross_arms"),
    _p("the man folds his arms and waits", arms="cross_arms"),
    _p("a person raises both arms over the head", arms="raise"),
    _p("someone throws both hands up in the air", arms="raise"),
    _p("a figure waves both hands wildly", arms="wave"),
    _p("a man waves with the left hand and punches with the right", left_arm="wave", right_arm="punch"),
    _p("she raises her right arm while pointing forward with the left", right_arm="raise", left_arm="point"),
    # ---------------------------------------------------------------- legs: kicks, hops, kneels, lunges
    _p("a martial artist kicks with the right leg", left_leg="still", right_leg="kick"),
    _p("someone kicks forward using the left foot", left_leg="kick", right_leg="still"),
    _p("the soccer player kicks an imaginary ball with his left leg", left_leg="kick", right_leg="still"),
    _p("a person does a high kick with the right foot", left_leg="still", right_leg="kick"),
    _p("a child hops on the left foot", left_leg="hop", right_leg="lift"),
    _p("someone hops on one leg, the right one", left_leg="lift", right_leg="hop"),
    _p("the man balances and hops on his right leg several times", left_leg="lift", right_leg="hop"),
    _p("a person kneels down on the left knee", "kneel", sides={"left_leg": "left", "right_leg": "left"}),
    _p("the woman goes down on her right knee", "kneel", sides={"left_leg": "right", "right_leg": "right"}),
    _p("a man lunges forward with the left leg", "lunge", sides={"left_leg": "left", "right_leg": "left"}),
    _p("someone steps into a deep lunge on the right leg", "lunge", sides={"left_leg": "right", "right_leg": "right"}),
    _p("a person squats down low and stands up again", "squat"),
    _p("the athlete does a few deep squats", "squat"),
    _p("someone crouches down", "squat"),
    _p("a kid jumps up and down on the spot", "jump"),
    _p("the man leaps forward with both feet", "jump"),
    _p("a person does several jumps in place", "jump"),
    _p("someone shuffles sideways to the left", "side_step"),
    _p("the dancer steps to the side a few times", "side_step"),
    # ---------------------------------------------------------------- legs plus arms
    _p("a person jumps and claps the hands overhead", "jump", arms="clap"),
    _p("the man squats while holding both arms straight out in front", "squat", arms="reach"),
    _p("someone kicks with the left leg and keeps the hands on the hips", left_leg="kick", right_leg="still",
       arms="hands_on_hips"),
    _p("a woman hops on her right foot while waving the left hand", left_leg="lift", right_leg="hop",
       left_arm="wave", right_arm="still"),
    _p("a person jumps in place with arms raised", "jump", arms="raise"),
    _p("a man kneels on his left knee and raises his right hand", "kneel", right_arm="raise", left_arm="still",
       sides={"left_leg": "left", "right_leg": "left"}),
    # ---------------------------------------------------------------- torso and head
    _p("a person bows politely", torso="bow"),
    _p("the butler bends forward at the waist in a bow", torso="bow"),
    _p("someone leans the upper body to the left", torso="lean", sides={"torso": "left"}),
    _p("a woman tilts her torso toward the right side", torso="lean", sides={"torso": "right"}),
    _p("the golfer twists his upper body to the right", torso="twist", sides={"torso": "right"}),
    _p("a person rotates the torso to the left and back", torso="twist", sides={"torso": "left"}),
    _p("someone nods in agreement", neck="nod"),
    _p("the man nods his head a few times", neck="nod"),
    _p("a woman shakes her head to say no", neck="shake"),
    _p("someone shakes the head slowly from side to side", neck="shake"),
    _p("a person turns the head and looks to the right", neck="look", sides={"neck": "right"}),
    _p("the guard glances over to his left", neck="look", sides={"neck": "left"}),
    _p("someone looks up at the sky", neck="look", sides={"neck": "up"}),
    _p("a man looks down at his feet", neck="look", sides={"neck": "down"}),
    # ---------------------------------------------------------------- mixed
    _p("a person walks forward while nodding", "walk", neck="nod"),
    _p("someone jogs along shaking the head", "jog", neck="shake"),
    _p("a man bows and then waves with his right hand", torso="bow", right_arm="wave"),
    _p("a woman leans to the right while raising her left arm", torso="lean", left_arm="raise",
       sides={"torso": "right"}),
    _p("the person marches in place and looks to the left", "march", neck="look", sides={"neck": "left"}),
    _p("someone squats and nods", "squat", neck="nod"),
    _p("a hiker walks uphill, leaning the upper body forward", "walk", torso=("bow", "lean")),
)

assert len(REASONER_PROMPTS) == 100, len(REASONER_PROMPTS)


def _names_with_side(text: str, action: str, side: str | None) -> bool:
    from kinmo_core.annotate.evaluate import span_correct

    return span_correct(text, {"action": action, "side": side})[1]


def judge_groups(groups: dict[str, str], expected: dict[str, tuple[str, ...]], sides: dict[str, str] | None = None
                 ) -> dict[str, dict]:
    """Judge six group descriptions against expected actions: {group: {correct, named, side_error}}."""
    sides = sides or {}
    out = {}
    for g in GROUPS:
        text = groups.get(g, "") or ""
        named = any(_names_with_side(text, a, sides.get(g)) for a in expected[g])
        side_error = False
        if g in SIDED_GROUPS:
            mirror_only = set(expected[MIRROR_GROUP[g]]) - set(expected[g]) - QUIET_ACTIONS
            side_error = any(mentions_action(text, a) for a in mirror_only)
        out[g] = {"named": named, "side_error": side_error, "correct": named and not side_error}
    return out


def invented_actions(groups: dict[str, str], expected: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    """Return (group, action) pairs a description names that the prompt gives to no group at all.

    Implied actions (stillness, gait swing, a hop's free leg) never count, nor do actions the joints cannot tell from
    an expected one (`SAME_POSE`). A word shared by two actions' vocabularies ("leans forward" names a bow and a
    lean) counts only for the action the prompt expects: an unexpected action is invented only where one of its
    words lies outside every expected or implied action's words. An action the prompt gives to the mirrored limb is
    a side error, not an invention."""
    given = {a for acts in expected.values() for a in acts}
    given |= {b for a in given for b in SAME_POSE.get(a, ())}
    out = []
    for g in GROUPS:
        text = groups.get(g, "") or ""
        allowed = [a for a in GROUP_ACTIONS[g] if a in given or a in IMPLIED_ACTIONS]
        covered = [sp for a in dict.fromkeys(allowed) if a in ACTION_WORDS for sp in action_spans(text, a)]
        for a in mentioned_actions(text, g):
            if a in given or a in IMPLIED_ACTIONS:
                continue
            if any(not any(c0 <= s0 < c1 or s0 <= c0 < s1 for c0, c1 in covered) for s0, s1 in action_spans(text, a)):
                out.append((g, a))
    return out


def evaluate_prompts(reasoner, prompts: tuple[ReasonerPrompt, ...] = REASONER_PROMPTS, seed: int = 0,
                     categories: dict[str, tuple[ReasonerPrompt, ...]] | None = None) -> dict:
    """Run the reasoner on hand-written prompts: per-group accuracy, side errors, invented actions, all six right.

    With `categories` ({name: prompts}, covering `prompts`) the report also gives each category's figures."""
    results = reasoner.reason([p.text for p in prompts], seed=seed)
    per_group = {g: {"correct": 0, "side_errors": 0} for g in GROUPS}
    all_ok, failures, invented = 0, [], []
    category_of = {p.text: c for c, ps in (categories or {}).items() for p in ps}
    per_cat: dict[str, dict[str, int]] = defaultdict(lambda: {"prompts": 0, "all_correct": 0, "groups_correct": 0,
                                                              "invented": 0})
    for p, r in zip(prompts, results, strict=True):
        j = judge_groups(r["groups"], p.expected, p.sides)
        for g in GROUPS:
            per_group[g]["correct"] += j[g]["correct"]
            per_group[g]["side_errors"] += j[g]["side_error"]
        ok = all(v["correct"] for v in j.values())
        inv = invented_actions(r["groups"], p.expected)
        all_ok += ok
        if inv:
            invented.append({"text": p.text, "invented": [f"{g}: {a}" for g, a in inv]})
        if not ok or inv:
            failures.append({"text": p.text, "wrong": {g: r["groups"][g] for g in GROUPS if not j[g]["correct"]},
                             "invented": [f"{g}: {a}" for g, a in inv]})
        if p.text in category_of:
            c = per_cat[category_of[p.text]]
            c["prompts"] += 1
            c["all_correct"] += ok
            c["groups_correct"] += sum(v["correct"] for v in j.values())
            c["invented"] += bool(inv)
    n = len(prompts)
    sided = sum(per_group[g]["side_errors"] for g in SIDED_GROUPS)
    out = {
        "prompts": n,
        "all_groups_correct": all_ok / n,
        "group_accuracy": sum(v["correct"] for v in per_group.values()) / (n * len(GROUPS)),
        "side_error_rate": sided / (n * len(SIDED_GROUPS)),
        "invented_rate": len(invented) / n,
        "per_group": {g: {**v, "accuracy": v["correct"] / n} for g, v in per_group.items()},
        "invented": invented,
        "failures": failures,
    }
    if categories:
        out["per_category"] = {c: {**v, "group_accuracy": v["groups_correct"] / (6 * v["prompts"]),
                                   "all_correct_rate": v["all_correct"] / v["prompts"],
                                   "invented_rate": v["invented"] / v["prompts"]}
                               for c, v in per_cat.items()}
    return out


# ------------------------------------------------------------------------------------------------ corpus scoring


def score_caption(caption: str, groups: dict[str, str], gt_groups: dict[str, list[dict]], fps: float = FPS) -> dict:
    """Score one caption's six predicted group descriptions on the ground-truth spans the caption determines."""
    from kinmo_core.annotate.evaluate import scored_spans, span_correct
    from kinmo_core.reasoner import caption_plan

    plan = caption_plan(caption)
    moving = {g: {s["action"] for s in gt_groups.get(g, []) if s["action"] not in QUIET_ACTIONS} for g in GROUPS}
    named = {g: {a for a in moving[g] if mentions_action(caption, a)} for g in GROUPS}
    complete = {g: moving[g] <= named[g] for g in GROUPS}
    out: dict[str, dict] = {}
    for g in GROUPS:
        text = groups.get(g, "") or ""
        decided = complete[g] and (not g.endswith("_arm") or (complete["left_leg"] and complete["right_leg"]))
        spans = []
        for s in scored_spans(gt_groups.get(g, []), fps):
            if (s["action"] in named[g]) if s["action"] not in QUIET_ACTIONS else decided:
                spans.append({"action": s["action"], "correct": span_correct(text, s)[1]})
        chances = errors = 0
        if g in SIDED_GROUPS:
            # A swap is only an error where the caption gives the action to the other side in so many words
            # ("kicks with the right leg", read clause by clause as the reasoner's own check does); "kicks twice"
            # leaves the side open (corpus motions then pick one at random), and in "hops while raising the left
            # arm" the side belongs to the arm.
            other = MIRROR_GROUP[g]
            for a in (named[other] & plan[other]) - plan[g] - moving[g] - TWO_LEGGED:
                chances += 1
                errors += mentions_action(text, a)
        out[g] = {"spans": spans, "side_chances": chances, "side_errors": errors}
    return out


def evaluate_corpus(reasoner, data: str | os.PathLike, annotations: str | os.PathLike | None = None,
                    split: str = "test", limit: int | None = None, seed: int = 0, batch_size: int = 32) -> dict:
    """Score the reasoner on every caption of a synthetic corpus split: action accuracy, side errors, similarity."""
    import numpy as np

    from kinmo_core.annotate.annotations import read_annotations
    from kinmo_core.annotate.evaluate import load_ground_truth
    from kinmo_core.data.layout import read_split
    from kinmo_core.text.encoders import get_sentence_encoder

    root = Path(data)
    ann = read_annotations(Path(annotations) if annotations else root / "annotations.json")["motions"]
    ids = [i for i in read_split(root, split) if i in ann][: limit or None]
    items = [(mid, cap) for mid in ids for cap in ann[mid]["captions"] if cap.strip()]
    preds = reasoner.reason([c for _, c in items], seed=seed, batch_size=batch_size)
    per_group = {g: {"spans": 0, "correct": 0, "side_chances": 0, "side_errors": 0} for g in GROUPS}
    per_action: dict[str, dict[str, int]] = defaultdict(lambda: {"spans": 0, "correct": 0})
    gts: dict[str, dict] = {}
    for (mid, cap), pred in zip(items, preds, strict=True):
        if mid not in gts:
            gts[mid] = load_ground_truth(root, mid)
        gt = gts[mid]
        res = score_caption(cap, pred["groups"], gt["groups"], gt.get("fps", FPS))
        for g, r in res.items():
            pg = per_group[g]
            pg["spans"] += len(r["spans"])
            pg["correct"] += sum(s["correct"] for s in r["spans"])
            pg["side_chances"] += r["side_chances"]
            pg["side_errors"] += r["side_errors"]
            kind = "arm" if g.endswith("_arm") else "leg" if g.endswith("_leg") else g
            for s in r["spans"]:
                per_action[f"{kind}:{s['action']}"]["spans"] += 1
                per_action[f"{kind}:{s['action']}"]["correct"] += s["correct"]
    enc = get_sentence_encoder()
    sims = {"groups": [], "interactions": []}
    for (mid, _), pred in zip(items, preds, strict=True):
        for part, keys in (("groups", GROUPS), ("interactions", PAIRS)):
            a = enc.encode([pred[part][k] for k in keys])
            b = enc.encode([ann[mid][part][k] for k in keys])
            sims[part].append(float((a * b).sum(-1).mean()))
    spans = sum(p["spans"] for p in per_group.values())
    correct = sum(p["correct"] for p in per_group.values())
    chances = sum(p["side_chances"] for p in per_group.values())
    errors = sum(p["side_errors"] for p in per_group.values())
    return {
        "split": split,
        "motions": len(ids),
        "captions": len(items),
        "scored_spans": spans,
        "action_accuracy": correct / spans if spans else 0.0,
        "side_error_rate": errors / chances if chances else 0.0,
        "side_chances": chances,
        "similarity_groups": float(np.mean(sims["groups"])) if items else 0.0,
        "similarity_interactions": float(np.mean(sims["interactions"])) if items else 0.0,
        "per_group": {g: {**p, "accuracy": p["correct"] / p["spans"] if p["spans"] else 0.0}
                      for g, p in per_group.items()},
        "per_action": {k: {**v, "accuracy": v["correct"] / v["spans"]} for k, v in sorted(per_action.items())},
    }


def format_reasoner_report(report: dict) -> str:
    """Return an evaluation report as a plain-text table."""
    lines = [f"reasoner {report.get('model', '')}"]
    c = report.get("corpus")
    if c:
        lines.append(f"corpus {c['split']}: {c['motions']} motions, {c['captions']} captions, {c['scored_spans']} "
                     f"scored spans: action accuracy {c['action_accuracy']:.1%}, side errors {c['side_error_rate']:.2%}"
                     f" of {c['side_chances']}, similarity groups {c['similarity_groups']:.3f} interactions "
                     f"{c['similarity_interactions']:.3f}")
        lines.append("  " + ", ".join(f"{g} {p['accuracy']:.1%} ({p['spans']})" for g, p in c["per_group"].items()))
        lines.append("  per action: " + ", ".join(f"{k} {v['correct']}/{v['spans']}"
                                                   for k, v in c["per_action"].items()))
    for key, name in (("prompts", "hand-written prompts"), ("heldout", "held-out prompts (issue 21)")):
        p = report.get(key)
        if not p:
            continue
        lines.append(f"{name}: {p['prompts']}, all six groups correct {p['all_groups_correct']:.1%}, "
                     f"group accuracy {p['group_accuracy']:.1%}, side errors {p['side_error_rate']:.1%}, "
                     f"invented actions in {p.get('invented_rate', 0.0):.1%} of prompts")
        lines.append("  " + ", ".join(f"{g} {v['accuracy']:.1%}" for g, v in p["per_group"].items()))
        for c, v in p.get("per_category", {}).items():
            lines.append(f"  {c}: {v['prompts']} prompts, groups {v['group_accuracy']:.1%}, all six "
                         f"{v['all_correct_rate']:.0%}, invented {v['invented_rate']:.0%}")
        for f in p["failures"][:10]:
            lines.append(f"  x {f['text']!r}: " + "; ".join(f"{g}: {t}" for g, t in f["wrong"].items())
                         + (f" [invented: {', '.join(f['invented'])}]" if f.get("invented") else ""))
    return "\n".join(lines)
