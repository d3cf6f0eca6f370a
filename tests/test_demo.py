"""The README's first command: `make demo` runs scripts/demo.py, text to motion with the shipped default model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from kinmo_core.motion.file import Motion
from kinmo_core.motion.kinematic import GROUPS

ROOT = Path(__file__).resolve().parents[1]


def _demo():
    spec = importlib.util.spec_from_file_location("kinmo_demo", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_generates_motion_files_and_previews(tmp_path, capsys):
    demo = _demo()
    assert demo.main(["a person jogs in place and claps", "--seconds", "3", "--out", str(tmp_path)]) == 0
    m = Motion.load(tmp_path / "motion.npz")
    assert m.num_frames == 60 and np.isfinite(m.joints).all()
    assert (tmp_path / "motion.bvh").read_text().startswith("HIERARCHY")
    assert (tmp_path / "preview.gif").read_bytes()[:3] == b"GIF"
    assert (tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"
    desc = json.loads((tmp_path / "descriptions.json").read_text())
    assert set(desc["groups"]) == set(GROUPS) and all(desc["groups"].values())
    # Running it again replaces the demo's own files instead of failing.
    assert demo.main(["a person jogs in place and claps", "--seconds", "3", "--out", str(tmp_path)]) == 0
    assert "preview.gif" in capsys.readouterr().out


def test_demo_bad_length_is_one_line_and_exit_2(tmp_path, capsys):
    assert _demo().main(["a person waves", "--seconds", "30", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
