"""The annotation pipeline: posecodes, keyframes, temporal analysis, rules annotator, dataset runs, evaluation."""

from __future__ import annotations

import inspect
import json
import shutil

import numpy as np
import pytest

from kinmo_core.annotate.annotations import (
    RulesAnnotator,
    annotate_dataset,
    annotate_joints,
    read_annotations,
)
from kinmo_core.annotate.core import analyse_motion
from kinmo_core.annotate.evaluate import score_motion, scored_spans, summarise
from kinmo_core.annotate.keyframes import frame_embeddings, select_keyframes
from kinmo_core.annotate.measure import MIN_FRAMES, measure, validate_joints
from kinmo_core.annotate.posecodes import POSECODES, describe_poses
from kinmo_core.annotate.rules import actions_vocabulary_check
from kinmo_core.annotate.temporal import analyse, periodicity
from kinmo_core.cli.main import main
from kinmo_core.data.actions import GROUP_ACTIONS, mentioned_actions
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.kinematic import GROUPS, PAIRS
from kinmo_core.motion.rotations import qmul, qrot, quat_from_axis_angle
from kinmo_core.motion.skeleton import FPS, JOINT_INDEX, NUM_JOINTS, PARENTS, TARGET_OFFSETS

J = JOINT_INDEX
X, Y, Z = np.eye(3)
HEAD_REST = -72.0  # neck rotation giving the natural head carriage (18 deg ahead of the neck bone)


def _rot(axis: np.ndarray, deg) -> np.ndarray:
    deg = np.asarray(deg, dtype=np.float64)
    return quat_from_axis_angle(np.broadcast_to(axis, deg.shape + (3,)), np.radians(deg))


def fk_motion(seconds: float = 3.0, **joint_rotations) -> np.ndarray:
    """Return (T, 22, 3) joints from per-joint local rotations: name=(axis, degrees per frame or constant)."""
    T = int(seconds * FPS)
    local = np.zeros((T, NUM_JOINTS, 4))
    local[..., 0] = 1.0
    local[:, J["neck"]] = _rot(X, np.full(T, HEAD_REST))
    for name, rots in joint_rotations.items():
        q = np.tile([1.0, 0, 0, 0], (T, 1))
        for axis, deg in rots if isinstance(rots, list) else [rots]:
            q = qmul(_rot(axis, np.broadcast_to(deg, (T,))), q)
        local[:, J[name]] = qmul(local[:, J[name]], q)
    glob = np.zeros_like(local)
    pos = np.zeros((T, NUM_JOINTS, 3))
    pos[:, 0] = [0.0, 0.86, 0.0]
    glob[:, 0] = local[:, 0]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        glob[:, j] = qmul(glob[:, p], local[:, j])
        pos[:, j] = pos[:, p] + qrot(glob[:, p], np.broadcast_to(TARGET_OFFSETS[j], (T, 3)))
    return pos


def _t(seconds: float = 3.0) -> np.ndarray:
    return np.arange(int(seconds * FPS)) / FPS


def _actions(joints) -> dict[str, set[str]]:
    tl = analyse(measure(joints))
    return {g: {s.action for s in tl.segments[g]} for g in GROUPS}


class HashEncoder:
    """A deterministic stand-in for the sentence encoder (unit vectors from a string hash), for fast tests."""

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        out = []
        for t in texts:
            rng = np.random.default_rng(abs(hash(t)) % (2**32))
            v = rng.normal(size=32)
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, dtype=np.float32)


# ------------------------------------------------------------------ stage 1: measurements and posecodes


def test_bad_joints_are_input_errors():
    with pytest.raises(KinmoInputError, match="shape"):
        validate_joints(np.zeros((30, 21, 3)))
    with pytest.raises(KinmoInputError, match="too few frames"):
        validate_joints(np.zeros((MIN_FRAMES - 1, 22, 3)))
    bad = fk_motion(1.0)
    bad[5, 3, 0] = np.nan
    with pytest.raises(KinmoInputError, match="NaN"):
        validate_joints(bad)


def test_rest_posecodes():
    poses = describe_poses(measure(fk_motion(1.0)))
    said = {p.name: poses.posecode_phrase(p.name, 0) for p in POSECODES}
    assert said["left_elbow"] == "the left elbow is straight" and said["right_knee"] == "the right knee is straight"
    assert said["left_foot_height"] == "the left foot is on the ground"
    assert said["torso_forward"] == "the torso is upright" and said["head_yaw"] == "the head faces the front"
    assert said["left_upper_arm"] == "the left upper arm is vertical, pointing down"


def test_arm_posecodes_follow_the_pose():
    # Left arm raised sideways to horizontal, right elbow bent to a right angle.
    joints = fk_motion(1.0, left_shoulder=(Z, 90.0), right_elbow=(X, -90.0))
    poses = describe_poses(measure(joints))
    assert poses.posecode_phrase("left_upper_arm", 0) == "the left upper arm is horizontal"
    assert poses.posecode_phrase("left_hand_side", 0) == "the left hand is out to the side"
    assert poses.posecode_phrase("right_elbow", 0) == "the right elbow is bent at a right angle"
    for p in POSECODES:
        assert set(p.groups) <= set(GROUPS) and list(p.edges) == sorted(p.edges)
        assert len(p.phrases) == len(p.edges) + 1


def test_body_frame_makes_posecodes_and_actions_yaw_invariant():
    t = _t(3.0)
    joints = fk_motion(3.0, left_shoulder=(Z, 120.0), left_elbow=(X, -40 + 25 * np.sin(2 * np.pi * 2 * t)))
    ang = np.radians(130)
    rot = np.array([[np.cos(ang), 0, np.sin(ang)], [0, 1, 0], [-np.sin(ang), 0, np.cos(ang)]])
    turned = joints @ rot.T + np.array([3.0, 0.0, -2.0])
    a, b = describe_poses(measure(joints)), describe_poses(measure(turned))
    np.testing.assert_array_equal(a.codes, b.codes)
    assert _actions(joints) == _actions(turned)


# ------------------------------------------------------------------ stage 2: keyframes


def test_keyframe_selection_on_embeddings():
    e = np.zeros((10, 4), dtype=np.float32)
    e[:5, 0] = 1.0
    e[5:, 1] = 1.0
    assert select_keyframes(e, 0.9) == [0, 5]
    assert select_keyframes(np.tile([[1.0, 0, 0, 0]], (8, 1)), 0.9) == [0]
    with pytest.raises(KinmoInputError):
        select_keyframes(e, 1.5)


def test_keyframes_follow_pose_changes_and_threshold():
    t = _t(4.0)
    lift = np.clip((t - 2.0) * 2, 0, 1) * 150  # the left arm goes up overhead halfway through
    joints = fk_motion(4.0, left_shoulder=(Z, lift))
    poses = describe_poses(measure(joints))
    enc = HashEncoder()
    emb = frame_embeddings(poses, enc)
    assert emb.shape[:2] == (80, len(GROUPS))
    keys_hi = select_keyframes(emb, 0.99)
    keys_lo = select_keyframes(emb, 0.5)
    assert keys_hi[0] == 0 and len(keys_hi) >= 2 and any(k >= 38 for k in keys_hi)
    assert len(keys_lo) <= len(keys_hi)
    still = frame_embeddings(describe_poses(measure(fk_motion(2.0))), enc)
    assert select_keyframes(still, 0.99) == [0]


def test_keyframes_with_the_real_encoder_and_cache():
    from kinmo_core.text import get_sentence_encoder

    enc = get_sentence_encoder()
    joints = fk_motion(3.0, spine1=(X, np.linspace(0, 60, 60)))  # a slow bow: the torso sentence changes
    a = analyse_motion(joints, "kf", encoder=enc)
    n_before = enc.encoded_count
    b = analyse_motion(joints, "kf", encoder=enc)
    assert a.keyframes == b.keyframes and len(a.keyframes) >= 2
    assert enc.encoded_count == n_before  # every group sentence came from the cache


# ------------------------------------------------------------------ stage 3: temporal analysis


def test_periodicity_finds_rate_and_amplitude():
    t = np.arange(60) / FPS
    f, amp, strength = periodicity(0.1 * np.sin(2 * np.pi * 2.0 * t), FPS)
    assert abs(f - 2.0) < 0.15 and abs(amp - 0.1) < 0.01 and strength > 0.6
    noise = np.random.default_rng(0).normal(size=60)
    assert periodicity(noise, FPS)[2] < 0.5


def test_actions_of_simple_motions():
    t = _t(3.0)
    still = _actions(fk_motion(3.0))
    assert still == {
        "torso": {"upright"},
        "neck": {"neutral"},
        "left_arm": {"still"},
        "right_arm": {"still"},
        "left_leg": {"still"},
        "right_leg": {"still"},
    }
    wave = _actions(fk_motion(3.0, left_shoulder=(Z, 120.0), left_elbow=(X, -40 + 30 * np.sin(2 * np.pi * 2 * t))))
    assert wave["left_arm"] == {"wave"} and wave["right_arm"] == {"still"}
    nod = _actions(fk_motion(3.0, neck=(X, 12 + 12 * np.sin(2 * np.pi * 1.5 * t))))
    assert nod["neck"] == {"nod"}
    shake = _actions(fk_motion(3.0, neck=(Y, 25 * np.sin(2 * np.pi * 1.5 * t))))
    assert shake["neck"] == {"shake"}
    bow = _actions(fk_motion(3.0, spine1=(X, 45.0)))
    assert bow["torso"] == {"bow"} and bow["neck"] == {"neutral"}
    lean = analyse(measure(fk_motion(3.0, spine1=(Z, -20.0))))  # tips the spine towards +X, the body's left
    assert [s.action for s in lean.segments["torso"]] == ["lean"]
    assert lean.segments["torso"][0].details["side"] == "left"
    raise_ = _actions(fk_motion(3.0, right_shoulder=(Z, -170.0)))
    assert raise_["right_arm"] == {"raise"}


def test_actions_on_the_synthetic_corpus():
    synth = pytest.importorskip("kinmo_core.data.synth")
    enc = HashEncoder()
    per_motion = {}
    for i in range(40):
        m = synth.synthesize(4242, i)
        rec = annotate_joints(m.joints, f"s{i}", RulesAnnotator(), enc)
        per_motion[str(i)] = score_motion(rec["groups"], m.ground_truth["groups"])
    report = summarise(per_motion)
    assert report["overall_accuracy"] >= 0.85, report["per_group"]
    assert report["still_claim_rate"] <= 0.15


def test_a_head_tipped_back_past_vertical_looks_up_not_aside():
    # rules-1 read a head tipped back past vertical as turned 180 degrees ("looks left"): 834 of synth20k's 2,476
    # look-ups.
    for tip in (30.0, 45.0, 60.0, 75.0):
        for sign, side in ((-1.0, "up"), (1.0, "down")):
            body = measure(fk_motion(3.0, neck=(X, sign * tip)))
            assert np.abs(body.m["head_yaw"]).max() < 5.0, (tip, side)
            segs = analyse(body).segments["neck"]
            assert [(s.action, s.details.get("side")) for s in segs] == [("look", side)], (tip, side, segs)
    turned = analyse(measure(fk_motion(3.0, neck=(Y, 50.0)))).segments["neck"]
    assert [(s.action, s.details.get("side")) for s in turned] == [("look", "left")]


def test_a_raised_knee_is_told_from_a_tucked_leg_and_from_a_kick():
    # A knee raised to hip height reads as a knee raise on its side (its rise and fall are no kicks); the leg a hop
    # tucks behind stays "held up off the ground"; a front kick stays a kick.
    from kinmo_core.annotate.rules import KNEE_RAISE_TEMPLATES, annotate_rules
    from kinmo_core.data.synth import LEG_CHOICES, leg_weights, render_plan, synthesize

    enc = HashEncoder()
    only = leg_weights({k: 0.0 for k in LEG_CHOICES} | {"knee_lift": 1.0})
    for i in range(6):
        m = synthesize(31, i, only)
        first = m.ground_truth["segments"][0]
        side = first["legs"]["side"]
        other = "right" if side == "left" else "left"
        joints = m.joints[: first["end"]]
        analysis = analyse_motion(joints, f"k{i}", encoder=enc)
        legs = analysis.timeline.segments
        assert {s.action for s in legs[f"{side}_leg"]} <= {"lift", "still"}, legs[f"{side}_leg"]
        assert any(s.details.get("knee") == "high" for s in legs[f"{side}_leg"])
        assert {s.action for s in legs[f"{other}_leg"]} == {"still"}
        text = annotate_rules(analysis)["groups"][f"{side}_leg"]
        assert any(t in text for t in KNEE_RAISE_TEMPLATES), text

    def plan(legs: dict, seconds: float) -> list[dict]:
        rest = {"left_arm": {"action": "still"}, "right_arm": {"action": "still"}, "torso": {"action": "upright"},
                "neck": {"action": "neutral"}}
        return [{"legs": legs, "seconds": seconds, **rest}]

    hop, _, _ = render_plan(plan({"action": "hop", "side": "left", "count": 4, "height": 0.1,
                                  "direction": "in_place", "distance": 0.0}, 4.5))
    tucked = analyse(measure(hop)).segments["right_leg"]
    assert "lift" in {s.action for s in tucked} and all(s.details.get("knee") != "high" for s in tucked)
    kick, _, _ = render_plan(plan({"action": "kick", "side": "right", "style": "front", "count": 2,
                                   "height": "high"}, 3.5))
    assert "kick" in {s.action for s in analyse(measure(kick)).segments["right_leg"]}


# ------------------------------------------------------------------ stage 4: the rules annotator


def test_templates_name_exactly_their_action():
    assert actions_vocabulary_check() == []


def test_rules_descriptions_are_complete_deterministic_and_varied(fixture_joints):
    enc = HashEncoder()
    a = annotate_joints(fixture_joints, "012314", RulesAnnotator(), enc)
    b = annotate_joints(fixture_joints, "012314", RulesAnnotator(), enc)
    assert a == b
    assert set(a["groups"]) == set(GROUPS) and set(a["interactions"]) == set(PAIRS)
    for g in GROUPS:
        named = set(mentioned_actions(a["groups"][g], g))
        detected = {s["action"] for s in a["actions"][g]}
        assert detected <= named, (g, a["groups"][g])
        assert named <= detected | set(), (g, a["groups"][g])  # no action claimed that was not detected
    texts = {
        json.dumps(annotate_joints(fixture_joints[:80], f"id{i}", RulesAnnotator(), enc)["groups"]) for i in range(8)
    }
    assert len(texts) > 1  # wording varies with the motion id


def test_annotator_api_takes_joints_not_ground_truth():
    params = list(inspect.signature(annotate_joints).parameters)
    assert params[0] == "joints" and not any("truth" in p or "label" in p for p in params)
    assert list(inspect.signature(RulesAnnotator.annotate).parameters) == ["self", "analysis", "captions"]


# ------------------------------------------------------------------ datasets, resumption, failures


def _dataset(root, joints, n=4, extra=True):
    (root / "new_joints").mkdir(parents=True)
    (root / "texts").mkdir()
    for i in range(n):
        np.save(root / "new_joints" / f"{i:06d}.npy", joints[i * 10 : i * 10 + 60])
        (root / "texts" / f"{i:06d}.txt").write_text(
            f"a person moves #a/DET person/NOUN#0.0#0.0\nsomeone acts {i}#x#0#0\n"
        )
    if extra:
        bad = joints[:40].copy()
        bad[7] = np.nan
        np.save(root / "new_joints" / "nan_motion.npy", bad)
        np.save(root / "new_joints" / "short_motion.npy", joints[:4])
    return root


class CountingRules(RulesAnnotator):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def annotate(self, analysis, captions=None):
        self.seen.append(analysis.motion_id)
        return super().annotate(analysis, captions)


def test_dataset_run_reports_bad_motions_and_exit_code(tmp_path, fixture_joints, capsys):
    ds = _dataset(tmp_path / "ds", fixture_joints)
    out = tmp_path / "ann.json"
    assert main(["annotate", str(ds), "-o", str(out), "--quiet"]) == 1
    data = read_annotations(out)
    assert data["format_version"] == 1 and data["complete"] and data["annotator"]["name"] == "rules"
    assert set(data["motions"]) == {f"{i:06d}" for i in range(4)}
    assert "NaN" in data["failures"]["nan_motion"] and "too few frames" in data["failures"]["short_motion"]
    rec = data["motions"]["000001"]
    assert rec["captions"] == ["a person moves", "someone acts 1"]
    assert set(rec["groups"]) == set(GROUPS) and set(rec["interactions"]) == set(PAIRS)
    assert rec["keyframes"][0] == 0 and rec["n_frames"] == 60
    assert data["stats"]["keyframes_per_second"] > 0
    err = capsys.readouterr().err
    assert "failed nan_motion" in err and "Traceback" not in err


def test_bad_dataset_and_output_are_refused(tmp_path, fixture_joints, capsys):
    assert main(["annotate", str(tmp_path / "missing"), "-o", str(tmp_path / "a.json")]) == 2
    (tmp_path / "notds").mkdir()
    assert main(["annotate", str(tmp_path / "notds"), "-o", str(tmp_path / "a.json")]) == 2
    ds = _dataset(tmp_path / "ds", fixture_joints, n=1, extra=False)
    precious = tmp_path / "notes.json"
    precious.write_text('{"mine": true}')
    assert main(["annotate", str(ds), "-o", str(precious), "--quiet"]) == 2
    assert precious.read_text() == '{"mine": true}'
    assert main(["annotate", str(ds), "-o", str(tmp_path / "a.json"), "--threshold", "3"]) == 2
    assert "error:" in capsys.readouterr().err


def test_interrupted_run_resumes_without_redoing_motions(tmp_path, fixture_joints):
    ds = _dataset(tmp_path / "ds", fixture_joints, n=5, extra=False)
    out = tmp_path / "ann.json"
    enc = HashEncoder()
    done = []

    def stop_after_two(mid):
        done.append(mid)
        if len(done) == 2:
            raise KeyboardInterrupt

    first = CountingRules()
    with pytest.raises(KeyboardInterrupt):
        annotate_dataset(ds, out, first, progress=False, encoder=enc, on_motion=stop_after_two)
    partial = read_annotations(out)
    assert not partial["complete"] and len(partial["motions"]) == 2
    second = CountingRules()
    summary = annotate_dataset(ds, out, second, progress=False, encoder=enc)
    assert summary.exit_code == 0 and summary.skipped == 2
    assert not set(second.seen) & set(partial["motions"]) and len(second.seen) == 3
    final = read_annotations(out)
    assert final["complete"] and len(final["motions"]) == 5
    for mid, rec in partial["motions"].items():
        assert final["motions"][mid] == rec
    # Other settings on the same file are refused rather than mixed in.
    with pytest.raises(KinmoInputError, match="other settings"):
        annotate_dataset(ds, out, RulesAnnotator(), threshold=0.5, progress=False, encoder=enc)


def test_workers_do_not_change_the_output(tmp_path, fixture_joints):
    ds = _dataset(tmp_path / "ds", fixture_joints, n=4, extra=False)
    enc = HashEncoder()
    annotate_dataset(ds, tmp_path / "a.json", RulesAnnotator(), workers=1, progress=False, encoder=enc)
    annotate_dataset(ds, tmp_path / "b.json", RulesAnnotator(), workers=3, progress=False, encoder=enc)
    assert read_annotations(tmp_path / "a.json")["motions"] == read_annotations(tmp_path / "b.json")["motions"]


def test_ground_truth_is_never_read_by_the_annotator(tmp_path, fixture_joints):
    ds = _dataset(tmp_path / "ds", fixture_joints, n=2, extra=False)
    enc = HashEncoder()
    annotate_dataset(ds, tmp_path / "a.json", RulesAnnotator(), progress=False, encoder=enc)
    (ds / "ground_truth").mkdir()
    for i in range(2):
        poison = {"groups": {g: [{"start": 0, "end": 60, "action": GROUP_ACTIONS[g][-1]}] for g in GROUPS}}
        (ds / "ground_truth" / f"{i:06d}.json").write_text(json.dumps(poison))
    annotate_dataset(ds, tmp_path / "b.json", RulesAnnotator(), progress=False, encoder=enc)
    assert read_annotations(tmp_path / "a.json")["motions"] == read_annotations(tmp_path / "b.json")["motions"]
    shutil.rmtree(ds / "ground_truth")


# ------------------------------------------------------------------ evaluation


def test_scoring_rules():
    gt = {g: [{"start": 0, "end": 100, "action": GROUP_ACTIONS[g][0], "side": None, "params": {}}] for g in GROUPS}
    gt["torso"] = [
        {"start": 0, "end": 60, "action": "lean", "side": "left", "params": {"direction": "left"}},
        {"start": 60, "end": 66, "action": "upright", "side": None, "params": {}},
    ]  # too short to score
    gt["left_leg"] = [{"start": 0, "end": 100, "action": "walk", "side": None, "params": {}}]
    assert [s["action"] for s in scored_spans(gt["torso"])] == ["lean"]
    text = {g: "It stays still, relaxed, neutral and upright." for g in GROUPS}
    text["torso"] = "The torso leans to the right."
    text["left_leg"] = "The left leg kicks."
    res = score_motion(text, gt)
    assert res["torso"]["spans"][0]["named"] and not res["torso"]["spans"][0]["correct"]  # wrong side
    assert not res["left_leg"]["spans"][0]["named"]
    assert res["right_leg"]["spans"][0]["correct"] and not res["right_leg"]["claims_motion"]
    text["right_leg"] = "The right leg stays still, then jumps."
    res = score_motion(text, gt)
    assert res["right_leg"]["claims_motion"] and res["right_leg"]["extra_actions"] == ["jump"]
    report = summarise({"m": res})
    assert report["per_group"]["left_leg"]["accuracy"] == 0.0 and report["per_group"]["neck"]["accuracy"] == 1.0


def test_evaluate_cli_on_a_tiny_corpus(tmp_path, fixture_joints, capsys):
    ds = _dataset(tmp_path / "ds", fixture_joints, n=2, extra=False)
    out = tmp_path / "ann.json"
    assert main(["annotate", str(ds), "-o", str(out), "--quiet"]) == 0
    assert main(["annotate", "evaluate", str(ds), str(out)]) == 2  # no ground truth: bad input
    (ds / "ground_truth").mkdir()
    data = read_annotations(out)
    for mid, rec in data["motions"].items():
        # Ground truth equal to what was detected: every long enough span must score as correct.
        groups = {
            g: [
                {"start": s["start"], "end": s["end"], "action": s["action"], "side": s.get("side"), "params": {}}
                for s in rec["actions"][g]
            ]
            for g in GROUPS
        }
        (ds / "ground_truth" / f"{mid}.json").write_text(json.dumps({"groups": groups, "fps": 20}))
    capsys.readouterr()
    assert main(["annotate", "evaluate", str(ds), str(out), "--json", "-o", str(tmp_path / "rep.json")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["overall_accuracy"] == 1.0 and report["motions"] == 2
    assert json.loads((tmp_path / "rep.json").read_text())["motions"] == 2
    # An existing report is the user's file: replaced only with --overwrite.
    assert main(["annotate", "evaluate", str(ds), str(out), "-o", str(tmp_path / "rep.json")]) == 2
    assert main(["annotate", "evaluate", str(ds), str(out), "-o", str(tmp_path / "rep.json"), "--overwrite"]) == 0


# ------------------------------------------------------------------ human review: sample sheets and agreement


def test_cohen_kappa_known_values():
    from kinmo_core.annotate.agreement import cohen_kappa

    res = cohen_kappa(["y", "y", "n", "n"], ["y", "n", "n", "n"])
    assert res["observed"] == 0.75 and res["expected"] == 0.5 and res["kappa"] == 0.5
    assert cohen_kappa(["a", "b", "a"], ["a", "b", "a"])["kappa"] == 1.0
    assert cohen_kappa(["a", "a"], ["a", "a"])["kappa"] == 1.0
    assert cohen_kappa(["a", "b"], ["b", "a"])["kappa"] == -1.0


def test_sample_and_agreement_cli(tmp_path, fixture_joints, capsys):
    ds = _dataset(tmp_path / "ds", fixture_joints, n=3, extra=False)
    ann = tmp_path / "ann.json"
    assert main(["annotate", str(ds), "-o", str(ann), "--quiet"]) == 0
    sheet = tmp_path / "review.csv"
    assert main(["annotate", "sample", str(ann), "-n", "10", "--seed", "1", "-o", str(sheet)]) == 0
    lines = sheet.read_text().splitlines()
    assert lines[0] == "id,field,verdict,text,captions" and len(lines) == 11
    assert main(["annotate", "sample", str(ann), "-n", "10", "-o", str(sheet)]) == 2  # never overwrites
    rows = [line.split(",", 3) for line in lines[1:]]
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    verdicts_a = ["correct"] * 6 + ["wrong"] * 4
    verdicts_b = ["correct"] * 5 + ["wrong"] * 5
    a.write_text("id,field,verdict\n" + "".join(f"{r[0]},{r[1]},{v}\n" for r, v in zip(rows, verdicts_a, strict=True)))
    b.write_text(
        "id,field,verdict\n" + "".join(f"{r[0]},{r[1]},{v.upper()}\n" for r, v in zip(rows, verdicts_b, strict=True))
    )
    capsys.readouterr()
    assert main(["annotate", "agreement", str(a), str(b), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    # 9 of 10 agree; chance = 0.6 * 0.5 + 0.4 * 0.5 = 0.5; kappa = (0.9 - 0.5) / 0.5 = 0.8
    assert res["items"] == 10 and abs(res["kappa"] - 0.8) < 1e-9
    (tmp_path / "bad.csv").write_text("motion,verdict\nx,correct\n")
    assert main(["annotate", "agreement", str(a), str(tmp_path / "bad.csv")]) == 2
    (tmp_path / "badfield.csv").write_text("id,field,verdict\nx,groups.tail,correct\n")
    assert main(["annotate", "agreement", str(a), str(tmp_path / "badfield.csv")]) == 2
    assert "error:" in capsys.readouterr().err


def test_label_table_for_bandai_style_ids():
    from kinmo_core.annotate.evaluate import format_label_table, label_table

    groups = {g: "It stays still." for g in GROUPS}
    ann = {
        "motions": {
            "dataset-1_bow_angry_001": {"groups": {**groups, "torso": "The torso bows forward."}},
            "dataset-1_bow_happy_002": {"groups": {**groups, "torso": "The torso stays upright."}},
            "dataset-1_walk-back_tired_001": {"groups": {**groups, "left_leg": "The left leg walks backward."}},
            "unrelated": {"groups": groups},
        }
    }
    table = label_table(ann)
    assert set(table) == {"bow", "walk-back"} and table["bow"]["clips"] == 2
    assert table["bow"]["torso"] == {"bow": 1, "upright": 1} and table["walk-back"]["left_leg"] == {"walk": 1}
    assert "walk-back" in format_label_table(table)
    with pytest.raises(KinmoInputError):
        label_table(ann, pattern="(no named group)")
