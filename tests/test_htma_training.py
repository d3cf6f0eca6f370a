"""training/train_htma.py end to end on a tiny dataset: the ablation arms, determinism, float16 weights, errors."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from test_retrieval import make_dataset

from kinmo_core.alignment import HTMAAligner

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the trainers live in the repository's training/ folder, not in the package
    sys.path.insert(0, str(ROOT))
train_htma = importlib.import_module("training.train_htma")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("htma_train")
    mp = pytest.MonkeyPatch()
    mp.setenv("KINMO_CACHE", str(base / "cache"))
    yield make_dataset(base / "data", n=48)
    mp.undo()


def _train(data, out, *extra) -> None:
    args = ["--data", str(data), "--out", str(out), "--tiny", "--steps", "3", "--batch", "8", "--crop", "40",
            "--eval-every", "0", "--threads", "1", *extra]
    assert train_htma.main(args) == 0


def test_full_model_trains_saves_float16_and_loads(data, tmp_path) -> None:
    out = tmp_path / "full"
    _train(data, out)
    stored = load_file(str(out / "model.safetensors"))
    assert all(v.dtype == np.float16 for v in stored.values())
    meta = json.loads((out / "config.json").read_text())
    assert meta["config"]["levels"] == 3 and meta["config"]["cross_attention"] is True
    assert "val_all_t2m_R@1" in meta["meta"] and meta["meta"]["steps"] == 3
    assert (out / "Mean.npy").is_file() and (out / "train_log.jsonl").is_file()
    aligner = HTMAAligner.from_pretrained(out)
    assert aligner.levels == 3
    # Same seed, same weights.
    again = tmp_path / "again"
    _train(data, again)
    assert HTMAAligner.from_pretrained(again).version == aligner.version


def test_ablation_arms(data, tmp_path) -> None:
    _train(data, tmp_path / "global", "--levels", "1")
    _train(data, tmp_path / "flat", "--no-cross-attention")
    assert HTMAAligner.from_pretrained(tmp_path / "global").levels == 1
    assert HTMAAligner.from_pretrained(tmp_path / "flat").cfg.cross_attention is False


def test_missing_annotations_and_existing_output(data, tmp_path) -> None:
    bare = make_dataset(tmp_path / "bare", n=16, annotations=False)
    with pytest.raises(SystemExit, match="^error: .*no annotations"):  # one line, no traceback
        _train(bare, tmp_path / "x")
    with pytest.raises(SystemExit, match="no annotations"):  # FOLDER:N names the folder, not the spec
        _train(f"{bare}:2", tmp_path / "x")
    _train(bare, tmp_path / "x", "--levels", "1")  # one level needs no annotations
    with pytest.raises(SystemExit, match="already holds"):
        _train(bare, tmp_path / "x", "--levels", "1")
