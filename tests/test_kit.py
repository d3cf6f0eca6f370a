"""KIT-ML folders: `kinmo corpus import-kit` turns a fake KIT-ML folder (made here from HumanML3D motions mapped onto
the 21 KIT joints, in millimetres at 12.5 fps) into KinMo's representation, and a trainer accepts the result."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kinmo_core.cli.main import main as kinmo_main
from kinmo_core.data import layout
from kinmo_core.data.dataset import MotionTextDataset
from kinmo_core.data.kit import KIT_JOINTS, import_kit_folder, kit_to_smpl22, smpl22_to_kit
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.features import features_to_joints, joints_to_features
from kinmo_core.motion.rigs import resample_positions
from kinmo_core.motion.skeleton import JOINT_INDEX

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
CAPTIONS = {
    "012314": ["a person walks forward and then turns around.", "someone walks ahead, then turns back."],
    "000612": ["a person jumps up and down.", "someone hops in place twice."],
}
SHARED = [JOINT_INDEX[n] for n in KIT_JOINTS]


def reference(src: str) -> np.ndarray:
    """KinMo joints (T, 22, 3) of a fixture motion, in the canonical placement features_to_joints returns."""
    joints = features_to_joints(np.load(FIXTURES / f"{src}_new_joint_vecs.npy"))
    return np.asarray(features_to_joints(joints_to_features(joints)), dtype=np.float64)


def make_kit(root: Path, copies: int = 5) -> Path:
    """Write a KIT-ML-layout folder (mm, 12.5 fps, 21 joints, 251-d placeholder features) of fixture crops."""
    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (root / sub).mkdir(parents=True)
    ids = []
    for src, caps in CAPTIONS.items():
        kit = smpl22_to_kit(resample_positions(reference(src), 20, 12.5)) * 1000.0
        for k in range(copies):
            mid = f"{int(src) + k:05d}"
            clip = kit[3 * k:].astype(np.float32)
            np.save(root / "new_joints" / f"{mid}.npy", clip)
            # KIT-ML's own 251-d features; the import ignores them (their values do not matter here)
            np.save(root / "new_joint_vecs" / f"{mid}.npy", np.zeros((len(clip) - 1, 251), np.float32))
            lines = [f"{c}#{' '.join(w + '/OTHER' for w in c.rstrip('.').split())}#0.0#0.0" for c in caps]
            lines.append(f"{caps[0]}#a/DET person/NOUN#0.5#{(len(clip) - 10) / 12.5:.1f}")
            (root / "texts" / f"{mid}.txt").write_text("\n".join(lines) + "\n")
            ids.append(mid)
    half = len(ids) // 2  # val and test get the first crop of each motion; 99999 is listed without files
    splits = {"train": ids[1:half] + ids[half + 1:], "val": [ids[0]], "test": [ids[half], "99999"]}
    for name, part in splits.items():
        (root / f"{name}.txt").write_text("\n".join(part) + "\n")
    np.save(root / "Mean.npy", np.zeros(251, np.float32))
    np.save(root / "Std.npy", np.ones(251, np.float32))
    return root


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[Path, Path, dict]:
    base = tmp_path_factory.mktemp("kit")
    src = make_kit(base / "KIT-ML")
    summary = import_kit_folder(src, base / "kit", progress=False)
    return src, base / "kit", summary


def test_round_trip_keeps_joints_lengths_captions_and_splits(converted) -> None:
    src, out, summary = converted
    assert summary["imported"] == 10 and not summary["failed"] and not summary["sides_suspect"]
    for name in layout.SPLITS:
        assert layout.read_split(out, name) == [i for i in layout.read_split(src, name) if i != "99999"]
    for mid in ("12314", "00612"):
        ref = reference(f"{int(mid):06d}")
        joints = np.load(out / "new_joints" / f"{mid}.npy")
        feats = np.load(out / "new_joint_vecs" / f"{mid}.npy")
        assert feats.shape == (len(joints), 263)
        kit_frames = len(np.load(src / "new_joints" / f"{mid}.npy"))
        assert abs(len(feats) / 20 - (kit_frames - 1) / 12.5) <= 0.1  # seconds kept (20 fps: one frame fewer)
        n = min(len(ref), len(joints))
        err = np.linalg.norm(joints[:n, SHARED] - ref[:n, SHARED], axis=-1)
        assert err.mean() < 0.02 and np.percentile(err, 95) < 0.04, (err.mean(), np.percentile(err, 95))
        assert (out / "texts" / f"{mid}.txt").read_text() == (src / "texts" / f"{mid}.txt").read_text()
    assert np.load(out / "Mean.npy").shape == (263,) and np.load(out / "Std.npy").shape == (263,)
    ds = MotionTextDataset(out, "train", min_frames=40)
    assert any(it["start"] > 0 for it in ds.items) and ds[0]["motion"].shape[1] == 263


def test_units_and_orientation_checks() -> None:
    kit = smpl22_to_kit(resample_positions(reference("012314"), 20, 12.5))
    metres, info_m = kit_to_smpl22(kit)
    mm, info_mm = kit_to_smpl22(kit * 1000.0)
    np.testing.assert_allclose(metres, mm, atol=1e-4)
    assert abs(info_mm["scale"] * 1000.0 - info_m["scale"]) < 1e-6 and info_m["sides_agree"]
    swapped = kit.copy()
    for a, b in ((5, 8), (6, 9), (7, 10), (11, 16), (12, 17), (13, 18), (14, 19), (15, 20)):
        swapped[:, [a, b]] = swapped[:, [b, a]]
    assert not kit_to_smpl22(swapped)[1]["sides_agree"]  # left and right exchanged: the toes point backwards
    with pytest.raises(KinmoInputError, match="Y-up"):
        kit_to_smpl22(kit[..., [0, 2, 1]] * np.array([1.0, -1.0, 1.0]))  # Z up
    with pytest.raises(KinmoInputError, match="21, 3"):
        kit_to_smpl22(np.zeros((10, 22, 3)))


def test_cli_and_dataset_messages(tmp_path, capsys) -> None:
    src = make_kit(tmp_path / "KIT-ML", copies=2)
    with pytest.raises(KinmoInputError, match="import-kit"):
        MotionTextDataset(src, "train", min_frames=10)
    assert kinmo_main(["annotate", str(src), "-o", str(tmp_path / "a.json")]) == 2
    assert "kinmo corpus import-kit" in capsys.readouterr().err
    assert kinmo_main(["corpus", "import-kit", str(src), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    assert "imported 4 of 4 KIT-ML clips" in capsys.readouterr().out
    assert kinmo_main(["corpus", "import-kit", str(src), "-o", str(tmp_path / "out"), "--quiet"]) == 2  # not empty
    assert "not empty" in capsys.readouterr().err
    assert kinmo_main(["corpus", "import-kit", str(tmp_path / "out"), "-o", str(tmp_path / "o2")]) == 2  # 263-d
    assert "KIT-ML" in capsys.readouterr().err
    np.save(src / "new_joints" / "12314.npy", np.full((30, 21, 3), np.nan, np.float32))
    assert kinmo_main(["corpus", "import-kit", str(src), "-o", str(tmp_path / "o3"), "--quiet"]) == 1
    assert "12314.npy" in capsys.readouterr().err


def test_tiny_rvq_training_accepts_the_converted_folder(converted, tmp_path) -> None:
    _, out, _ = converted
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, "-m", "training.train_rvq", "--data", str(out), "--out",
                           str(tmp_path / "rvq"), "--size", "tiny", "--steps", "3", "--batch", "4", "--window", "40",
                           "--eval-every", "0", "--threads", "1"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert any((tmp_path / "rvq").rglob("*.safetensors"))
