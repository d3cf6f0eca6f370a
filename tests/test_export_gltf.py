"""`kinmo convert X.npz -o X.glb | X.fbx`: the files as Blender's own importers read them (`bpy==5.0.1`).

Positions are compared in glTF/KinMo axes: Blender's importers turn Y-up (x, y, z) into Z-up (x, -z, y).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from kinmo_core.cli.main import main
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.file import Motion, load_motion
from kinmo_core.motion.gltf import gltf_document, write_glb
from kinmo_core.motion.skeleton import JOINT_NAMES, NUM_JOINTS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import FIXTURES  # noqa: E402


@pytest.fixture(scope="module")
def walk() -> Motion:
    """HumanML3D's motion 000612 (199 frames)."""
    return load_motion(FIXTURES / "000612_new_joint_vecs.npy")


@pytest.fixture(scope="module")
def generated() -> Motion:
    """A motion from a tiny random pipeline: its bones change length, so rotations alone miss its joints by mm."""
    from kinmo_core.motion.ik import forward_kinematics
    from kinmo_core.pipeline import random_pipeline

    with pytest.warns(UserWarning):
        motion = random_pipeline("tiny", seed=4).generate(["a person walks"], frames=40, seed=0, cleanup=False)[0]
    fk = forward_kinematics(motion.rotations.astype(np.float64), motion.root_translation.astype(np.float64),
                            motion.offsets.astype(np.float64))
    assert np.linalg.norm(fk - motion.joints, axis=-1).max() > 2e-3
    return motion


def blender_positions(path: Path, importer: str, frames: list[int], frame_offset: int):
    """Import path into an empty scene; return (joint positions (F, 22, 3) in KinMo axes, the armature, scene)."""
    bpy = pytest.importorskip("bpy")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 20
    if importer == "gltf":
        bpy.ops.import_scene.gltf(filepath=str(path))
    else:
        bpy.ops.import_scene.fbx(filepath=str(path))
    arm = next(o for o in scene.objects if o.type == "ARMATURE")
    out = []
    for f in frames:
        scene.frame_set(f + frame_offset)
        p = np.array([tuple(arm.matrix_world @ arm.pose.bones[n].head) for n in JOINT_NAMES])
        out.append(np.stack((p[:, 0], p[:, 2], -p[:, 1]), axis=-1))
    return np.array(out), arm, scene


def test_glb_document_is_a_skinned_skeleton_with_its_animation(walk):
    doc = gltf_document(walk)
    assert doc.asset.version == "2.0"
    assert len(doc.skins) == 1 and doc.skins[0].joints == list(range(NUM_JOINTS))
    assert [doc.nodes[j].name for j in range(NUM_JOINTS)] == list(JOINT_NAMES)
    body = next(n for n in doc.nodes if n.mesh is not None)
    assert body.skin == 0
    prim = doc.meshes[0].primitives[0]
    assert prim.attributes.JOINTS_0 is not None and prim.attributes.WEIGHTS_0 is not None
    channels = doc.animations[0].channels
    assert sum(c.target.path == "rotation" for c in channels) == NUM_JOINTS
    assert any(c.target.path == "translation" and c.target.node == 0 for c in channels)
    times = doc.accessors[doc.animations[0].samplers[0].input]
    assert times.count == walk.num_frames and times.max[0] == pytest.approx((walk.num_frames - 1) / 20)


@pytest.mark.blender
@pytest.mark.parametrize("which", ["walk", "generated"])
def test_blender_reads_the_glb_within_a_millimetre(which, walk, generated, tmp_path):
    motion = walk if which == "walk" else generated
    out = tmp_path / "motion.glb"
    assert main(["convert", str(motion.save(tmp_path / "m.npz")), "-o", str(out)]) == 0
    frames = list(range(motion.num_frames))
    got, arm, _ = blender_positions(out, "gltf", frames, frame_offset=0)
    err = np.linalg.norm(got - motion.joints[frames], axis=-1)
    assert err.max() < 1e-3, f"largest joint error {err.max() * 1000:.3f} mm"
    assert len(arm.data.bones) == NUM_JOINTS
    body = [o for o in arm.children if o.type == "MESH"]
    assert body and body[0].find_armature() == arm


@pytest.mark.blender
def test_fbx_reimports_with_the_same_frames_and_start(walk, tmp_path, capsys):
    src = walk.save(tmp_path / "walk.npz")
    out = tmp_path / "walk.fbx"
    assert main(["convert", str(src), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    frames = [0, 57, walk.num_frames - 1]
    # Blender's FBX importer starts the take at the scene's first frame (1) with its default settings.
    got, arm, scene = blender_positions(out, "fbx", frames, frame_offset=1)
    start, end = arm.animation_data.action.frame_range
    assert (start, end) == (scene.frame_start, scene.frame_start + walk.num_frames - 1)
    assert scene.render.fps == 20
    assert np.linalg.norm(got - walk.joints[frames], axis=-1).max() < 1e-3
    assert any(o.type == "MESH" for o in arm.children)


def test_fbx_without_bpy_is_one_clear_line(walk, tmp_path, monkeypatch, capsys):
    import kinmo_core.motion.gltf as ex

    monkeypatch.setattr(ex, "bpy_available", lambda: False)
    src = walk.save(tmp_path / "walk.npz")
    assert main(["convert", str(src), "-o", str(tmp_path / "walk.fbx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bpy" in err and sys.executable in err
    assert not (tmp_path / "walk.fbx").exists()


def test_existing_output_is_kept_and_bad_extensions_refused(walk, tmp_path, capsys):
    src = walk.save(tmp_path / "walk.npz")
    out = tmp_path / "walk.glb"
    out.write_bytes(b"mine")
    assert main(["convert", str(src), "-o", str(out)]) == 2
    assert out.read_bytes() == b"mine" and "--overwrite" in capsys.readouterr().err
    assert main(["convert", str(src), "-o", str(out), "--overwrite"]) == 0
    assert out.read_bytes()[:4] == b"glTF"
    assert main(["convert", str(src), "-o", str(tmp_path / "walk.gltf")]) == 2
    with pytest.raises(KinmoInputError):
        write_glb(walk, tmp_path / "walk.obj")
