"""The Motion Reasoner: validation and repair, odd captions, training and loading both backends, the CLI."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import pytest

from kinmo_core.errors import KinmoModelError
from kinmo_core.eval.reasoner_prompts import REASONER_PROMPTS, judge_groups, score_caption
from kinmo_core.motion.kinematic import GROUPS, PAIR_GROUPS, PAIRS
from kinmo_core.reasoner import (
    FIELDS,
    MotionReasoner,
    caption_problem,
    field_is_valid,
    neutral_descriptions,
    parse_output,
    tidy_text,
    validate_descriptions,
)

# ------------------------------------------------------------------------------------------------ a tiny corpus

_ARM = {"still": "hangs relaxed at the side", "swing": "swings naturally with the gait", "wave": "waves"}
_LEG = {"still": "stands still", "walk": "walks forward", "squat": "squats down"}
_NAMES = {"torso": "the torso", "neck": "the head", "left_arm": "the left arm", "right_arm": "the right arm",
          "left_leg": "the left leg", "right_leg": "the right leg"}


def _descriptions(legs: str, left: str, right: str) -> dict:
    verbs = {"torso": "stays upright", "neck": "stays neutral", "left_arm": _ARM[left], "right_arm": _ARM[right],
             "left_leg": _LEG[legs], "right_leg": _LEG[legs]}
    groups = {g: f"{_NAMES[g].capitalize()} {verbs[g]}." for g in GROUPS}
    inter = {}
    for p in PAIRS:
        a, b = PAIR_GROUPS[p]
        inter[p] = f"{_NAMES[a].capitalize()} {verbs[a]} while {_NAMES[b]} {verbs[b]}."
    return {"groups": groups, "interactions": inter}


_MOTIONS = {
    "000000": (["a person walks forward", "someone walks ahead"], ("walk", "swing", "swing")),
    "000001": (["a person waves the left hand", "someone waves with the left hand"], ("still", "wave", "still")),
    "000002": (["a person waves the right hand", "someone waves with the right hand"], ("still", "still", "wave")),
    "000003": (["a person squats down", "someone squats"], ("squat", "still", "still")),
}


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    motions = {mid: {"captions": caps, **_descriptions(*acts)} for mid, (caps, acts) in _MOTIONS.items()}
    ann = {"format_version": 1, "kind": "kinmo-annotations", "dataset": str(root), "motions": motions}
    (root / "annotations.json").write_text(json.dumps(ann))
    (root / "train.txt").write_text("\n".join(_MOTIONS) + "\n")
    (root / "val.txt").write_text("000001\n000003\n")
    return root


@pytest.fixture(scope="module")
def trained(tiny_corpus, tmp_path_factory) -> Path:
    from training.train_reasoner import main

    out = tmp_path_factory.mktemp("reasoner")
    rc = main(["--data", str(tiny_corpus), "--out", str(out), "--steps", "120", "--batch", "16", "--lr", "4e-3",
               "--d-model", "48", "--layers", "1", "--heads", "2", "--max-len", "24", "--no-bf16", "--overwrite",
               "--cache-dir", str(out.parent / "reasoner-cache")])
    assert rc == 0
    return out


# ------------------------------------------------------------------------------------------------ checks


def test_field_validation() -> None:
    assert field_is_valid("left_arm", "The left arm waves above the head.")
    assert field_is_valid("left_leg", "The left leg kneels, the right foot in front of the left foot.")
    assert not field_is_valid("left_arm", "The right arm waves.")
    assert not field_is_valid("left_arm", "The right hand waves toward the left arm.")
    assert not field_is_valid("right_leg", "")
    assert not field_is_valid("torso", "..........")
    assert not field_is_valid("left_leg", "The left leg is is forward.")
    assert field_is_valid("left_arm|torso", "The left arm waves while the torso stays upright.")
    assert not field_is_valid("left_arm|torso", "The left arm waves.")
    assert field_is_valid("left_arm|right_arm", "The hands meet in front of the chest as the arms clap.")
    assert validate_descriptions(neutral_descriptions()) == []
    assert validate_descriptions({"groups": {}}) == list(FIELDS)
    assert validate_descriptions(None) == list(FIELDS)


def test_tidy_and_parse() -> None:
    assert tidy_text("the person ' s left arm waves , then rests") == "The person's left arm waves, then rests."
    assert tidy_text("  ") == ""
    good = json.dumps({"groups": {"torso": "The torso bows."}, "interactions": {"neck|torso": "x"}})
    assert parse_output("noise " + good + " trailing") == {"torso": "The torso bows.", "neck|torso": "x"}
    cut = '{"groups": {"torso": "The torso bows.", "neck": "The head no'
    assert parse_output(cut) == {"torso": "The torso bows."}
    assert parse_output("complete nonsense") == {}


def test_caption_problems() -> None:
    assert caption_problem("a person walks forward") is None
    assert caption_problem("someone dances happily") is None
    for bad in ["", "   ", "12345 !!!", "asdkjh qwpoeiru zxcmvn", "un homme marche vers l'avant lentement",
                "一个人在走路", "the quick brown fox"]:
        assert caption_problem(bad) is not None, bad


class _FakeBackend:
    """Returns scripted fields per call: lets the tests drive validation and repair."""

    def __init__(self, scripts: list) -> None:
        self.scripts = scripts
        self.calls: list[tuple[list[str], int, float]] = []

    def generate(self, texts, seed=0, temperature=0.0, fields=None):
        self.calls.append((list(texts), seed, temperature, fields))
        make = self.scripts[min(len(self.calls) - 1, len(self.scripts) - 1)]
        return [make(t) for t in texts]


def _good(text: str) -> dict:
    d = _descriptions("walk", "swing", "swing")
    return {**d["groups"], **d["interactions"]}


def test_invalid_fields_are_regenerated_then_replaced(caplog) -> None:
    def broken(text: str) -> dict:
        f = _good(text)
        f["left_arm"] = "The right arm waves."  # the mirrored limb
        del f["neck|torso"]
        f["left_leg"] = ""
        return f

    def half_fixed(text: str) -> dict:
        f = broken(text)
        f["left_arm"] = "The left arm waves hello."
        return f

    backend = _FakeBackend([broken, half_fixed, broken])
    # the captions give the wave the repaired field names (an action no caption gives would rest instead)
    r = MotionReasoner(backend).reason(["a person walks and waves hello", "someone walks and waves"], seed=5)
    assert all(validate_descriptions(x) == [] for x in r)
    assert r[0]["groups"]["left_arm"] == "The left arm waves hello."
    assert r[0]["groups"]["left_leg"] == neutral_descriptions()["groups"]["left_leg"]
    assert r[1]["interactions"]["neck|torso"] == neutral_descriptions()["interactions"]["neck|torso"]
    assert r[0]["groups"]["right_arm"] == _good("")["right_arm"]
    assert len(backend.calls) == 4  # first pass + three repair rounds
    assert [c[1] for c in backend.calls] == [5, 5 + 7919, 5 + 2 * 7919, 5 + 3 * 7919]
    assert all(c[2] > 0 for c in backend.calls[1:])  # repairs sample
    assert backend.calls[0][3] is None and set(backend.calls[1][3]) == {"left_arm", "left_leg", "neck|torso"}
    assert set(backend.calls[2][3]) == {"left_leg", "neck|torso"}  # only what is still invalid


def test_odd_captions_warn_and_get_neutral_descriptions() -> None:
    backend = _FakeBackend([_good])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = MotionReasoner(backend).reason(["", "qwxz vbnm plkj", "一个人在走路", "a person walks"])
    assert len(caught) == 3
    assert r[0] == r[1] == r[2] == neutral_descriptions()
    assert r[3]["groups"]["left_arm"] == _good("")["left_arm"]
    assert backend.calls[0][0] == ["a person walks"]


def test_judges() -> None:
    assert len(REASONER_PROMPTS) == 100 and len({p.text for p in REASONER_PROMPTS}) == 100
    p = next(x for x in REASONER_PROMPTS if x.text == "a person stands still and waves the left hand")
    good = {"torso": "The torso stays upright.", "neck": "The head stays neutral.", "left_arm": "The left arm waves.",
            "right_arm": "The right arm hangs relaxed.", "left_leg": "The left leg stands still.",
            "right_leg": "The right leg stands still."}
    assert all(v["correct"] for v in judge_groups(good, p.expected).values())
    swapped = {**good, "left_arm": "The left arm hangs relaxed.", "right_arm": "The right arm waves."}
    j = judge_groups(swapped, p.expected)
    assert not j["left_arm"]["correct"] and j["right_arm"]["side_error"]
    gt = {"left_arm": [{"action": "wave", "start": 0, "end": 60, "side": "left"}],
          "right_arm": [{"action": "still", "start": 0, "end": 60, "side": "right"}],
          "left_leg": [{"action": "still", "start": 0, "end": 60}], "right_leg": [{"action": "still", "start": 0,
                                                                                  "end": 60}],
          "torso": [{"action": "upright", "start": 0, "end": 60}], "neck": [{"action": "neutral", "start": 0,
                                                                             "end": 60}]}
    s = score_caption("a person waves the left hand", good, gt)
    assert all(sp["correct"] for g in GROUPS for sp in s[g]["spans"])
    assert s["right_arm"]["side_chances"] == 1 and s["right_arm"]["side_errors"] == 0
    s = score_caption("a person waves the left hand", swapped, gt)
    assert s["right_arm"]["side_errors"] == 1 and not s["left_arm"]["spans"][0]["correct"]
    # A caption that says nothing of the arms cannot decide a wave: that span is not scored.
    assert score_caption("a person stands", good, gt)["left_arm"]["spans"] == []


# ------------------------------------------------------------------------------------------------ default model


def test_default_model_trains_saves_and_reasons(trained) -> None:
    assert (trained / "vocab.json").is_file() and (trained / "config.json").is_file()
    rows = [json.loads(x) for x in (trained / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert losses[-1] < 0.2 * losses[0] and "val_loss" in rows[-1]
    reasoner = MotionReasoner.from_pretrained(trained)
    texts = ["a person waves the left hand", "a person waves the right hand", "a person walks forward"]
    out = reasoner.reason(texts)
    assert all(validate_descriptions(r) == [] for r in out)
    # Which side waves takes longer training than a test affords (the dev-corpus evaluation measures it).
    assert "wave" in out[0]["groups"]["left_arm"].lower() + out[0]["groups"]["right_arm"].lower()
    assert "stands still" in out[0]["groups"]["left_leg"].lower()
    assert "swing" in out[2]["groups"]["left_arm"].lower() and "walk" in out[2]["groups"]["left_leg"].lower()
    assert "squat" in reasoner.reason("someone squats")[0]["groups"]["right_leg"].lower()
    assert reasoner.reason(texts, seed=3, temperature=1.0) == reasoner.reason(texts, seed=3, temperature=1.0)
    assert reasoner.reason(texts[:1])[0] == out[0]  # batching does not change greedy output


def test_training_refuses_to_overwrite(trained, tiny_corpus) -> None:
    from training.train_reasoner import main

    assert main(["--data", str(tiny_corpus), "--out", str(trained), "--steps", "1"]) == 2


def test_loading_errors(tmp_path) -> None:
    with pytest.raises(KinmoModelError):
        MotionReasoner.from_pretrained(tmp_path / "missing")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(KinmoModelError):
        MotionReasoner.from_pretrained(tmp_path)


def test_cli(trained, capsys) -> None:
    from kinmo_core.cli.main import main

    assert main(["reason", "--model", str(trained), "--json", "a person waves the left hand", ""]) == 0
    cap = capsys.readouterr()
    items = json.loads(cap.out)
    assert len(items) == 2 and set(items[0]["groups"]) == set(GROUPS) and set(items[0]["interactions"]) == set(PAIRS)
    assert "warning:" in cap.err
    assert main(["reason", "--model", str(trained), "a person walks forward"]) == 0
    assert "Left Arm:" in capsys.readouterr().out
    assert main(["reason", "--model", str(trained / "nope"), "a person walks"]) == 2
    assert main(["reason", "--model", str(trained), "--temperature", "-1", "a person walks"]) == 2


# ------------------------------------------------------------------------------------------------ bring your own LLM


@pytest.fixture(scope="module")
def tiny_causal_lm(tmp_path_factory) -> Path:
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from kinmo_core.text.encoders import default_model_path

    folder = tmp_path_factory.mktemp("tiny-lm")
    tok = AutoTokenizer.from_pretrained(str(default_model_path()), local_files_only=True)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=32, n_layer=1, n_head=2)
    GPT2LMHeadModel(cfg).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize("lora", [False, True])
def test_causal_lm_backend_end_to_end(tiny_corpus, tiny_causal_lm, tmp_path, lora, caplog) -> None:
    from training.train_reasoner import main

    out = tmp_path / "llm"
    args = ["--data", str(tiny_corpus), "--out", str(out), "--base-model", str(tiny_causal_lm), "--steps", "2",
            "--batch", "2", "--max-new-tokens", "12", "--no-bf16"] + (["--lora"] if lora else [])
    assert main(args) == 0
    assert (out / "kinmo_reasoner.json").is_file()
    assert (out / "adapter_config.json").is_file() == lora
    reasoner = MotionReasoner.from_pretrained(out)
    with caplog.at_level(logging.WARNING):
        r = reasoner.reason(["a person waves the left hand"], seed=1, temperature=0.7)
    # A random tiny LM writes nothing usable: every field is repaired, then neutral, and still complete.
    assert validate_descriptions(r[0]) == []
    assert r[0] == neutral_descriptions()


def test_fields_whose_action_the_caption_leaves_out_are_not_trained() -> None:
    from training.train_reasoner import field_mask, unspoken_groups

    truth = {"groups": {
        "left_arm": [{"action": "swing"}, {"action": "wave"}],
        "right_arm": [{"action": "swing"}],
        "left_leg": [{"action": "walk"}], "right_leg": [{"action": "walk"}],
        "torso": [{"action": "upright"}], "neck": [{"action": "nod"}],
    }}
    said = unspoken_groups("a person walks forward, waving the left hand and nodding", truth)
    assert said == set()
    unsaid = unspoken_groups("a person walks forward", truth)
    assert unsaid == {"left_arm", "neck"}
    mask = dict(zip(FIELDS, field_mask(unsaid), strict=True))
    assert not mask["left_arm"] and not mask["neck"] and not mask["left_arm|torso"] and not mask["left_arm|neck"]
    assert mask["right_arm"] and mask["left_leg"] and mask["right_leg|torso"] and mask["torso"]
    # No hidden ground truth (e.g. converted mocap): every field is trained.
    assert all(field_mask(unspoken_groups("a person walks", {})))


@pytest.mark.parametrize("caption, expected", [
    ("a person waves with the left hand", {"left_arm": {"wave"}}),
    ("while walking, the woman waves her left hand at a friend",
     {"left_arm": {"wave"}, "left_leg": {"walk"}, "right_leg": {"walk"}}),
    ("walking along, he lifts his right arm above his head",
     {"right_arm": {"raise"}, "left_leg": {"walk"}, "right_leg": {"walk"}}),
    ("he claps his hands", {"left_arm": {"clap"}, "right_arm": {"clap"}}),
    ("she strolls with her left hand on her hip", {"left_arm": {"hands_on_hips"}, "left_leg": {"walk"},
                                                  "right_leg": {"walk"}}),
    ("a person kicks twice", {}),  # the side is left to the model
    ("a man walks in a curve to the left", {"left_leg": {"walk"}, "right_leg": {"walk"}}),
    ("someone bows and nods", {"torso": {"bow"}, "neck": {"nod"}}),
    ("a man kicks to the side with the left leg", {"left_leg": {"kick"}}),  # a direction, not a side step
    ("someone steps to the side", {"left_leg": {"walk", "side_step"}, "right_leg": {"walk", "side_step"}}),
])
def test_caption_plan_assigns_actions_to_sides(caption, expected) -> None:
    from kinmo_core.reasoner import caption_plan

    assert {g: a for g, a in caption_plan(caption).items() if a} == expected


def test_fields_that_do_not_follow_the_caption_are_rewritten() -> None:
    from kinmo_core.reasoner import caption_plan, follows_plan

    plan = caption_plan("a person waves with the left hand")
    assert follows_plan("left_arm", "The left arm waves above the head.", plan)
    assert not follows_plan("left_arm", "The left arm hangs motionless.", plan)
    assert not follows_plan("right_arm", "The right arm waves.", plan)  # the wave belongs to the left arm
    assert follows_plan("right_arm", "The right arm hangs motionless.", plan)

    class Backend:
        """Writes a still left arm first; only a repair (another seed and temperature) makes it wave."""

        def __init__(self) -> None:
            self.calls = 0

        def generate(self, texts, seed=0, temperature=0.0, fields=None):
            self.calls += 1
            base = neutral_descriptions()
            row = {**base["groups"], **base["interactions"]}
            if self.calls > 1:
                row["left_arm"] = "The left arm waves at head height."
            return [{f: row[f] for f in (fields or FIELDS)} for _ in texts]

    backend = Backend()
    out = MotionReasoner(backend).reason(["a person waves with the left hand"])[0]
    assert out["groups"]["left_arm"] == "The left arm waves at head height." and backend.calls == 2

    class Stubborn:
        def generate(self, texts, seed=0, temperature=0.0, fields=None):
            base = neutral_descriptions()
            row = {**base["groups"], **base["interactions"], "left_arm": "The left arm stays down by the hip."}
            return [{f: row[f] for f in (fields or FIELDS)} for _ in texts]

    # When no try follows the caption, the model's own valid text is kept rather than a neutral one.
    out = MotionReasoner(Stubborn()).reason(["a person waves with the left hand"])[0]
    assert out["groups"]["left_arm"] == "The left arm stays down by the hip."


def test_a_mirrored_body_is_mirrored_back_without_regenerating() -> None:
    class Mirrored:
        """Puts the caption's left-leg kick on the right leg, consistently in groups and interactions."""

        def __init__(self) -> None:
            self.calls = 0

        def generate(self, texts, seed=0, temperature=0.0, fields=None):
            self.calls += 1
            base = neutral_descriptions()
            row = {**base["groups"], **base["interactions"], "right_leg": "The right leg kicks out to the front.",
                   "left_leg": "The left leg stands still, bearing weight.",
                   "left_leg|right_leg": "The right leg kicks while the left leg holds the weight."}
            return [{f: row[f] for f in (fields or FIELDS)} for _ in texts]

    backend = Mirrored()
    out = MotionReasoner(backend).reason(["a man kicks with the left leg"])[0]
    assert backend.calls == 1  # mirroring is free: no repair round
    assert out["groups"]["left_leg"] == "The left leg kicks out to the front."
    assert out["groups"]["right_leg"] == "The right leg stands still, bearing weight."
    assert out["interactions"]["left_leg|right_leg"] == "The left leg kicks while the right leg holds the weight."
    assert validate_descriptions(out) == []


def test_a_point_may_be_described_as_the_reach_the_joints_show() -> None:
    from kinmo_core.reasoner import caption_plan, follows_plan

    plan = caption_plan("someone points forward with the right hand")
    assert follows_plan("right_arm", "The right arm reaches out in front.", plan)
    assert not follows_plan("left_arm", "The left arm reaches out in front.", plan)  # still the right side's
    assert not follows_plan("right_arm", "The right arm hangs motionless.", plan)


def test_side_errors_count_only_where_the_caption_gives_the_side() -> None:
    gt = {"left_leg": [{"action": "kick", "start": 0, "end": 40}], "right_leg": [{"action": "still", "start": 0,
                                                                                  "end": 40}]}
    swapped = {"left_leg": "The left leg stands still.", "right_leg": "The right leg kicks out."}
    told = score_caption("a man kicks with the left leg", swapped, gt)
    assert told["right_leg"]["side_chances"] == 1 and told["right_leg"]["side_errors"] == 1
    open_side = score_caption("a man kicks twice", swapped, gt)
    assert open_side["right_leg"]["side_chances"] == 0
    other_part = score_caption("a man kicks while raising the right arm", swapped, gt)
    assert other_part["right_leg"]["side_chances"] == 0
    right = {"left_leg": "The left leg kicks out.", "right_leg": "The right leg stands still."}
    assert score_caption("a man kicks with the left leg", right, gt)["right_leg"]["side_errors"] == 0


def test_a_phrase_handing_the_other_sides_action_over_is_dropped_as_a_last_resort() -> None:
    from kinmo_core.reasoner import caption_plan, drop_other_side, follows_plan

    plan = caption_plan("a person lunges forward with the right leg, then hops on the right leg.")
    text = "The person's left leg lunges with the right foot forward, after that it hops on the spot on its own."
    assert not follows_plan("left_leg", text, plan)  # the hop is the right leg's
    trimmed = drop_other_side("left_leg", text, plan)
    assert trimmed == "The person's left leg lunges with the right foot forward."  # a lunge takes both legs
    assert follows_plan("left_leg", trimmed, plan)
    assert drop_other_side("left_leg", "The left leg hops on the spot, then stands still.", plan) == \
        "The left leg stands still."
    assert drop_other_side("left_leg", "The left leg hops.", plan) is None

    class Stubborn:
        def generate(self, texts, seed=0, temperature=0.0, fields=None):
            base = neutral_descriptions()
            row = {**base["groups"], **base["interactions"], "left_leg": text,
                   "right_leg": "The right leg lunges with the right foot forward, and then hops on the spot."}
            return [{f: row[f] for f in (fields or FIELDS)} for _ in texts]

    out = MotionReasoner(Stubborn()).reason(["a person lunges forward with the right leg, then hops on the right leg."])
    assert out[0]["groups"]["left_leg"] == trimmed
