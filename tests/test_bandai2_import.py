"""Importing Bandai-Namco dataset-2 straight from its .tar.xz archive: captions, sides, mirroring, layout, licence."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

from kinmo_core.data import layout
from kinmo_core.data.mocap import bandai_captions, import_bvh_archive, select_names
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.skeleton import JOINT_INDEX

ARCHIVE = SHARED / "data" / "bandai-namco-2-train.tar.xz"
requires_archive = pytest.mark.skipif(not ARCHIVE.is_file(), reason=f"the Bandai-Namco dataset-2 archive is not at "
                                                                    f"{ARCHIVE} (set KINMO_SHARED to ../shared)")
CLIPS = ("dataset-2_raise-up-left-hand_elderly_004", "dataset-2_wave-right-hand_normal_004",
         "dataset-2_walk-turn-left_active_004", "dataset-2_run_youthful_004")


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, dict]:
    if not ARCHIVE.is_file():
        pytest.skip(f"the Bandai-Namco dataset-2 archive is not at {ARCHIVE}")
    out = tmp_path_factory.mktemp("bandai2") / "ds"
    # Only these four members are converted; the archive is streamed, never unpacked.
    return out, import_bvh_archive(ARCHIVE, out, include=list(CLIPS), progress=False)


def _texts(out: Path, mid: str) -> list[str]:
    return [line.split("#")[0] for line in (out / "texts" / f"{mid}.txt").read_text().splitlines()]


@requires_archive
def test_archive_import_layout_and_licence(imported):
    out, s = imported
    assert s["imported"] == 4 and not s["failed"] and s["archive_files"] == 2692 and s["captions"] == "bandai"
    ids = sorted(CLIPS + tuple(layout.mirror_id(c) for c in CLIPS))
    for sub, ext in (("new_joint_vecs", "npy"), ("new_joints", "npy"), ("texts", "txt")):
        assert sorted(p.stem for p in (out / sub).glob(f"*.{ext}")) == ids
    assert sorted(layout.read_split(out, "all")) == ids
    assert sum(len(layout.read_split(out, sp)) for sp in layout.SPLITS) == 8
    for sp in layout.SPLITS:  # a clip and its mirror share a split
        got = layout.read_split(out, sp)
        assert all(layout.mirror_id(layout.base_id(m)) in got and layout.base_id(m) in got for m in got)
    assert np.load(out / "Mean.npy").shape == (263,) and np.load(out / "Std.npy").shape == (263,)
    f = np.load(out / "new_joint_vecs" / f"{CLIPS[3]}.npy")
    j = np.load(out / "new_joints" / f"{CLIPS[3]}.npy")
    assert f.shape[1] == 263 and j.shape == (len(f), 22, 3) and len(f) > 20
    assert "CC BY-NC 4.0" in (out / "LICENSE").read_text() and "Motiondataset-2" in (out / "LICENSE").read_text()
    readme = (out / "README.md").read_text()
    assert "Bandai Namco Research Inc." in readme and "Motiondataset-2" in readme and "2692" in readme
    assert (out / "LICENSE-source.txt").stat().st_size > 1000
    gt = json.loads((out / "ground_truth" / f"{CLIPS[0]}.json").read_text())
    assert gt["labels"] == {"content": "raise-up-left-hand", "style": "elderly"}
    mgt = json.loads((out / "ground_truth" / f"M{CLIPS[0]}.json").read_text())
    assert mgt["mirrored"] is True and mgt["labels"] == {"content": "raise-up-right-hand", "style": "elderly"}


@requires_archive
def test_archive_import_captions_sides_and_mirrors(imported):
    out, _ = imported
    raise_left, wave_right, turn_left, run = CLIPS
    for mid, side, words in ((raise_left, "left", ("raise", "lift", "up")), (wave_right, "right", ("wave",)),
                             (turn_left, "left", ("turn", "curve"))):
        caps, mirrored = _texts(out, mid), _texts(out, layout.mirror_id(mid))
        other = "right" if side == "left" else "left"
        assert len(caps) == 3 and len(set(caps)) == 3  # several phrasings per clip
        assert all(side in c and other not in c and any(w in c for w in words) for c in caps), caps
        assert all(other in c and side not in c for c in mirrored), mirrored
    assert all(("elder" in c or "old" in c) for c in _texts(out, raise_left))
    assert all(("run" in c or "jog" in c) and ("young" in c or "youthful" in c) for c in _texts(out, run))

    # the joints are mirrored too: the raised hand is the left one, the mirror's is the right one
    lw, rw = JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]
    j = np.load(out / "new_joints" / f"{raise_left}.npy")
    m = np.load(out / "new_joints" / f"M{raise_left}.npy")
    assert j[:, lw, 1].max() > j[:, rw, 1].max() + 0.2
    assert m[:, rw, 1].max() > m[:, lw, 1].max() + 0.2

    # the turn goes to the body's left (its left hip side at the start), the mirror's to the right
    def turn_side(joints: np.ndarray) -> float:
        left = joints[0, JOINT_INDEX["left_hip"]] - joints[0, JOINT_INDEX["right_hip"]]
        fwd = joints[len(joints) // 3, 0] - joints[0, 0]
        late = joints[-1, 0] - joints[2 * len(joints) // 3, 0]
        return float(np.dot(late - fwd * (np.dot(late, fwd) / np.dot(fwd, fwd)), left))

    assert turn_side(np.load(out / "new_joints" / f"{turn_left}.npy")) > 0
    assert turn_side(np.load(out / "new_joints" / f"M{turn_left}.npy")) < 0


def test_dataset2_captions_cover_every_content_and_style():
    contents = ("walk", "walk-turn-left", "walk-turn-right", "run", "wave-left-hand", "wave-right-hand",
                "wave-both-hands", "raise-up-left-hand", "raise-up-right-hand", "raise-up-both-hands")
    styles = ("active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful")
    for c in contents:
        for s in styles:
            caps = bandai_captions(c, s, np.random.default_rng(0))
            assert all("-" not in x and "_" not in x for x in caps), caps  # a phrase, not the raw label
            for side in ("left", "right", "both"):
                if side in c:
                    assert all(side in x for x in caps), caps


def test_select_names_and_bad_archives(tmp_path):
    names = [f"d/dataset-2_walk_normal_{i:03d}.bvh" for i in range(10)] + ["d/dataset-2_run_normal_001.bvh"]
    assert select_names(names, include=["dataset-2_run_*"]) == ["d/dataset-2_run_normal_001.bvh"]
    assert len(select_names(names, limit=4)) == 4 and select_names(names, limit=1) == [sorted(names)[0]]
    with pytest.raises(KinmoInputError, match="--limit"):
        select_names(names, limit=0)
    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"not an archive at all")
    with pytest.raises(KinmoInputError, match="unreadable archive"):
        import_bvh_archive(junk, tmp_path / "o", progress=False)
    empty = tmp_path / "empty.tar.gz"
    (tmp_path / "note.txt").write_text("hello")
    with tarfile.open(empty, "w:gz") as tar:
        tar.add(tmp_path / "note.txt", arcname="note.txt")
    with pytest.raises(KinmoInputError, match="no .bvh files"):
        import_bvh_archive(empty, tmp_path / "o", progress=False)


def test_archive_cli_errors(tmp_path, capsys):
    from kinmo_core.cli.main import main

    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"\xfd7zXZ\x00 truncated")
    assert main(["corpus", "import-bvh", str(junk), "-o", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert main(["corpus", "import-bvh", str(junk), "-o", str(tmp_path / "o"), "--pattern", "x_{content}"]) == 2
