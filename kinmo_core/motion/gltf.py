"""Motion files for other tools: glTF 2.0 (.glb, written here with pygltflib) and FBX (through Blender's bpy module).

The .glb holds the 22-joint skeleton as a skin (a node per joint, named as in `skeleton.JOINT_NAMES`, rest pose =
the motion's own offsets, no rest rotations), a simple skinned body (one box per bone, each rigidly bound to the
bone's parent joint) and one animation: local rotations of every joint and the pelvis translation, sampled at the
motion's 20 fps with linear interpolation. glTF's conventions are KinMo's (Y up, metres, facing +Z), so nothing is
converted. Where a motion's bones change length (generated motions can), the joints whose placement differs from
the rest offsets also get translation keys, so the glTF joints land on the motion's joints exactly.

.fbx: KinMo never imports bpy itself. The .glb is written to a temporary folder and a child process of this Python
(which must have the `bpy` module) imports it with Blender's glTF importer and writes the FBX with Blender's
exporter, the action starting at frame 1 of the scene.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from kinmo_core.errors import KinmoInputError
from kinmo_core.fileio import atomic_output
from kinmo_core.motion.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS

EXPORT_EXTENSIONS: tuple[str, ...] = (".glb", ".fbx")
"""Output formats `kinmo convert` writes besides the motion formats."""

BODY_HALF_WIDTH: float = 0.025
"""Half the width of the boxes that make the skinned body, in metres."""

TRANSLATION_TOLERANCE: float = 1e-4
"""A joint gets translation keys when its placement under its parent strays from the rest offset by more (metres)."""

FBX_SCRIPT: Path = Path(__file__).resolve().parents[1] / "assets" / "scripts" / "glb_to_fbx.py"
FBX_TIMEOUT_S: float = 300.0

# glTF constants (spec section 5): component types, buffer view targets.
_FLOAT, _USHORT, _UBYTE = 5126, 5123, 5121
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


def _xyzw(wxyz: np.ndarray) -> np.ndarray:
    return np.concatenate((wxyz[..., 1:], wxyz[..., :1]), axis=-1)


def _rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit wxyz quaternions q (..., 4)."""
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def local_translations(motion) -> np.ndarray:
    """Return (T, 22, 3) translations of each joint in its parent's frame that reproduce motion.joints exactly."""
    from kinmo_core.motion.ik import global_rotations

    glob = np.asarray(global_rotations(motion.rotations.astype(np.float64)))
    joints = motion.joints.astype(np.float64)
    out = np.zeros_like(joints)
    out[:, 0] = joints[:, 0]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        inv = glob[:, p] * np.array([1.0, -1.0, -1.0, -1.0])
        out[:, j] = _rotate(inv, joints[:, j] - joints[:, p])
    return out


def _bone_boxes(rest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return positions (V, 3), joint indices (V,) and triangle indices (F*3,) of one box per bone at rest."""
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], dtype=np.float64)
    # Two quads at each end, six faces, counter-clockwise seen from outside.
    faces = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                      [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]])  # fmt: skip
    positions, joints, indices = [], [], []
    for j in range(1, NUM_JOINTS):
        a, b = rest[PARENTS[j]], rest[j]
        d = b - a
        length = np.linalg.norm(d)
        if length < 1e-6:
            continue
        d = d / length
        helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        u = np.cross(d, helper)
        u /= np.linalg.norm(u)
        v = np.cross(d, u)
        ring = BODY_HALF_WIDTH * (corners[:, :1] * u + corners[:, 1:] * v)
        base = len(positions) * 8
        positions.append(np.concatenate((a + ring, b + ring)))
        joints.append(PARENTS[j])
        indices.append(faces + base)
    pos = np.concatenate(positions)
    jnt = np.repeat(np.array(joints), 8)
    return pos, jnt, np.concatenate(indices).ravel()


def gltf_document(motion):
    """Return a pygltflib.GLTF2 (with its binary blob set) holding the motion's skinned skeleton and animation."""
    import pygltflib as g

    from kinmo_core.motion.skeleton import rest_pose

    t = motion.num_frames
    offsets = motion.offsets.astype(np.float64)
    rest = rest_pose(offsets)  # the bind pose: standing on the floor, arms down, facing +Z
    translations = local_translations(motion)
    moving = [j for j in range(1, NUM_JOINTS)
              if np.abs(translations[:, j] - offsets[j]).max() > TRANSLATION_TOLERANCE]  # fmt: skip

    blob = bytearray()
    views: list = []
    accessors: list = []

    def add(array: np.ndarray, kind: str, ctype: int, target: int | None = None, bounds: bool = False) -> int:
        while len(blob) % 4:
            blob.append(0)
        data = np.ascontiguousarray(array)
        views.append(g.BufferView(buffer=0, byteOffset=len(blob), byteLength=data.nbytes, target=target))
        blob.extend(data.tobytes())
        flat = data.reshape(len(data), -1)
        accessors.append(g.Accessor(
            bufferView=len(views) - 1, componentType=ctype, count=len(data), type=kind,
            min=flat.min(0).tolist() if bounds else None, max=flat.max(0).tolist() if bounds else None))  # fmt: skip
        return len(accessors) - 1

    pos, jnt, idx = _bone_boxes(rest)
    joints4 = np.zeros((len(jnt), 4), np.uint8)
    joints4[:, 0] = jnt
    weights4 = np.zeros((len(jnt), 4), np.float32)
    weights4[:, 0] = 1.0
    a_pos = add(pos.astype(np.float32), g.VEC3, _FLOAT, _ARRAY_BUFFER, bounds=True)
    a_jnt = add(joints4, g.VEC4, _UBYTE, _ARRAY_BUFFER)
    a_wgt = add(weights4, g.VEC4, _FLOAT, _ARRAY_BUFFER)
    a_idx = add(idx.astype(np.uint16), g.SCALAR, _USHORT, _ELEMENT_ARRAY_BUFFER, bounds=True)
    inverse_bind = np.tile(np.eye(4, dtype=np.float32), (NUM_JOINTS, 1, 1))
    inverse_bind[:, 3, :3] = -rest  # column-major: the translation is the last column, stored as the 4th row here
    a_ibm = add(inverse_bind.reshape(NUM_JOINTS, 16), g.MAT4, _FLOAT)

    times = (np.arange(t) / motion.fps).astype(np.float32)
    a_time = add(times, g.SCALAR, _FLOAT, bounds=True)
    samplers, channels = [], []

    def animate(node: int, path: str, values: np.ndarray, kind: str) -> None:
        samplers.append(g.AnimationSampler(input=a_time, output=add(values.astype(np.float32), kind, _FLOAT),
                                           interpolation="LINEAR"))  # fmt: skip
        channels.append(g.AnimationChannel(sampler=len(samplers) - 1, target=g.AnimationChannelTarget(node=node,
                                                                                                      path=path)))

    rotations = _xyzw(motion.rotations.astype(np.float64))
    rotations /= np.linalg.norm(rotations, axis=-1, keepdims=True)
    animate(0, "translation", motion.root_translation.astype(np.float64), g.VEC3)
    for j in range(NUM_JOINTS):
        animate(j, "rotation", rotations[:, j], g.VEC4)
    for j in moving:
        animate(j, "translation", translations[:, j], g.VEC3)

    kids = {j: [c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)}
    nodes = [g.Node(name=JOINT_NAMES[j], translation=(offsets[j] if j else rest[0]).tolist(),
                    children=kids[j] or None) for j in range(NUM_JOINTS)]  # fmt: skip
    mesh_node, root_node = NUM_JOINTS, NUM_JOINTS + 1
    nodes.append(g.Node(name="KinMo body", mesh=0, skin=0))
    nodes.append(g.Node(name="KinMo", children=[0, mesh_node]))
    doc = g.GLTF2(
        asset=g.Asset(generator="KinMo", version="2.0"),
        scene=0,
        scenes=[g.Scene(name="KinMo", nodes=[root_node])],
        nodes=nodes,
        meshes=[g.Mesh(name="KinMo body", primitives=[g.Primitive(
            attributes=g.Attributes(POSITION=a_pos, JOINTS_0=a_jnt, WEIGHTS_0=a_wgt), indices=a_idx)])],
        skins=[g.Skin(name="KinMo", joints=list(range(NUM_JOINTS)), skeleton=0, inverseBindMatrices=a_ibm)],
        animations=[g.Animation(name=(motion.text or "KinMo motion")[:64], samplers=samplers, channels=channels)],
        accessors=accessors,
        bufferViews=views,
        buffers=[g.Buffer(byteLength=len(blob))],
    )
    if motion.text:
        doc.asset.extras = {"text": motion.text, "fps": motion.fps, "frames": t}
    doc.set_binary_blob(bytes(blob))
    return doc


def write_glb(motion, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the motion as a binary glTF 2.0 file (skinned skeleton + animation), atomically."""
    path = Path(path)
    if path.suffix.lower() != ".glb":
        raise KinmoInputError(f"{path}: a binary glTF file must end in .glb")
    doc = gltf_document(motion)
    with atomic_output(path, overwrite=overwrite) as tmp:
        doc.save_binary(str(tmp))
    return path


def bpy_available() -> bool:
    """True when this Python can import Blender's bpy module (checked without importing it)."""
    return importlib.util.find_spec("bpy") is not None


def check_fbx_writer(path: str | os.PathLike) -> None:
    """Raise KinmoInputError (one line, naming this Python) when FBX cannot be written here."""
    if not bpy_available():
        raise KinmoInputError(f"{path}: writing FBX needs Blender's bpy module in this Python ({sys.executable}); "
                              "pip install bpy==5.0.1 (Python 3.11), or write .glb instead")


def write_fbx(motion, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the motion as FBX through Blender's exporter, run by the bpy module in a child process."""
    path = Path(path)
    if path.suffix.lower() != ".fbx":
        raise KinmoInputError(f"{path}: an FBX file must end in .fbx")
    check_fbx_writer(path)
    with atomic_output(path, overwrite=overwrite) as tmp, tempfile.TemporaryDirectory(prefix="kinmo-fbx-") as work:
        glb = write_glb(motion, Path(work) / "motion.glb")
        out = Path(work) / "motion.fbx"
        try:
            run = subprocess.run([sys.executable, str(FBX_SCRIPT), str(glb), str(out)], capture_output=True,
                                 text=True, timeout=FBX_TIMEOUT_S, env={**os.environ, "PYTHONNOUSERSITE": "1"})
        except subprocess.TimeoutExpired:
            raise KinmoInputError(f"{path}: Blender's FBX exporter took over {FBX_TIMEOUT_S:.0f} s") from None
        if run.returncode != 0 or not out.is_file():
            lines = [ln for ln in (run.stderr or run.stdout).splitlines() if ln.strip()]
            raise KinmoInputError(f"{path}: Blender's FBX exporter failed ({lines[-1] if lines else run.returncode})")
        shutil.move(out, tmp)  # the work folder may be on another file system (os.replace fails across them)
    return path


def export_motion(motion, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a motion as .glb or .fbx (by extension)."""
    ext = Path(path).suffix.lower()
    if ext == ".glb":
        return write_glb(motion, path, overwrite=overwrite)
    if ext == ".fbx":
        return write_fbx(motion, path, overwrite=overwrite)
    raise KinmoInputError(f"{path}: unknown export extension {ext or '(none)'!r}; expected one of "
                          f"{', '.join(EXPORT_EXTENSIONS)}")
