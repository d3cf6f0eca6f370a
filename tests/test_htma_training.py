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


def test_side_conflicts_keep_a_caption_and_its_mirror_apart() -> None:
    caps = ["a person waves the left hand", "a person waves the right hand", "a person waves",
            "someone raises the left arm", "a person turns clockwise"]
    c = train_htma.side_conflicts(caps)
    assert bool(c[0, 1]) and bool(c[1, 0])  # mirrors: always negatives
    assert not bool(c[0, 2]) and not bool(c[0, 3])  # no side, or the same side: the similarity filter decides
    assert bool(c[0, 4]) and not bool(c[0, 0])


def test_mirrored_items_join_each_batch_as_negatives(data) -> None:
    from kinmo_core.data.dataset import MotionTextDataset
    from kinmo_core.motion.features import mirror_features

    mean, std = np.load(data / "Mean.npy"), np.load(data / "Std.npy")
    ds = MotionTextDataset(data, "train", max_frames=40, min_frames=20, mean=mean, std=std, seed=0)
    items = [dict(ds[i]) for i in range(3)]
    items[0]["caption"] = "a person waves the left hand"
    caps = [it["caption"] for it in items]
    from kinmo_core.data.captions import mirror_text

    mirrored = [mirror_text(c) for c in caps]
    tokens = {c: np.ones((4, 8), np.float32) * (i + 1) for i, c in enumerate(caps + mirrored)}
    batch = train_htma.Collate(tokens, {}, 1, (mean, std))(items)
    assert batch["motion"].shape[0] == 6
    assert batch["captions"][3] == "a person waves the right hand"
    assert float(batch["text_sim"][0, 3]) == 0.0  # the mirror is a negative, not a near duplicate
    raw = items[1]["motion"].numpy() * std + mean
    got = batch["motion"][4, : items[1]["length"]].numpy() * std + mean
    np.testing.assert_allclose(got, mirror_features(raw), atol=1e-4)


def test_init_fine_tunes_from_a_trained_model_and_refuses_other_shapes(data, tmp_path) -> None:
    _train(data, tmp_path / "base")
    _train(data, tmp_path / "tuned", "--init", str(tmp_path / "base"), "--steps", "1")
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["meta"]["init"] == str(tmp_path / "base")
    _train(data, tmp_path / "global", "--levels", "1")
    with pytest.raises(SystemExit, match="--init"):
        _train(data, tmp_path / "bad", "--init", str(tmp_path / "global"))


def test_a_mirrored_item_takes_its_dataset_twins_descriptions(data) -> None:
    from kinmo_core.data.dataset import MotionTextDataset

    assert train_htma.mirror_partner("000123") == "M000123" and train_htma.mirror_partner("M000123") == "000123"
    mean, std = np.load(data / "Mean.npy"), np.load(data / "Std.npy")
    ds = MotionTextDataset(data, "train", max_frames=40, min_frames=20, mean=mean, std=std, seed=0)
    item = dict(ds[0])
    own = {"groups": {"left_arm": "The left arm waves."}, "interactions": {}}
    twin = {"groups": {"right_arm": "The right arm waves high."}, "interactions": {}}
    item["descriptions"] = own
    collate = train_htma.Collate({}, {}, 1, (mean, std), {train_htma.mirror_partner(item["id"]): twin})
    assert collate._mirrored(item)["descriptions"] is twin
    alone = train_htma.Collate({}, {}, 1, (mean, std))._mirrored(item)["descriptions"]
    assert alone["groups"] == {"right_arm": "The right arm waves."}
