"""The 200 held-out Reasoner prompts of issue 21: well formed, never among the training captions, judged with the
hand-written prompts' rules plus invented actions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np

from kinmo_core.data.layout import mirrored_captions
from kinmo_core.data.mocap import BANDAI_CONTENT, BANDAI_STYLE, bandai_captions
from kinmo_core.data.synth import synth_captions, synthesize
from kinmo_core.eval.reasoner_heldout import HELDOUT_CATEGORIES, REASONER_HELDOUT_PROMPTS
from kinmo_core.eval.reasoner_prompts import REASONER_PROMPTS, evaluate_prompts, invented_actions
from kinmo_core.motion.kinematic import GROUPS

ROOT = Path(__file__).resolve().parents[1]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def test_two_hundred_new_prompts_in_ten_categories():
    assert len(REASONER_HELDOUT_PROMPTS) == 200 and len(HELDOUT_CATEGORIES) == 10
    texts = {_norm(p.text) for p in REASONER_HELDOUT_PROMPTS}
    assert len(texts) == 200
    assert not texts & {_norm(p.text) for p in REASONER_PROMPTS}  # new, not the 100 hand-written ones
    for p in REASONER_HELDOUT_PROMPTS:
        assert set(p.expected) == set(GROUPS) and all(p.expected[g] for g in GROUPS)
    # the kinds of wording the issue asks for are there
    joined = " ".join(texts)
    for word in ("while", "knee", "up", "down", "sneak", "tiptoe", "stumble", "stagger"):
        assert word in joined, word


def test_held_out_prompts_are_not_training_captions():
    held = {_norm(p.text) for p in REASONER_HELDOUT_PROMPTS}
    # the synthetic corpus: the captions `kinmo corpus synth` writes (1,000 motions spread over a 20k corpus, with
    # their mirrors), computed without rendering
    synth = [c for i in range(0, 20000, 20) for c in synth_captions(0, i)]
    assert synth_captions(0, 40) == synthesize(0, 40).captions
    # the Bandai-Namco imports: every content x style, several draws
    bandai = [c for content in BANDAI_CONTENT for style in BANDAI_STYLE for k in range(4)
              for c in bandai_captions(content, style, np.random.default_rng([0, k]))]
    captions = synth + bandai
    captions += mirrored_captions(captions)
    # corpora built on this machine (not in CI): every caption a trainer would read
    for texts in sorted(ROOT.glob("data/*/texts")):
        captions += [line.split("#", 1)[0] for f in texts.glob("*.txt") for line in f.read_text().splitlines()]
    assert not held & {_norm(c) for c in captions}


def test_no_trainer_or_corpus_builder_reads_the_held_out_prompts():
    # training code may import the module only inside an `evaluate` function; corpus code never
    for path in sorted((ROOT / "training").glob("*.py")) + sorted((ROOT / "kinmo_core" / "data").glob("*.py")):
        tree = ast.parse(path.read_text())
        allowed: set[int] = set()
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and fn.name == "evaluate" and path.parent.name == "training":
                allowed |= {id(n) for n in ast.walk(fn)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and "reasoner_heldout" in (node.module or ""):
                assert id(node) in allowed, f"{path.name} imports the held-out prompts outside evaluation"
            if isinstance(node, ast.Import) and any("reasoner_heldout" in a.name for a in node.names):
                raise AssertionError(f"{path.name} imports the held-out prompts")


def test_invented_actions():
    exp = {"torso": ("bow",), "neck": ("neutral",), "left_arm": ("wave",), "right_arm": ("still",),
           "left_leg": ("still",), "right_leg": ("still",)}
    good = {"torso": "The upper body leans forward in a bow.", "neck": "The head stays level.",
            "left_arm": "The left arm waves.", "right_arm": "The right arm hangs still.",
            "left_leg": "The left leg stands still.", "right_leg": "The right leg stays motionless."}
    assert invented_actions(good, exp) == []  # "leans forward" is a bow word: no lean invented
    bad = {**good, "left_arm": "The left arm waves, then makes a throw.", "right_leg": "The right leg kicks out."}
    assert invented_actions(bad, exp) == [("left_arm", "throw"), ("right_leg", "kick")]
    swapped = {**good, "left_arm": "The left arm hangs still.", "right_arm": "The right arm waves."}
    assert invented_actions(swapped, exp) == []  # a side error, not an invention


class _Scripted:
    """A stand-in reasoner that answers each prompt with fixed descriptions (for the scoring code only)."""

    def __init__(self, answers: dict[str, dict[str, str]]):
        self.answers = answers

    def reason(self, texts: list[str], seed: int = 0) -> list[dict]:
        return [{"groups": self.answers[t]} for t in texts]


def test_evaluate_prompts_reports_categories_and_invented_rate():
    still = {"torso": "The torso stays upright.", "neck": "The head stays neutral.",
             "left_arm": "The left arm hangs still.", "right_arm": "The right arm hangs still.",
             "left_leg": "The left leg stands still.", "right_leg": "The right leg stands still."}
    cats = {k: HELDOUT_CATEGORIES[k][:2] for k in ("standing still", "knee raises")}
    prompts = tuple(p for ps in cats.values() for p in ps)
    answers = {p.text: dict(still) for p in prompts}
    knee = cats["knee raises"][0]  # "a person lifts the left knee up to the chest"
    answers[knee.text] = {**still, "left_leg": "The left leg kneels on the left knee."}
    rep = evaluate_prompts(_Scripted(answers), prompts, categories=cats)
    assert rep["per_category"]["standing still"]["all_correct_rate"] == 1.0
    assert rep["per_category"]["knee raises"]["invented_rate"] == 0.5
    assert rep["invented_rate"] == 0.25 and rep["invented"][0]["text"] == knee.text
    # misses: the kneel on the left knee raise, the right leg left standing on the right knee raise
    assert rep["per_group"]["left_leg"]["correct"] == 3 and rep["per_group"]["right_leg"]["correct"] == 3
