"""The `kinmo` command line: conversions, info, render, and one clear line with exit code 2 for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, bandai_files, requires_shared
from PIL import Image

from kinmo_core import __version__
from kinmo_core.cli.main import COMMANDS, available_commands, main
from kinmo_core.motion.file import Motion, load_motion

TINY_BVH = """HIERARCHY
ROOT Thing
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Blob
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 10 0
    }
  }
}
MOTION
Frames: 4
Frame Time: 0.0333333
0 90 0 0 0 0 0 0 0
0 90 1 0 0 0 0 0 0
0 90 2 0 0 0 0 0 0
0 90 3 0 0 0 0 0 0
"""


def kinmo(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.fixture(scope="module")
def npz(fixture_features, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "walk.npz"
    return Motion.from_features(fixture_features[:40], text="a person walks").save(path)


def test_version_and_help(capsys):
    code, out, _ = kinmo(capsys, "--version")
    assert code == 0 and out.strip() == f"kinmo {__version__}"
    code, out, _ = kinmo(capsys, "--help")
    assert code == 0
    for name in ("convert", "info", "render"):
        assert name in out
    code, _, err = kinmo(capsys)
    assert code == 2 and "usage" in err


def test_missing_subcommand_modules_are_skipped():
    assert {"convert", "info", "render"} <= set(available_commands()) <= set(COMMANDS)


def test_convert_between_every_format(capsys, npz, tmp_path):
    m = Motion.load(npz)
    assert kinmo(capsys, "convert", npz, "-o", tmp_path / "f.npy")[0] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), m.features)
    assert kinmo(capsys, "convert", npz, "-o", tmp_path / "j.npy", "--as", "joints")[0] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "j.npy"), m.joints)
    code, out, _ = kinmo(capsys, "convert", tmp_path / "f.npy", "-o", tmp_path / "back.npz", "--text", "walking")
    assert code == 0 and "40 frames" in out
    back = load_motion(tmp_path / "back.npz")
    np.testing.assert_array_equal(back.features, m.features)
    assert back.text == "walking"
    assert kinmo(capsys, "convert", npz, "-o", tmp_path / "m.bvh")[0] == 0
    assert kinmo(capsys, "convert", tmp_path / "m.bvh", "-o", tmp_path / "from_bvh.npz")[0] == 0
    from_bvh = load_motion(tmp_path / "from_bvh.npz")
    n = min(from_bvh.num_frames, m.num_frames)
    assert np.abs(from_bvh.joints[:n] - m.joints[:n]).max() < 0.02


def test_info_text_and_json(capsys, npz):
    code, out, _ = kinmo(capsys, "info", npz)
    assert code == 0
    for word in ("frames:        40 (2.00 s at 20 fps)", "a person walks", "foot contact", "Left Arm", "bone lengths"):
        assert word in out
    code, out, _ = kinmo(capsys, "info", npz, "--json")
    stats = json.loads(out)
    assert stats["frames"] == 40 and stats["source"] == "npz" and len(stats["group_energy"]) == 6


def test_render_gif_and_png(capsys, npz, tmp_path):
    code, out, _ = kinmo(capsys, "render", npz, "-o", tmp_path / "a.gif", "--step", "2", "--quiet")
    assert code == 0 and Image.open(tmp_path / "a.gif").n_frames == 20
    assert kinmo(capsys, "render", npz, "-o", tmp_path / "a.png")[0] == 0
    assert Image.open(tmp_path / "a.png").format == "PNG"


# ---- bad input: exit code 2 and one line naming the problem -----------------------------------------------------


def test_missing_file(capsys, tmp_path):
    code, _, err = kinmo(capsys, "info", tmp_path / "nope.npz")
    assert_user_error(code, err, "nope.npz", "no such file")


def test_not_a_bvh(capsys, tmp_path):
    path = tmp_path / "notes.bvh"
    path.write_text("shopping list: eggs, milk\n")
    code, _, err = kinmo(capsys, "convert", path, "-o", tmp_path / "x.npz")
    assert_user_error(code, err, "notes.bvh")
    assert not (tmp_path / "x.npz").exists()


def test_binary_garbage_bvh(capsys, tmp_path):
    path = tmp_path / "noise.bvh"
    path.write_bytes(bytes(range(256)) * 4)
    code, _, err = kinmo(capsys, "info", path)
    assert_user_error(code, err, "noise.bvh")


def test_truncated_bvh(capsys, npz, tmp_path):
    full = tmp_path / "full.bvh"
    assert kinmo(capsys, "convert", npz, "-o", full)[0] == 0
    text = full.read_text()
    cut = tmp_path / "cut.bvh"
    cut.write_text(text[: len(text) - len(text.splitlines()[-1]) * 5 - 7])  # drop frames, end mid-line
    code, _, err = kinmo(capsys, "info", cut)
    assert_user_error(code, err, "cut.bvh")
    header = tmp_path / "header.bvh"
    header.write_text(text[: text.index("MOTION") // 2])  # stops inside the hierarchy
    code, _, err = kinmo(capsys, "info", header)
    assert_user_error(code, err, "header.bvh")


def test_one_frame_bvh(capsys, npz, tmp_path):
    full = tmp_path / "full.bvh"
    assert kinmo(capsys, "convert", npz, "-o", full)[0] == 0
    head, body = full.read_text().split("Frame Time:")
    frame_time, first = body.splitlines()[:2]
    one = tmp_path / "one.bvh"
    one.write_text(head.replace("Frames: 40", "Frames: 1") + "Frame Time:" + frame_time + "\n" + first + "\n")
    code, _, err = kinmo(capsys, "convert", one, "-o", tmp_path / "x.npz")
    assert_user_error(code, err, "one.bvh", "1 frame")


def test_unknown_rig(capsys, tmp_path):
    path = tmp_path / "creature.bvh"
    path.write_text(TINY_BVH)
    code, _, err = kinmo(capsys, "convert", path, "-o", tmp_path / "x.npz")
    assert_user_error(code, err, "creature.bvh")
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.full((30, 263), np.nan, dtype=np.float32), ("NaN",)),
        (np.where(np.arange(30 * 22 * 3).reshape(30, 22, 3) == 100, np.inf, 0.0), ("infinite",)),
        (np.zeros((30, 21, 3)), ("(30, 21, 3)",)),
        (np.zeros((0, 263)), ("0 frames",)),
        (np.zeros((1, 263)), ("1 frame",)),
        (np.zeros((1, 22, 3)), ("1 frame",)),
    ],
)
def test_bad_arrays(capsys, tmp_path, array, words):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    code, _, err = kinmo(capsys, "convert", path, "-o", tmp_path / "x.npz")
    assert_user_error(code, err, "bad.npy", *words)


def test_output_exists_without_overwrite(capsys, npz, tmp_path):
    out = tmp_path / "mine.npz"
    out.write_bytes(b"precious")
    for cmd in (("convert", npz, "-o", out), ("render", npz, "-o", out.with_suffix(".gif"))):
        out.with_suffix(".gif").write_bytes(b"precious")
        code, _, err = kinmo(capsys, *cmd)
        assert_user_error(code, err, "already exists", "--overwrite")
    assert out.read_bytes() == b"precious" and out.with_suffix(".gif").read_bytes() == b"precious"
    assert kinmo(capsys, "convert", npz, "-o", out, "--overwrite")[0] == 0
    assert Motion.load(out).num_frames == 40


@pytest.mark.parametrize("name", ["motion.obj", "motion", "motion.txt"])
def test_unknown_extension(capsys, npz, tmp_path, name):
    code, _, err = kinmo(capsys, "convert", npz, "-o", tmp_path / name)
    assert_user_error(code, err, "unknown extension")
    src = tmp_path / ("in_" + name)
    src.write_text("x")
    code, _, err = kinmo(capsys, "info", src)
    assert_user_error(code, err, "unknown extension")
    code, _, err = kinmo(capsys, "render", npz, "-o", tmp_path / name)
    assert_user_error(code, err, "unknown extension")


def test_a_folder_instead_of_a_file(capsys, tmp_path):
    (tmp_path / "dir.npz").mkdir()
    code, _, err = kinmo(capsys, "info", tmp_path / "dir.npz")
    assert_user_error(code, err, "not a file")


def test_output_folder_missing(capsys, npz, tmp_path):
    code, _, err = kinmo(capsys, "convert", npz, "-o", tmp_path / "no" / "such" / "x.npz")
    assert_user_error(code, err, "does not exist")


@pytest.mark.parametrize("command,name", [("convert", "x.npz"), ("convert", "x.glb"), ("render", "x.png")])
def test_output_is_checked_before_the_input_is_read(capsys, tmp_path, command, name):
    # The input is garbage: an error about the output proves the output was checked before any work.
    bad = tmp_path / "garbage.bvh"
    bad.write_bytes(b"\x00not a bvh")
    code, _, err = kinmo(capsys, command, bad, "-o", tmp_path / "no" / "such" / name)
    assert_user_error(code, err, "does not exist")
    (tmp_path / name).write_bytes(b"mine")
    code, _, err = kinmo(capsys, command, bad, "-o", tmp_path / name)
    assert_user_error(code, err, "already exists")
    assert (tmp_path / name).read_bytes() == b"mine"


def test_debug_shows_the_traceback(capsys, tmp_path):
    code = main(["--debug", "info", str(tmp_path / "nope.npz")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ")


@requires_shared
def test_bandai_clip_to_npz_and_info(capsys, tmp_path):
    src = bandai_files()[0]
    assert kinmo(capsys, "convert", src, "-o", tmp_path / "b.npz")[0] == 0
    code, out, _ = kinmo(capsys, "info", tmp_path / "b.npz")
    assert code == 0 and "source:        npz" in out


# ---- as a real process ---------------------------------------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinmo_core.cli.main", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_help_in_a_process_imports_no_heavy_library():
    probe = (
        "import sys; from kinmo_core.cli.main import main; code = main(['--help']);"
        "heavy = sorted(m for m in ('numpy', 'torch', 'matplotlib', 'scipy', 'transformers') if m in sys.modules);"
        "print('HEAVY', heavy); sys.exit(code)"
    )
    p = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "HEAVY []" in p.stdout, p.stdout.splitlines()[-1]


def test_bad_input_in_a_process(tmp_path):
    path = tmp_path / "short.npy"
    np.save(path, np.zeros((30, 21, 3)))
    p = _run("info", str(path))
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and p.stderr.startswith("error: ")
    assert "(30, 21, 3)" in p.stderr


def test_convert_in_a_process(fixture_features, tmp_path):
    src = tmp_path / "f.npy"
    np.save(src, fixture_features[:30])
    p = _run("convert", str(src), "-o", str(tmp_path / "m.npz"))
    assert p.returncode == 0, p.stderr
    assert Motion.load(tmp_path / "m.npz").num_frames == 30
