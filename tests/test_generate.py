"""`kinmo generate` and the worker's generate / expand methods, on a tiny random pipeline."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from kinmo_core.cli.main import main
from kinmo_core.motion.file import Motion
from kinmo_core.motion.kinematic import GROUPS, PAIRS
from kinmo_core.pipeline import random_pipeline


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    random_pipeline("tiny", seed=4).save_pretrained(folder)
    return folder


def _descriptions(word: str) -> dict:
    return {"groups": {g: f"the {g} {word}" for g in GROUPS}, "interactions": {p: f"{p} {word}" for p in PAIRS}}


def test_generate_writes_npz_bvh_descriptions_and_preview(model, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["generate", "a person waves", "--model", str(model), "--seconds", "1.5", "--seed", "3",
               "--levels", "1", "--preview", "-o", str(out)])
    assert rc == 0
    m = Motion.load(out / "motion.npz")
    assert m.num_frames == 30 and m.text == "a person waves"
    assert (out / "motion.bvh").read_text().startswith("HIERARCHY")
    assert (out / "preview.gif").read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    assert json.loads((out / "descriptions.json").read_text()) == {"groups": {}, "interactions": {}}
    assert "30 frames" in capsys.readouterr().out


def test_edited_descriptions_are_accepted_back_and_change_the_motion(model, tmp_path):
    (tmp_path / "d1.json").write_text(json.dumps(_descriptions("waves")))
    (tmp_path / "d2.json").write_text(json.dumps(_descriptions("stays still")))
    base = ["generate", "a person waves", "--model", str(model), "--frames", "40", "--seed", "1"]
    assert main(base + ["--descriptions", str(tmp_path / "d1.json"), "-o", str(tmp_path / "a")]) == 0
    assert main(base + ["--descriptions", str(tmp_path / "a" / "descriptions.json"), "-o", str(tmp_path / "b")]) == 0
    assert main(base + ["--descriptions", str(tmp_path / "d2.json"), "-o", str(tmp_path / "c")]) == 0
    a, b, c = (Motion.load(tmp_path / x / "motion.npz") for x in "abc")
    assert a.descriptions == _descriptions("waves")
    np.testing.assert_array_equal(a.features, b.features)  # the written file round-trips to the same motion
    assert not np.array_equal(a.features, c.features)


def test_batch_prompts_and_num_write_one_folder_each(model, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a man jumps\n\n# a comment\na woman kicks\n")
    out = tmp_path / "batch"
    assert main(["generate", "--prompts", str(prompts), "--num", "2", "--frames", "24", "--levels", "1",
                 "--model", str(model), "-o", str(out)]) == 0
    index = json.loads((out / "index.json").read_text())
    assert [m["text"] for m in index["motions"]] == ["a man jumps", "a man jumps", "a woman kicks", "a woman kicks"]
    feats = [Motion.load(out / f"{i:03d}" / "motion.npz").features for i in range(4)]
    assert all(f.shape == (24, 263) for f in feats)
    assert not np.array_equal(feats[0], feats[1])


def test_same_seed_same_files(model, tmp_path):
    for name in ("x", "y"):
        assert main(["generate", "a person turns", "--model", str(model), "--frames", "32", "--seed", "9",
                     "--levels", "1", "-o", str(tmp_path / name)]) == 0
    assert (tmp_path / "x" / "motion.bvh").read_bytes() == (tmp_path / "y" / "motion.bvh").read_bytes()
    np.testing.assert_array_equal(Motion.load(tmp_path / "x" / "motion.npz").features,
                                  Motion.load(tmp_path / "y" / "motion.npz").features)


def test_one_pass_decodes_under_all_levels_at_once(model, tmp_path):
    from kinmo_core.pipeline import KinMoPipeline

    (tmp_path / "d.json").write_text(json.dumps(_descriptions("turns")))
    base = ["generate", "a person turns", "--model", str(model), "--frames", "32", "--seed", "9", "--levels", "3",
            "--descriptions", str(tmp_path / "d.json")]
    assert main([*base, "--one-pass", "-o", str(tmp_path / "one")]) == 0
    assert main([*base, "-o", str(tmp_path / "c2f")]) == 0
    pipe = KinMoPipeline.from_pretrained(model)
    pipe.settings.coarse_to_fine = False
    expected = pipe("a person turns", frames=32, seed=9, levels=3,
                    descriptions=json.loads((tmp_path / "one" / "descriptions.json").read_text()))
    one = Motion.load(tmp_path / "one" / "motion.npz").features
    np.testing.assert_array_equal(one, expected.features)
    assert not np.array_equal(one, Motion.load(tmp_path / "c2f" / "motion.npz").features)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "empty"),
        (["a person jumps", "--seconds", "0.5"], "between 1 and 10 seconds"),
        (["a person jumps", "--seconds", "12"], "between 1 and 10 seconds"),
        (["a person jumps", "--frames", "500"], "between 20 and 200 frames"),
        (["a person jumps", "--device", "quantum"], "unknown device"),
        ([], "give a prompt"),
        (["a person jumps", "--num", "0"], "--num"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(model, tmp_path, capsys, args, message):
    rc = main(["generate", *args, "--model", str(model), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("error: ") and message in err and "\n" not in err and "Traceback" not in err


def test_bad_model_and_descriptions_files_exit_2(model, tmp_path, capsys):
    (tmp_path / "bad.json").write_text('{"groups": {"tail": "wags"}}')
    assert main(["generate", "a dog", "--descriptions", str(tmp_path / "bad.json"), "--model", str(model),
                 "-o", str(tmp_path / "o")]) == 2
    assert "unknown keys" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pipeline.json").write_text("[]")
    assert main(["generate", "a dog", "--model", str(broken), "-o", str(tmp_path / "o")]) == 2
    assert "damaged" in capsys.readouterr().err


def test_existing_outputs_are_never_overwritten_unasked(model, tmp_path, capsys):
    out = tmp_path / "keep"
    args = ["generate", "a person bows", "--model", str(model), "--frames", "20", "--levels", "1", "-o", str(out)]
    assert main(args) == 0
    before = (out / "motion.npz").read_bytes()
    assert main([*args[:-2], "--seed", "5", "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "motion.npz").read_bytes() == before
    assert main([*args[:-2], "--seed", "5", "--overwrite", "-o", str(out)]) == 0
    assert (out / "motion.npz").read_bytes() != before


def _serve(requests: list[dict]) -> list[dict]:
    from kinmo_core.cli.worker import serve

    stdin = io.StringIO("".join(json.dumps(r) + "\n" for r in requests))
    stdout = io.StringIO()
    assert serve(stdin, stdout, io.StringIO()) == 0
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


def test_worker_generate_and_expand(model, tmp_path):
    out = tmp_path / "w"
    replies = _serve([
        {"id": 1, "method": "generate", "params": {"text": "a person waves", "frames": 28, "seed": 2, "num": 2,
                                                   "model": str(model), "out": str(out),
                                                   "descriptions": _descriptions("waves")}},
        {"id": 2, "method": "expand", "params": {"text": "a person waves", "model": str(model)}},
        {"id": 3, "method": "generate", "params": {"text": "", "model": str(model)}},
        {"id": 4, "method": "generate", "params": {"text": "x", "seconds": 30, "model": str(model)}},
    ])
    assert {"generate", "expand"} <= set(replies[0]["methods"])
    final = {r["id"]: r for r in replies[1:] if "progress" not in r}
    res = final[1]["result"]
    assert res["frames"] == 28 and len(res["paths"]) == 2 and len(res["bvh_paths"]) == 2
    assert Motion.load(res["paths"][1]).descriptions == _descriptions("waves")
    assert final[2]["error"]["type"] == "model" and "Reasoner" in final[2]["error"]["message"]
    assert final[3]["error"]["type"] == "input" and "empty" in final[3]["error"]["message"]
    assert final[4]["error"]["type"] == "input" and "10 seconds" in final[4]["error"]["message"]
    assert any("progress" in r for r in replies if r.get("id") == 1)
