"""The worker's editing methods (`edit`, `compose`), registered with `kinmo worker` (see worker.py's protocol)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kinmo_core.cli.worker import Context, _pipeline, method


def _out_folder(params: dict, prefix: str) -> Path:
    folder = Path(params["out"]) if params.get("out") else Path(tempfile.mkdtemp(prefix=prefix))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@method("edit")
def _edit(params: dict, ctx: Context) -> dict:
    """Re-prompt a frame range or body parts of a motion file; reply with the written paths and what was edited.

    params: path (motion .npz/.bvh/.npy, required); text (required); frames ([start, stop], half-open 20 fps frame
    indices; default all); parts (list of group keys, "auto", or absent for the whole body); seed (0); num (1);
    rig (BVH rig); model; out (folder for edit_<k>.npz / .bvh, must not hold them yet; default: a temporary folder);
    bvh (true).
    """
    from kinmo_core.editing.edit import check_parts, edit_motion
    from kinmo_core.errors import KinmoInputError
    from kinmo_core.motion import load_motion

    path, text = params.get("path"), params.get("text")
    if not isinstance(path, str) or not path or not isinstance(text, str):
        raise KinmoInputError("edit needs a 'path' string and a 'text' string")
    num = params.get("num", 1)
    if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= 16:
        raise KinmoInputError("'num' must be an integer from 1 to 16")
    frames = params.get("frames")
    if frames is not None and (not isinstance(frames, list) or len(frames) != 2):
        raise KinmoInputError("'frames' must be [start, stop]")
    parts = check_parts(params.get("parts"))
    ctx.progress(0.0, f"reading {Path(path).name}")
    motion = load_motion(path, rig=params.get("rig"))
    ctx.progress(0.1, "loading the model")
    pipe = _pipeline(params)
    ctx.progress(0.3, "editing")
    res = edit_motion(pipe, motion, text, frames=tuple(frames) if frames else None, parts=parts,
                      seed=int(params.get("seed", 0)), num=num)
    folder = _out_folder(params, "kinmo-edit-")
    paths, bvhs = [], []
    for k, m in enumerate(res.motions):
        ctx.progress(0.9, "writing files")
        paths.append(str(m.save(folder / f"edit_{k:03d}.npz", overwrite=False)))
        if params.get("bvh", True):
            bvhs.append(str(m.to_bvh(folder / f"edit_{k:03d}.bvh", overwrite=False)))
    return {"paths": paths, "bvh_paths": bvhs, "frames": list(res.frames), "parts": list(res.parts),
            "num_frames": res.motions[0].num_frames, "fps": res.motions[0].fps, "descriptions": res.descriptions}


@method("compose")
def _compose(params: dict, ctx: Context) -> dict:
    """Generate a timeline (segments and part tracks, see `kinmo compose`) into one motion; reply with the paths.

    params: timeline (an object {"segments": [...], "tracks": [...]}) or path (a timeline .json); seed (0); model;
    out (folder for timeline.npz / .bvh, must not hold them yet; default: a temporary folder); bvh (true).
    """
    from kinmo_core.editing.timeline import compose, load_timeline, parse_timeline
    from kinmo_core.errors import KinmoInputError

    if "timeline" in params:
        parsed = parse_timeline(params["timeline"])
    elif isinstance(params.get("path"), str):
        parsed = load_timeline(params["path"])
    else:
        raise KinmoInputError("compose needs a 'timeline' object or a 'path' to a timeline .json")
    ctx.progress(0.0, "loading the model")
    pipe = _pipeline(params)
    ctx.progress(0.2, "composing")
    res = compose(pipe, parsed, seed=int(params.get("seed", 0)))
    folder = _out_folder(params, "kinmo-compose-")
    ctx.progress(0.9, "writing files")
    path = str(res.motion.save(folder / "timeline.npz", overwrite=False))
    bvh = str(res.motion.to_bvh(folder / "timeline.bvh", overwrite=False)) if params.get("bvh", True) else None
    return {"path": path, "bvh_path": bvh, "frames": res.motion.num_frames, "fps": res.motion.fps,
            "segments": len(res.segments), "tracks": len(res.tracks)}
