"""Out-of-distribution prompt warnings: the cover, the calibration, the file, and the warning in CLI and worker."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from kinmo_core.cli.main import main
from kinmo_core.cli.worker import serve
from kinmo_core.errors import KinmoModelError
from kinmo_core.pipeline import DEFAULT_PATH, minilm_encode
from kinmo_core.text.scope import (
    SCOPE_FILE,
    PromptScope,
    calibrate_threshold,
    greedy_cover,
    nearest_similarity,
)


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("similarity", [0.6, 0.9])
def test_cover_keeps_a_neighbour_of_every_row(similarity):
    emb = _unit(np.random.default_rng(0), 3000, 8)
    kept = greedy_cover(emb, similarity, batch=256)
    assert 0 < len(kept) < len(emb)
    assert nearest_similarity(emb, emb[kept]).min() >= similarity - 1e-6
    # No two kept rows are that close (it is a net, not just any subset).
    inner = emb[kept] @ emb[kept].T
    np.fill_diagonal(inner, -1)
    assert inner.max() < similarity


def test_nearest_similarity_is_the_brute_force_maximum():
    rng = np.random.default_rng(1)
    q, k = _unit(rng, 7, 16), _unit(rng, 9000, 16)
    assert np.allclose(nearest_similarity(q, k), (q @ k.T).max(1), atol=1e-6)


def test_calibration_separates_and_sits_in_the_gap():
    assert calibrate_threshold(np.array([0.8, 0.9, 0.7]), np.array([0.3, 0.5, 0.4])) == pytest.approx(0.6)
    # One overlapping pair: the threshold misclassifies as few as possible.
    t = calibrate_threshold(np.array([0.8, 0.9, 0.45]), np.array([0.3, 0.5, 0.4, 0.2]))
    assert ((np.array([0.8, 0.9, 0.45]) < t).sum() + (np.array([0.3, 0.5, 0.4, 0.2]) >= t).sum()) == 1


def test_file_round_trip_and_damage(tmp_path):
    emb = _unit(np.random.default_rng(2), 10, 384)
    PromptScope(emb, 0.42, meta={"sources": "test"}).save(tmp_path)
    back = PromptScope.load(tmp_path)
    assert back.threshold == pytest.approx(0.42) and back.meta["sources"] == "test"
    assert np.abs(back.embeddings - emb).max() < 1e-3  # float16 on disk
    assert PromptScope.load(tmp_path / "nothing") is None
    (tmp_path / SCOPE_FILE).write_bytes(b"not safetensors")
    with pytest.raises(KinmoModelError, match="damaged"):
        PromptScope.load(tmp_path)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny random pipeline folder with a scope of a few motion captions (threshold 0.5)."""
    from kinmo_core.conditioning import get_minilm
    from kinmo_core.pipeline import random_pipeline

    folder = random_pipeline("tiny", seed=4).save_pretrained(tmp_path_factory.mktemp("m") / "pipeline")
    captions = ["a person walks forward", "someone waves with the right hand", "a man jumps in place"]
    PromptScope(get_minilm().encode(captions), 0.5).save(folder)
    return folder


def test_generate_warns_and_still_generates(tiny_model, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["generate", "zxqv blorp", "-o", str(out), "--model", str(tiny_model), "--seconds", "1",
                 "--levels", "1"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "warning: the prompt 'zxqv blorp' is far from everything the model was trained on" in err
    assert (out / "motion.npz").is_file()
    assert main(["generate", "a person walks forward", "-o", str(tmp_path / "p"), "--model", str(tiny_model),
                 "--seconds", "1", "--levels", "1"]) == 0  # fmt: skip
    assert "far from" not in capsys.readouterr().err


def _ask(requests: list[dict]) -> list[dict]:
    out = io.StringIO()
    serve(io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), out)
    return [json.loads(line) for line in out.getvalue().splitlines()][1:]


def test_worker_checks_prompts_without_generating_and_generate_replies_warnings(tiny_model, tmp_path):
    prompts = [{"text": "a person waves the right hand", "seconds": 3}, {"text": "  ", "seconds": 2},
               {"text": "a person jumps", "seconds": 30}, {"text": "zxqv blorp", "seconds": None}]  # fmt: skip
    replies = _ask([
        {"id": 1, "method": "check_prompts", "params": {"prompts": prompts, "model": str(tiny_model)}},
        {"id": 2, "method": "generate", "params": {"text": "zxqv blorp", "seconds": 1, "levels": 1,
                                                   "model": str(tiny_model), "out": str(tmp_path / "g")}},
    ])  # fmt: skip
    check = next(r["result"] for r in replies if r.get("id") == 1 and "result" in r)
    assert check["problems"][0] == "" and "empty" in check["problems"][1] and "10 seconds" in check["problems"][2]
    assert check["problems"][3] == "" and "far from" in check["warnings"][3] and check["warnings"][0] == ""
    assert check["scores"][0] > check["threshold"] > check["scores"][3]
    generated = next(r["result"] for r in replies if r.get("id") == 2 and "result" in r)
    assert generated["paths"] and len(generated["warnings"]) == 1 and "zxqv blorp" in generated["warnings"][0]


@pytest.mark.skipif(not (DEFAULT_PATH / SCOPE_FILE).is_file(), reason="the default model has no prompt scope yet")
def test_the_default_model_warns_on_what_it_was_not_trained_on():
    scope = PromptScope.load(DEFAULT_PATH, encode=minilm_encode)
    warned = [bool(w) for w in scope.warnings(["a person walks forward", "someone waves with the left hand",
                                                "a person plays the violin", "zxqv blorp"])]  # fmt: skip
    assert warned == [False, False, True, True]
