"""BVH import into the HumanML3D layout: labels files, filename patterns, failures, and the Bandai-Namco set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import BANDAI_DIR, bandai_files, requires_shared

from kinmo_core.data import layout
from kinmo_core.data.dataset import MotionTextDataset
from kinmo_core.data.mocap import bandai_captions, import_bvh_folder, pattern_regex, read_labels_file
from kinmo_core.data.synth import synthesize
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.bvh import write_bvh
from kinmo_core.motion.features import features_to_joints
from kinmo_core.motion.ik import positions_to_rotations


@pytest.fixture(scope="module")
def bvh_folder(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("bvh")
    for i, name in enumerate(("clip_walk_happy_01", "clip_jump_sad_02", "clip_wave_normal_03")):
        j = synthesize(21, i).joints.astype(np.float64)
        write_bvh(src / f"{name}.bvh", positions_to_rotations(j), j[:, 0], fps=20, scale=100.0)
    (src / "broken_x_y_04.bvh").write_text("HIERARCHY\nROOT Hips\n{\n")
    return src


def test_labels_file_formats(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"x.bvh": "a person walks", "y": ["one", "two"]}))
    assert read_labels_file(tmp_path / "a.json") == {"x": ["a person walks"], "y": ["one", "two"]}
    (tmp_path / "b.csv").write_text("file,caption\nx.bvh,a person walks\nx.bvh,someone strolls\n")
    assert read_labels_file(tmp_path / "b.csv") == {"x": ["a person walks", "someone strolls"]}
    (tmp_path / "c.tsv").write_text("x\ta person walks\n")
    assert read_labels_file(tmp_path / "c.tsv") == {"x": ["a person walks"]}
    for name, text in (("d.yaml", "x: y"), ("e.json", "{not json"), ("f.json", "[1, 2]"), ("g.csv", "lonely\n")):
        (tmp_path / name).write_text(text)
        with pytest.raises(KinmoInputError, match=name):
            read_labels_file(tmp_path / name)


def test_pattern_regex():
    m = pattern_regex("dataset-1_{content}_{style}_{take}").match("dataset-1_walk-back_not-confident_001")
    assert m.groupdict() == {"content": "walk-back", "style": "not-confident", "take": "001"}


def test_import_with_labels_reports_failures_and_goes_on(bvh_folder, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("clip_walk_happy_01,a person walks happily\nclip_jump_sad_02,someone jumps sadly\n"
                      "clip_wave_normal_03.bvh,a man waves\nbroken_x_y_04,never\n")
    out = tmp_path / "ds"
    s = import_bvh_folder(bvh_folder, out, labels=labels, progress=False)
    assert s["imported"] == 3 and len(s["failed"]) == 1 and "broken_x_y_04.bvh" in s["failed"][0]["path"]
    j = np.load(out / "new_joints" / "clip_walk_happy_01.npy")
    f = np.load(out / "new_joint_vecs" / "clip_walk_happy_01.npy")
    assert np.abs(features_to_joints(f) - j).max() < 1e-5
    assert (out / "texts" / "Mclip_walk_happy_01.txt").is_file()
    ds = MotionTextDataset(out, "all", min_frames=10)
    assert len(ds) == 6


def test_import_with_pattern_and_missing_labels(bvh_folder, tmp_path):
    s = import_bvh_folder(bvh_folder, tmp_path / "p", pattern="clip_{content}_{style}_{take}", progress=False)
    assert s["imported"] == 3
    text = (tmp_path / "p" / "texts" / "clip_jump_sad_02.txt").read_text()
    assert "jump in a sad way" in text
    with pytest.raises(KinmoInputError, match="no captions source"):
        import_bvh_folder(bvh_folder, tmp_path / "q", progress=False)


def test_import_cli_exit_codes(bvh_folder, tmp_path, capsys):
    from kinmo_core.cli.main import main

    rc = main(["corpus", "import-bvh", str(bvh_folder), "-o", str(tmp_path / "c"), "--pattern",
               "clip_{content}_{style}_{take}", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and "broken_x_y_04.bvh" in err and "1 file(s) failed" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["corpus", "import-bvh", str(empty), "-o", str(tmp_path / "d")]) == 2
    assert "no .bvh files" in capsys.readouterr().err
    assert main(["corpus", "import-bvh", str(bvh_folder), "-o", str(tmp_path / "e"), "--labels",
                 str(tmp_path / "labels.xml")]) == 2


def test_bandai_captions_name_content_and_style():
    caps = bandai_captions("bow", "angry", np.random.default_rng(0))
    assert len(caps) == 3 and all("bow" in c for c in caps)
    assert any("angr" in c or "furious" in c for c in caps)


@requires_shared
def test_bandai_import_three_clips(tmp_path):
    src = tmp_path / "bandai" / "data"
    src.mkdir(parents=True)
    (tmp_path / "bandai" / "cfg").symlink_to(BANDAI_DIR.parent / "cfg")
    picks = [p for p in bandai_files() if any(k in p.name for k in ("_bow_angry_", "_walk-left_happy_", "_kick_"))]
    picks = picks[:3]
    for p in picks:
        (src / p.name).symlink_to(p)
        (src / p.with_suffix(".json").name).symlink_to(p.with_suffix(".json"))
    out = tmp_path / "out"
    s = import_bvh_folder(src, out, progress=False)
    assert s["imported"] == 3 and not s["failed"] and s["captions"] == "bandai"
    assert "CC BY-NC 4.0" in (out / "LICENSE").read_text()
    assert "Bandai Namco Research" in (out / "README.md").read_text()
    bow = next(p.stem for p in picks if "_bow_" in p.name)
    lines = (out / "texts" / f"{bow}.txt").read_text()
    assert "bow" in lines and ("angr" in lines or "furious" in lines)
    left = next(p.stem for p in picks if "walk-left" in p.name)
    assert "to the left" in (out / "texts" / f"{left}.txt").read_text()
    assert "to the right" in (out / "texts" / f"{layout.mirror_id(left)}.txt").read_text()
    gt = json.loads((out / "ground_truth" / f"{bow}.json").read_text())
    assert gt["labels"] == {"content": "bow", "style": "angry"}
    j = np.load(out / "new_joints" / f"{bow}.npy")
    assert j.shape[1:] == (22, 3) and len(j) > 20 and abs(j[..., 1].min()) < 0.02
