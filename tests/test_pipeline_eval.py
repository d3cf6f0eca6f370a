"""The generation evaluation harness (kinmo_core.eval.generation_eval) end to end on tiny random models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kinmo_core.eval.generation_eval import Embedder, EvalSet, Row, evaluate_row, parse_row, pipeline_generator
from kinmo_core.motion.features import joints_to_features
from kinmo_core.motion.kinematic import GROUPS, PAIRS
from kinmo_core.motion.skeleton import rest_pose

ACTIONS = ["walks", "jumps", "waves", "kicks", "turns", "sits", "runs", "bows"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "new_joint_vecs").mkdir()
    (root / "texts").mkdir()
    rng = np.random.default_rng(0)
    ids, motions = [], {}
    for i in range(36):
        n = int(rng.integers(50, 90))
        t = np.linspace(0, 1, n)[:, None, None]
        joints = rest_pose()[None] + 0.05 * np.sin(2 * np.pi * (i % 5 + 1) * t + rng.normal(size=(1, 22, 3)))
        joints[..., 2] += 0.3 * t[..., 0] * (i % 3)
        feats = np.asarray(joints_to_features(joints), np.float32)
        mid = f"{i:06d}"
        np.save(root / "new_joint_vecs" / f"{mid}.npy", feats)
        a = ACTIONS[i % len(ACTIONS)]
        (root / "texts" / f"{mid}.txt").write_text(f"a person {a}#a/DET person/NOUN {a}/VERB#0.0#0.0\n"
                                                  f"someone {a} slowly#someone/PRON {a}/VERB slowly/ADV#0.0#0.0\n")
        ids.append(mid)
        motions[mid] = {"captions": [f"a person {a}"], "groups": {g: f"the {g} {a}" for g in GROUPS},
                        "interactions": {p: f"{p} {a}" for p in PAIRS}}
    (root / "test.txt").write_text("\n".join(ids) + "\n")
    allf = np.concatenate([np.load(root / "new_joint_vecs" / f"{m}.npy") for m in ids])
    np.save(root / "Mean.npy", allf.mean(0))
    np.save(root / "Std.npy", allf.std(0) + 1e-3)
    (root / "annotations.json").write_text(json.dumps({"format_version": 1, "motions": motions}))
    return root


@pytest.fixture(scope="module")
def evaluator_dir(tmp_path_factory, dataset):
    import torch

    from kinmo_core.models.evaluator import EvaluatorConfig, TextMotionEvaluator

    torch.manual_seed(0)
    cfg = EvaluatorConfig(movement_hidden=32, movement_latent=32, motion_hidden=32, text_hidden=32, embed_dim=16)
    model = TextMotionEvaluator(cfg)
    model.set_normalization(np.load(dataset / "Mean.npy"), np.load(dataset / "Std.npy"))
    folder = tmp_path_factory.mktemp("evaluator")
    model.save_pretrained(folder, overwrite=True)
    return folder


@pytest.fixture(scope="module")
def pipe():
    from kinmo_core.pipeline import GenerationSettings, random_pipeline

    p = random_pipeline("tiny", seed=5)
    p.settings = GenerationSettings(steps=3, refine_steps=2)  # fewer decoding passes: the harness is under test
    return p


def test_real_row_has_zero_fid_and_valid_ranges(dataset, evaluator_dir):
    test = EvalSet(dataset, dataset / "annotations.json")
    res = evaluate_row(Row("Real motion", None), test, Embedder(evaluator_dir), repeats=2, progress=False)
    m = res["metrics"]
    assert m["FID"][0] == pytest.approx(0.0, abs=1e-6)
    for k in ("R-precision top-1", "R-precision top-2", "R-precision top-3"):
        assert 0.0 <= m[k][0] <= 1.0 and m[k][1] >= 0.0
    assert m["R-precision top-1"][0] <= m["R-precision top-2"][0] <= m["R-precision top-3"][0]
    assert m["MM-Dist"][0] > 0 and m["Diversity"][0] > 0 and "MultiModality" not in m
    assert "part_following" not in res and res["plausibility"]


def test_generator_row_is_deterministic_and_complete(dataset, evaluator_dir, pipe):
    test = EvalSet(dataset, dataset / "annotations.json")
    embed = Embedder(evaluator_dir)
    row = Row("tiny", pipeline_generator(pipe, levels=3, descriptions="annotations"), part_following=False)
    a = evaluate_row(row, test, embed, repeats=2, mm_texts=2, mm_samples=3, progress=False)
    b = evaluate_row(row, test, embed, repeats=1, mm_texts=2, mm_samples=3, progress=False)
    assert a["runs"][0] == b["runs"][0]
    assert set(a["metrics"]) >= {"FID", "MM-Dist", "Diversity", "MultiModality", "R-precision top-3"}
    assert a["metrics"]["FID"][0] > 0 and a["metrics"]["MultiModality"][0] > 0
    assert len(a["runs"]) == 2 and a["runs"][0] != a["runs"][1]
    assert a["plausibility"] == b["plausibility"] and a["plausibility"]


def test_generated_lengths_follow_the_test_crops(dataset, pipe):
    test = EvalSet(dataset)
    d = test.draw(0)
    gen = pipeline_generator(pipe, levels=1)
    feats = gen(d["captions"][:5], d["frames"][:5], 0, None)
    assert [len(f) for f in feats] == d["frames"][:5]


def test_part_following_runs_every_prompt(pipe):
    from kinmo_core.eval.generation_eval import part_following
    from kinmo_core.eval.part_prompts import PART_PROMPTS

    res = part_following(pipeline_generator(pipe, levels=1), seed=0, seconds=1.0, progress=False)
    assert res["count"] == len(PART_PROMPTS) >= 200
    assert 0.0 <= res["rate"] <= res["named_rate"] <= 1.0


def test_part_following_repeats_pool_seeds_with_an_interval(pipe):
    from kinmo_core.eval.generation_eval import part_following

    gen = pipeline_generator(pipe, levels=1)
    one = part_following(gen, seed=4, seconds=1.0, progress=False)
    three = part_following(gen, seed=4, seconds=1.0, repeats=3, progress=False)
    assert three["runs"][0] == one["rate"]  # repeat 0 is the single-sample measurement
    assert three["rate"] == pytest.approx(np.mean(three["runs"])) and three["count"] == 3 * one["count"]
    assert three["rate_ci"] >= 0.0 and "rate/left_arm" in three


def test_part_only_evaluation_needs_no_test_data(tmp_path, pipe, capsys):
    from kinmo_core.cli.main import main

    pipe.save_pretrained(tmp_path / "p")
    out = tmp_path / "pf.json"
    assert main(["eval", "generation", "--repeats", "0", "--part-repeats", "2", "--row", f"P={tmp_path / 'p'}:1",
                 "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["part_repeats"] == 2 and res["results"]["P"]["metrics"] == {}
    assert len(res["results"]["P"]["part_following"]["runs"]) == 2
    assert "±" in capsys.readouterr().out
    assert main(["eval", "generation", "--repeats", "0", "--no-part", "--row", f"P={tmp_path / 'p'}:1",
                 "--out", str(tmp_path / "x.json")]) == 2


def test_row_specs():
    assert parse_row("Global only=runs/p:1") == ("Global only", "runs/p", 1)
    assert parse_row("KinMo=runs/p") == ("KinMo", "runs/p", 3)
    from kinmo_core.errors import KinmoInputError

    with pytest.raises(KinmoInputError):
        parse_row("runs/p")
    with pytest.raises(KinmoInputError):
        parse_row("x=runs/p:4")


def _result_file(path, rows, **settings):
    meta = {"command": "x", "data": "d", "annotations": None, "evaluator": "e", "repeats": 2, "seed": 0,
            "limit": None, "mm_texts": 2, "mm_samples": 3, "batch": 32, "descriptions": "reasoner", "part": True}
    meta.update(settings)
    meta["results"] = {name: {"metrics": {"FID": [float(i), 0.1]}, "plausibility": {},
                              "runs": [{"FID": float(i + r)} for r in range(meta["repeats"])]}
                       for i, name in enumerate(rows)}
    path.write_text(json.dumps(meta))
    return path


def test_merge_joins_rows_of_equal_settings_and_refuses_others(tmp_path):
    from kinmo_core.errors import KinmoInputError
    from kinmo_core.eval.generation_eval import merge_results

    a = _result_file(tmp_path / "a.json", ["Real motion", "A"])
    b = _result_file(tmp_path / "b.json", ["B"])
    merged = merge_results([a, b])
    assert list(merged["results"]) == ["Real motion", "A", "B"] and merged["command"] == ["x", "x"]
    with pytest.raises(KinmoInputError, match="repeats"):
        merge_results([a, _result_file(tmp_path / "c.json", ["C"], repeats=20)])
    with pytest.raises(KinmoInputError, match="already"):
        merge_results([a, _result_file(tmp_path / "d.json", ["A"])])
    assert "G" in merge_results([a, _result_file(tmp_path / "g.json", ["G"], part_repeats=1)])["results"]
    with pytest.raises(KinmoInputError, match="part_repeats"):
        merge_results([a, _result_file(tmp_path / "h.json", ["H"], part_repeats=4)])
    short = merge_results([a, _result_file(tmp_path / "f.json", ["F"], repeats=20)], first=1)
    assert short["repeats"] == 1 and short["results"]["F"]["metrics"]["FID"] == (0.0, 0.0)
    assert short["results"]["A"]["metrics"]["FID"] == (1.0, 0.0) and len(short["results"]["A"]["runs"]) == 1
    with pytest.raises(KinmoInputError, match="cannot keep the first 5"):
        merge_results([a], first=5)
    (tmp_path / "e.json").write_text("{}")
    with pytest.raises(KinmoInputError, match="not a generation evaluation"):
        merge_results([a, tmp_path / "e.json"])


def test_merge_cli_writes_one_table_and_never_replaces_files(tmp_path, capsys):
    from kinmo_core.cli.main import main

    a = _result_file(tmp_path / "a.json", ["Real motion"])
    b = _result_file(tmp_path / "b.json", ["B"])
    md = tmp_path / "t.md"
    assert main(["eval", "generation", "--merge", str(a), str(b), "--markdown", str(md)]) == 0
    text = md.read_text()
    assert "| Real motion |" in text and "| B |" in text
    before = md.read_text()
    assert main(["eval", "generation", "--merge", str(a), str(b), "--markdown", str(md)]) == 2
    assert md.read_text() == before
    assert "already exists" in capsys.readouterr().err


def test_memo_reasoner_expands_each_caption_once():
    from kinmo_core.reasoner import MemoReasoner

    calls = []

    class Inner:
        def reason(self, texts, seed=0, temperature=0.0):
            calls.append(list(texts))
            return [{"groups": {"torso": f"{t} {seed}"}, "interactions": {}} for t in texts]

    memo = MemoReasoner(Inner())
    first = memo.reason(["a", "b", "a"], seed=1)
    assert calls == [["a", "b"]] and first[0] == first[2] and first[0]["groups"]["torso"] == "a 1"
    first[0]["groups"]["torso"] = "edited"  # callers may edit what they get: the memo keeps its own copy
    assert memo.reason("a", seed=1)[0]["groups"]["torso"] == "a 1" and len(calls) == 1
    memo.reason(["a"], seed=2)
    assert calls[-1] == ["a"] and len(calls) == 2
