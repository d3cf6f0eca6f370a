"""scripts/blender_batch.py as users run it: the prompts file checked up front, temporary files removed, the FBX's
take at the scene's first frame, the BVH in `kinmo convert`'s axes, out-of-scope prompts warned about.

One tiny random pipeline (with a small prompt scope file) serves the module; the batch runs as its own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_blender_addon import build_armature  # noqa: E402
from test_blender_math import MIXAMO_BONES  # noqa: E402

pytestmark = pytest.mark.blender
BATCH = ROOT / "scripts" / "blender_batch.py"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A tiny random pipeline whose prompt scope knows a few walking and waving captions."""
    from kinmo_core.conditioning import get_minilm
    from kinmo_core.pipeline import random_pipeline
    from kinmo_core.text.scope import PromptScope

    folder = random_pipeline("tiny", seed=4).save_pretrained(tmp_path_factory.mktemp("kinmo") / "pipeline")
    captions = ["a person walks forward", "someone waves with the right hand", "a man jumps in place",
                "a person waves both arms", "the woman walks in a circle"]  # fmt: skip
    PromptScope(get_minilm().encode(captions), threshold=0.5).save(folder)
    return folder


def _batch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the batch with its own temporary folder, so what it leaves there can be seen."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run([sys.executable, str(BATCH), *args], capture_output=True, text=True, timeout=300, env=env)


def test_bad_prompts_stop_the_batch_before_any_generation(model, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a person waves\n   | 3\na person jumps | 30\na person runs | soon\n" + "walk " * 70 + "\n")
    out = tmp_path / "out"
    run = _batch(tmp_path, "--prompts", str(prompts), "--out", str(out), "--model", str(model),
                 "--python", sys.executable)  # fmt: skip
    assert run.returncode == 2, run.stderr
    err = [ln for ln in run.stderr.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert len(err) == 1 and err[0].startswith("error: --prompts") and "3 bad prompt(s)" in err[0], run.stderr
    for line, why in ((2, "empty"), (3, "between 1 and 10 seconds"), (4, "number of seconds")):
        assert f"line {line}: " in err[0] and why in err[0]
    assert "line 5" not in err[0]  # too long is cut with a warning, not refused
    assert "generating" not in run.stderr and not out.exists()
    assert not any((tmp_path / "tmp").iterdir())


def _pose_heads_y_up(obj, scene, frames: list[int]) -> np.ndarray:
    """World positions of the posed bone heads relative to the object, in KinMo axes (x, z, -y)."""
    out = []
    loc = np.array(obj.matrix_world.translation)
    for f in frames:
        scene.frame_set(f)
        p = np.array([tuple(obj.matrix_world @ b.head) for b in obj.pose.bones]) - loc
        out.append(np.stack((p[:, 0], p[:, 2], -p[:, 1]), axis=-1))
    return np.array(out)


def test_batch_files_on_a_centimetre_rig_and_a_clean_temporary_folder(model, tmp_path):
    from kinmo_core.motion.bvh import read_bvh

    bpy.ops.wm.read_factory_settings(use_empty=True)
    build_armature("Mixamo", MIXAMO_BONES, scale=0.01)
    rig = tmp_path / "rig.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(rig), copy=True)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a person waves\nzxqv blorp | 1.5\n")
    out = tmp_path / "out"
    run = _batch(tmp_path, "--prompts", str(prompts), "--out", str(out), "--model", str(model), "--rig", str(rig),
                 "--python", sys.executable, "--seconds", "2", "--levels", "1")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert not any((tmp_path / "tmp").iterdir()), list((tmp_path / "tmp").iterdir())
    # The out-of-scope prompt is generated, and warned about before and in the summary.
    assert "2 of 2 prompts done, 0 failed, 1 with warnings" in run.stdout
    assert "warning: prompt 2 (line 2): the prompt 'zxqv blorp' is far from" in run.stdout
    assert "warning: prompt 2 (line 2)" in run.stderr and "warning: prompt 1" not in run.stdout
    stem = "001_a-person-waves"

    # The .blend: the action starts at the scene's first frame.
    bpy.ops.wm.open_mainfile(filepath=str(out / f"{stem}.blend"), load_ui=False)
    scene = bpy.context.scene
    obj = bpy.data.objects["Mixamo"]
    start, end = obj.animation_data.action.frame_range
    frames = int(round(end - start)) + 1
    assert start == scene.frame_start == 1 and frames == 47
    expected = _pose_heads_y_up(obj, scene, [1, 20, 47])

    # The .bvh: KinMo's axes and metres (Y up, facing +Z), the same joints as the .blend's bones.
    bvh = read_bvh(out / f"{stem}.bvh", unit="m", up="y")
    assert bvh.num_frames == 47 and bvh.names[0] == "mixamorig:Hips"
    got = bvh.global_positions([0, 19, 46])
    order = [bvh.names.index(b.name) for b in obj.pose.bones]
    assert np.abs(got[:, order] - expected).max() < 1e-3
    assert 0.5 < got[0, 0, 1] < 1.5  # the hips about a metre up the Y axis

    # The .fbx: Blender's importer (default settings) puts the take at the scene's first frame, same length.
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(out / f"{stem}.fbx"))
    arm = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
    start, end = arm.animation_data.action.frame_range
    assert (start, int(round(end - start)) + 1) == (bpy.context.scene.frame_start, 47)
