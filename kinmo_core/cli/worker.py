"""`kinmo worker`: a persistent process answering JSON-lines requests on stdin/stdout (used by the Blender add-on).

Protocol (one JSON object per line, UTF-8):
- on start the worker prints {"event": "ready", "protocol": 1, "version": ..., "methods": [...]};
- request: {"id": <int or str>, "method": <name>, "params": {...}};
- progress while working: {"id": ..., "progress": <0..1>, "message": <str>};
- reply: {"id": ..., "result": {...}} or {"id": ..., "error": {"type": <kind>, "message": <one line>}} where kind is
  "input" (bad input), "model", "environment" (a package is missing), "cancelled", "unknown_method", "protocol"
  or "internal";
- cancel (a notification, no reply of its own): {"method": "cancel", "params": {"id": <request id>}}: the running
  request stops at its next progress point and replies with a "cancelled" error;
- {"method": "shutdown"} (or end of input) stops the worker.

New methods register with `@method("name")` (a function (params, ctx) -> dict); generation adds its own this way.
Requests run one at a time, in order; a reader thread keeps reading so cancels arrive while one runs.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

PROTOCOL = 1

METHODS: dict[str, Callable[[dict, Context], dict]] = {}
"""Registered request handlers by method name."""


class Cancelled(Exception):
    """Raised inside a handler when its request was cancelled."""


class Context:
    """What a handler gets besides its params: progress reporting and a cancellation check."""

    def __init__(self, request_id: Any, send: Callable[[dict], None], cancelled: Callable[[], bool]) -> None:
        self.request_id = request_id
        self._send = send
        self._cancelled = cancelled

    @property
    def cancelled(self) -> bool:
        """True once a cancel for this request has arrived."""
        return self._cancelled()

    def check(self) -> None:
        """Raise Cancelled if this request was cancelled."""
        if self._cancelled():
            raise Cancelled("cancelled")

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress (0..1) to the client, then stop here if the request was cancelled."""
        self._send({"id": self.request_id, "progress": float(min(max(fraction, 0.0), 1.0)), "message": message})
        self.check()


def method(name: str) -> Callable[[Callable[[dict, Context], dict]], Callable[[dict, Context], dict]]:
    """Register a request handler under `name`."""

    def add(fn: Callable[[dict, Context], dict]) -> Callable[[dict, Context], dict]:
        METHODS[name] = fn
        return fn

    return add


@method("ping")
def _ping(params: dict, ctx: Context) -> dict:
    """Answer with the worker's versions, so a client can check its environment."""
    import platform

    import numpy as np

    from kinmo_core import __version__

    return {"pong": True, "kinmo": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "echo": params.get("echo")}  # fmt: skip


@method("load_motion")
def _load_motion(params: dict, ctx: Context) -> dict:
    """Read a motion (.npz, .bvh, .npy) onto KinMo's skeleton; reply with the contract fields or a converted .npz.

    params: path (required); rig (BVH rig preset, optional); as: "npz" (default: write a converted .npz and reply
    with its path) or "fields" (reply with the contract fields as lists); out: where to write the .npz (must not
    exist; default: a new file in a temporary folder).
    """
    import tempfile

    from kinmo_core.errors import KinmoInputError
    from kinmo_core.motion.file import load_motion

    path = params.get("path")
    if not isinstance(path, str) or not path:
        raise KinmoInputError("load_motion needs a 'path' string")
    mode = params.get("as", "npz")
    if mode not in ("npz", "fields"):
        raise KinmoInputError(f"load_motion 'as' must be 'npz' or 'fields', got {mode!r}")
    ctx.progress(0.0, f"reading {Path(path).name}")
    motion = load_motion(path, rig=params.get("rig"))
    ctx.progress(0.8, "converted")
    summary = {"frames": motion.num_frames, "fps": motion.fps, "text": motion.text, "source": motion.source}
    if mode == "fields":
        arrays = motion.arrays()
        return {**summary, "fields": {k: v.tolist() for k, v in arrays.items()}}
    out = params.get("out")
    if out:
        target = Path(out)
    else:
        folder = Path(tempfile.mkdtemp(prefix="kinmo-worker-"))
        target = folder / (Path(path).stem + ".npz")
    motion.save(target, overwrite=False)  # never replaces a user's file
    return {**summary, "path": str(target)}


_PIPELINES: dict[str, Any] = {}


def _pipeline(params: dict):
    """The worker's pipeline for params['model'] (the packaged default when absent), loaded once per process."""
    from kinmo_core.errors import KinmoInputError
    from kinmo_core.pipeline import KinMoPipeline

    model = params.get("model")
    if model is not None and not isinstance(model, str):
        raise KinmoInputError("'model' must be a folder path string")
    device = params.get("device", "cpu")
    key = f"{model or ''}|{device}"
    if key not in _PIPELINES:
        _PIPELINES[key] = KinMoPipeline.from_pretrained(model or None, device=device)
    return _PIPELINES[key]


@method("expand")
def _expand(params: dict, ctx: Context) -> dict:
    """Run the Motion Reasoner on a prompt: reply {"descriptions": {"groups": {...}, "interactions": {...}}}.

    params: text (required); seed (default 0); model (pipeline folder, default: the packaged model).
    """
    from kinmo_core.errors import KinmoInputError

    text = params.get("text")
    if not isinstance(text, str):
        raise KinmoInputError("expand needs a 'text' string")
    ctx.progress(0.0, "loading the model")
    pipe = _pipeline(params)
    ctx.progress(0.5, "writing part descriptions")
    return {"descriptions": pipe.expand([text], seed=int(params.get("seed", 0)))[0]}


@method("generate")
def _generate(params: dict, ctx: Context) -> dict:
    """Generate motion from a prompt and write it as .npz (+ .bvh); reply with the paths and the descriptions used.

    params: text (required); seconds or frames (default: estimated); seed (0); num (1); levels (the model's);
    descriptions (an object as in descriptions.json, e.g. edited after `expand`); model (pipeline folder); out (a
    folder to write motion_<k>.npz / .bvh into, must not hold them yet; default: a new temporary folder); bvh (true);
    loop (false: a seamless loop).
    """
    import tempfile

    from kinmo_core.errors import KinmoInputError

    text = params.get("text")
    if not isinstance(text, str):
        raise KinmoInputError("generate needs a 'text' string")
    num = params.get("num", 1)
    if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= 64:
        raise KinmoInputError("'num' must be an integer from 1 to 64")
    ctx.progress(0.0, "loading the model")
    pipe = _pipeline(params)
    ctx.progress(0.2, "generating")
    motions = pipe(text, seconds=params.get("seconds"), frames=params.get("frames"), seed=int(params.get("seed", 0)),
                   levels=params.get("levels"), descriptions=params.get("descriptions"), num=num,
                   loop=bool(params.get("loop", False)))
    motions = motions if isinstance(motions, list) else [motions]
    folder = Path(params["out"]) if params.get("out") else Path(tempfile.mkdtemp(prefix="kinmo-generate-"))
    folder.mkdir(parents=True, exist_ok=True)
    paths, bvhs = [], []
    for k, m in enumerate(motions):
        ctx.progress(0.8 + 0.2 * k / len(motions), "writing files")
        paths.append(str(m.save(folder / f"motion_{k:03d}.npz", overwrite=False)))
        if params.get("bvh", True):
            bvhs.append(str(m.to_bvh(folder / f"motion_{k:03d}.bvh", overwrite=False)))
    return {"paths": paths, "bvh_paths": bvhs, "frames": motions[0].num_frames, "fps": motions[0].fps,
            "text": motions[0].text, "descriptions": motions[0].descriptions}


def _edit_out_folder(params: dict, prefix: str) -> Path:
    """The reply folder: params["out"] (created), or a new temporary folder."""
    import tempfile

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
    from kinmo_core.motion.file import load_motion

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
    folder = _edit_out_folder(params, "kinmo-edit-")
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
    folder = _edit_out_folder(params, "kinmo-compose-")
    ctx.progress(0.9, "writing files")
    path = str(res.motion.save(folder / "timeline.npz", overwrite=False))
    bvh = str(res.motion.to_bvh(folder / "timeline.bvh", overwrite=False)) if params.get("bvh", True) else None
    return {"path": path, "bvh_path": bvh, "frames": res.motion.num_frames, "fps": res.motion.fps,
            "segments": len(res.segments), "tracks": len(res.tracks)}


def _error(kind: str, message: str) -> dict:
    return {"type": kind, "message": " ".join(str(message).split()) or kind}


def serve(stdin: IO[str], stdout: IO[str], stderr: IO[str] | None = None) -> int:
    """Answer requests from stdin on stdout until end of input or a shutdown request; return the exit code."""
    from kinmo_core import __version__
    from kinmo_core.errors import KinmoInputError, KinmoModelError

    lock = threading.Lock()
    cancelled: set = set()
    inbox: queue.Queue = queue.Queue()

    def send(obj: dict) -> None:
        line = json.dumps(obj, separators=(",", ":"))
        with lock:
            stdout.write(line + "\n")
            stdout.flush()

    def read() -> None:
        for raw in stdin:
            raw = raw.strip()
            if not raw:
                continue
            try:
                msg = json.loads(raw)
                if not isinstance(msg, dict):
                    raise ValueError("not an object")
            except ValueError as e:
                send({"id": None, "error": _error("protocol", f"not a JSON object line ({e})")})
                continue
            if msg.get("method") == "cancel":
                target = (msg.get("params") or {}).get("id")
                with lock:
                    cancelled.add(target)
                continue
            inbox.put(msg)
            if msg.get("method") == "shutdown":
                return
        inbox.put(None)

    send({"event": "ready", "protocol": PROTOCOL, "version": __version__, "methods": sorted(METHODS)})
    threading.Thread(target=read, name="kinmo-worker-reader", daemon=True).start()
    while True:
        msg = inbox.get()
        if msg is None or msg.get("method") == "shutdown":
            return 0
        rid = msg.get("id")
        name = msg.get("method")
        params = msg.get("params") or {}
        handler = METHODS.get(name) if isinstance(name, str) else None
        if handler is None:
            send({"id": rid, "error": _error("unknown_method", f"unknown method {name!r}; known: {sorted(METHODS)}")})
            continue
        if not isinstance(params, dict):
            send({"id": rid, "error": _error("protocol", "params must be an object")})
            continue

        def is_cancelled(rid=rid) -> bool:
            with lock:
                return rid in cancelled

        ctx = Context(rid, send, is_cancelled)
        try:
            ctx.check()
            result = handler(params, ctx)
            send({"id": rid, "result": result})
        except Cancelled:
            send({"id": rid, "error": _error("cancelled", "cancelled")})
        except (KinmoInputError, FileNotFoundError, IsADirectoryError, PermissionError, FileExistsError) as e:
            send({"id": rid, "error": _error("input", str(e))})
        except KinmoModelError as e:
            send({"id": rid, "error": _error("model", str(e))})
        except ImportError as e:  # the worker's environment lacks a package: the user must fix the Python setting
            send({"id": rid, "error": _error("environment", f"the KinMo Python lacks a package: {e}")})
        except Exception as e:  # a bug must not kill the worker: report it, log the traceback on stderr
            if stderr is not None:
                traceback.print_exc(file=stderr)
            send({"id": rid, "error": _error("internal", f"{type(e).__name__}: {e}")})
        finally:
            with lock:
                cancelled.discard(rid)


def register(subparsers) -> None:
    """Add the `worker` subcommand."""
    p = subparsers.add_parser(
        "worker",
        help="serve JSON-lines requests on stdin/stdout (for the Blender add-on)",
        description="Run a persistent worker answering JSON-lines requests (ping, load_motion, ...) on stdin/stdout.",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve requests on this process's stdin/stdout."""
    # Anything a library prints must not corrupt the protocol: replies go to the real stdout, prints to stderr.
    out = sys.stdout
    sys.stdout = sys.stderr
    try:
        return serve(sys.stdin, out, sys.stderr)
    finally:
        sys.stdout = out
