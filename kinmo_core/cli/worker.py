"""`kinmo worker`: a persistent process answering JSON-lines requests on stdin/stdout (used by the Blender add-on).

Protocol (one JSON object per line, UTF-8):
- on start the worker prints {"event": "ready", "protocol": 1, "version": ..., "methods": [...], "limits": {...},
  "allowed_dirs": [...]};
- request: {"id": <int or str>, "method": <name>, "params": {...}};
- progress while working: {"id": ..., "progress": <0..1>, "message": <str>};
- reply: {"id": ..., "result": {...}} or {"id": ..., "error": {"type": <kind>, "message": <one line>}} where kind is
  "input" (bad input), "model", "environment" (a package is missing), "system" (the operating system failed: disk
  full, file too large, out of memory), "cancelled", "unknown_method", "protocol" or "internal";
- cancel (a notification, no reply of its own): {"method": "cancel", "params": {"id": <request id>}}: the running
  request stops at its next progress point and replies with a "cancelled" error;
- {"method": "shutdown"} (or end of input) stops the worker.

Every line gets an answer and the worker keeps serving: a line that is not a JSON object, is longer than
MAX_LINE_CHARS (8 Mi characters), nests deeper than MAX_DEPTH (64), or carries an `id` that is not an integer or a
string (at most MAX_ID_CHARS characters) gets a "protocol" error with "id": null; a malformed cancel too. A request
without an id is answered with "id": null.

Params are checked by type before a handler runs: a method registers its params with `@method(name, params={...})`
(`Param(int, default=0, lo=..., hi=...)`, see `validate_params`), so `"seed": "abc"` or `"rig": 5` is an "input"
error, never "internal". Unknown param names are ignored (clients may be newer than the worker).

Output paths: a request may name an output (`out`) only inside the folders given at start-up with
`kinmo worker --allow-dir DIR` (repeatable; default: the system temporary folder). `..` is refused, symbolic links
are resolved before the check, and parent folders are never created outside those folders (`Context.output_file`,
`Context.output_folder`). Outputs are checked before any work starts. Without `out` a method writes into a new
temporary folder of its own.

New methods register with `@method("name", params=...)` (a function (params, ctx) -> dict). Requests run one at a
time, in order; a reader thread keeps reading so cancels arrive while one runs.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import queue
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kinmo_core.errors import KinmoInputError
from kinmo_core.limits import check_seed, short

PROTOCOL = 1

MAX_LINE_CHARS: int = 8 * 2**20
"""Longest request line read (characters); a longer one is skipped and answered with a protocol error."""

MAX_DEPTH: int = 64
"""Deepest nesting of objects and arrays in a request."""

MAX_ID_CHARS: int = 256
"""Longest string id."""

MAX_STR_CHARS: int = 100_000
"""Longest string or list param unless the method says otherwise."""

_MAX_PENDING_CANCELS = 1024  # cancels for requests not yet seen are kept, but not without bound

METHODS: dict[str, Callable[[dict, Context], dict]] = {}
"""Registered request handlers by method name."""

PARAMS: dict[str, dict[str, Param]] = {}
"""The declared params of each method (checked by `validate_params` before the handler runs)."""


class Cancelled(Exception):
    """Raised inside a handler when its request was cancelled."""


_REQUIRED = object()
_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "an object",
          list: "an array", type(None): "null"}  # fmt: skip


@dataclass(frozen=True)
class Param:
    """One declared param: its JSON type(s), default (absent: required), range, choices and an extra check.

    kind: int, float (ints accepted, must be finite), str, bool, dict, list or a tuple of them (type(None) allows
    null). lo/hi bound numbers; max_len bounds strings and lists; choices lists the allowed values; check(value)
    returns the value to use or raises KinmoInputError.
    """

    kind: type | tuple[type, ...]
    default: Any = _REQUIRED
    lo: float | None = None
    hi: float | None = None
    choices: tuple | None = None
    max_len: int = MAX_STR_CHARS
    check: Callable[[Any], Any] | None = None


def _is(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind)


def check_param(name: str, value: Any, spec: Param) -> Any:
    """Return `value` checked against `spec` (KinmoInputError naming the param when it does not fit)."""
    kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
    if not any(_is(value, k) for k in kinds):
        want = " or ".join(_NAMES.get(k, k.__name__) for k in kinds)
        raise KinmoInputError(f"'{name}' must be {want}, got {short(value)}")
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise KinmoInputError(f"'{name}' must be a finite number, got {value}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if (spec.lo is not None and value < spec.lo) or (spec.hi is not None and value > spec.hi):
            raise KinmoInputError(f"'{name}' must be from {spec.lo:g} to {spec.hi:g}, got {short(value)}"
                                  if spec.lo is not None and spec.hi is not None else
                                  f"'{name}' is out of range ({short(value)})")
    if isinstance(value, str | list) and len(value) > spec.max_len:
        raise KinmoInputError(f"'{name}' is too long ({len(value)} > {spec.max_len})")
    if spec.choices is not None and value not in spec.choices:
        raise KinmoInputError(f"'{name}' must be one of {', '.join(map(str, spec.choices))}, got {short(value)}")
    return spec.check(value) if spec.check is not None else value


def validate_params(params: dict, spec: dict[str, Param]) -> dict:
    """Return params with every declared one checked (defaults filled in); undeclared ones pass through unchanged."""
    out = dict(params)
    for name, p in spec.items():
        if name not in params or (params[name] is None and p.default is not _REQUIRED and p.default is None):
            if p.default is _REQUIRED:
                raise KinmoInputError(f"missing param '{name}'")
            out[name] = p.default
            continue
        out[name] = check_param(name, params[name], p)
    return out


class Context:
    """What a handler gets besides its params: progress reporting, a cancellation check and confined outputs."""

    def __init__(self, request_id: Any, send: Callable[[dict], None], cancelled: Callable[[], bool],
                 allowed_dirs: Sequence[Path] = ()) -> None:
        self.request_id = request_id
        self._send = send
        self._cancelled = cancelled
        self.allowed_dirs = tuple(allowed_dirs)

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

    def _confined(self, value: str, name: str) -> Path:
        """The real path of `value` if it lies inside an allowed folder, else KinmoInputError."""
        if not isinstance(value, str) or not value or "\0" in value:
            raise KinmoInputError(f"'{name}' must be a non-empty path string")
        path = Path(value).expanduser()
        if ".." in path.parts:
            raise KinmoInputError(f"'{name}': '..' is not allowed in output paths ({short(value, 200)})")
        real = Path(os.path.realpath(path))  # symbolic links resolved: a link cannot lead outside
        for root in self.allowed_dirs:
            if real == root or real.is_relative_to(root):
                return real
        dirs = ", ".join(str(d) for d in self.allowed_dirs) or "(none)"
        raise KinmoInputError(f"'{name}': {short(value, 200)} is outside the folders this worker may write to "
                              f"({dirs}); start it with --allow-dir")

    def output_file(self, value: str, name: str = "out", suffix: str | None = None) -> Path:
        """Check an output file before work: inside an allowed folder, parent exists, file does not exist yet."""
        path = self._confined(value, name)
        if suffix is not None and path.suffix.lower() != suffix:
            raise KinmoInputError(f"'{name}' must end in {suffix}, got {short(value, 200)}")
        if path.exists():
            raise KinmoInputError(f"{path}: already exists (the worker never replaces a file)")
        if not path.parent.is_dir():
            raise KinmoInputError(f"'{name}': the folder {path.parent} does not exist")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise KinmoInputError(f"'{name}': no permission to write in {path.parent}")
        return path

    def output_folder(self, value: str, name: str = "out", names: Iterable[str] = ()) -> Path:
        """Check an output folder before work (inside an allowed folder; `names` must not exist in it); create it."""
        from kinmo_core.fileio import check_output_folder

        folder = self._confined(value, name)
        if folder.exists() and not folder.is_dir():
            raise KinmoInputError(f"{folder}: exists and is not a folder")
        check_output_folder(folder)
        clash = [n for n in names if (folder / n).exists()]
        if clash:
            raise KinmoInputError(f"{folder / clash[0]}: already exists (the worker never replaces a file)")
        folder.mkdir(parents=True, exist_ok=True)  # inside an allowed folder, checked above
        return folder

    def output_folder_or_temp(self, value: str | None, names: Iterable[str], prefix: str) -> Path:
        """The checked output folder named by `value`, or a new temporary folder when the client named none."""
        if value:
            return self.output_folder(value, "out", names)
        return Path(tempfile.mkdtemp(prefix=prefix))


def method(name: str, params: dict[str, Param] | None = None
           ) -> Callable[[Callable[[dict, Context], dict]], Callable[[dict, Context], dict]]:
    """Register a request handler under `name`; `params` declares the params checked before it runs."""

    def add(fn: Callable[[dict, Context], dict]) -> Callable[[dict, Context], dict]:
        METHODS[name] = fn
        PARAMS[name] = dict(params or {})
        return fn

    return add


def _text(value: str) -> str:
    from kinmo_core.pipeline import clean_text

    return clean_text(value)


def _descriptions(value: dict) -> dict:
    from kinmo_core.motion.file import normalize_descriptions

    d = normalize_descriptions(value, where="'descriptions'")
    if d is None or not any(v.strip() for section in d.values() for v in section.values()):
        raise KinmoInputError("'descriptions' are all empty; leave them out to let the Motion Reasoner write them")
    return d


_SEED = Param(int, default=0, check=check_seed)
_MODEL = Param((str, type(None)), default=None, max_len=4096)
def _device(value: str) -> str:
    from kinmo_core.pipeline import resolve_device

    resolve_device(value)  # the one device check: KinmoInputError for a name torch does not know or lacks
    return value


_DEVICE = Param(str, default="cpu", max_len=32, check=_device)
_TEXT = Param(str, max_len=10_000, check=_text)


@method("ping", params={"echo": Param(object, default=None)})
def _ping(params: dict, ctx: Context) -> dict:
    """Answer with the worker's versions, so a client can check its environment."""
    import platform

    import numpy as np

    from kinmo_core import __version__

    return {"pong": True, "kinmo": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "echo": params["echo"]}  # fmt: skip


@method("load_motion", params={
    "path": Param(str, max_len=4096), "rig": Param((str, type(None)), default=None, max_len=200),
    "as": Param(str, default="npz", choices=("npz", "fields")), "out": Param((str, type(None)), default=None,
                                                                             max_len=4096),
})  # fmt: skip
def _load_motion(params: dict, ctx: Context) -> dict:
    """Read a motion (.npz, .bvh, .npy) onto KinMo's skeleton; reply with the contract fields or a converted .npz.

    params: path (required); rig (BVH rig preset, optional); as: "npz" (default: write a converted .npz and reply
    with its path) or "fields" (reply with the contract fields as lists); out: where to write the .npz (inside an
    allowed folder, must not exist; default: a new file in a temporary folder).
    """
    from kinmo_core.motion.file import load_motion

    path = params["path"]
    if not path:
        raise KinmoInputError("load_motion needs a 'path' string")
    mode = params["as"]
    target = ctx.output_file(params["out"], "out", suffix=".npz") if params["out"] and mode == "npz" else None
    ctx.progress(0.0, f"reading {Path(path).name}")
    motion = load_motion(path, rig=params["rig"])
    ctx.progress(0.8, "converted")
    summary = {"frames": motion.num_frames, "fps": motion.fps, "text": motion.text, "source": motion.source}
    if mode == "fields":
        arrays = motion.arrays()
        return {**summary, "fields": {k: v.tolist() for k, v in arrays.items()}}
    if target is None:
        folder = Path(tempfile.mkdtemp(prefix="kinmo-worker-"))
        target = folder / (Path(path).stem + ".npz")
    motion.save(target, overwrite=False)  # never replaces a user's file (atomic no-clobber)
    return {**summary, "path": str(target)}


_PIPELINES: dict[str, Any] = {}


def _pipeline(params: dict):
    """The worker's pipeline for params['model'] (the packaged default when absent), loaded once per process."""
    from kinmo_core.pipeline import KinMoPipeline

    model, device = params["model"], params["device"]
    key = f"{model or ''}|{device}"
    if key not in _PIPELINES:
        _PIPELINES[key] = KinMoPipeline.from_pretrained(model or None, device=device)
    return _PIPELINES[key]


@method("load_model", params={"model": _MODEL, "device": _DEVICE})
def _load_model(params: dict, ctx: Context) -> dict:
    """Load the pipeline (and its text encoder) ahead of the first request, so the first Generate does not wait.

    params: model (pipeline folder, default: the packaged model); device ("cpu"). Reply: {"loaded": true,
    "seconds": time spent here, "cached": true when it was already loaded}.
    """
    import time

    t0 = time.perf_counter()
    cached = f"{params['model'] or ''}|{params['device']}" in _PIPELINES
    ctx.progress(0.05, "loading the model")
    pipe = _pipeline(params)
    ctx.progress(0.7, "loading the text encoder")
    # One short generation runs every part once (text encoder, reasoner, transformers, decoder), so their lazy
    # set-up is paid now and not by the user's first Generate.
    if not cached:
        pipe.generate(["a person walks forward"], frames=20, seed=0)
    ctx.progress(1.0, "model ready")
    return {"loaded": True, "cached": cached, "seconds": round(time.perf_counter() - t0, 3)}


@method("expand", params={"text": _TEXT, "seed": _SEED, "model": _MODEL, "device": _DEVICE})
def _expand(params: dict, ctx: Context) -> dict:
    """Run the Motion Reasoner on a prompt: reply {"descriptions": {"groups": {...}, "interactions": {...}}}.

    params: text (required); seed (default 0); model (pipeline folder, default: the packaged model).
    """
    ctx.progress(0.0, "loading the model")
    pipe = _pipeline(params)
    ctx.progress(0.5, "writing part descriptions")
    return {"descriptions": pipe.expand([params["text"]], seed=params["seed"])[0]}


def _constraints(value: Any) -> Any:
    """Validate spatial constraints (kinmo_core.control's file format) before any model loads."""
    if value is not None:
        from kinmo_core.control import parse_constraints

        parse_constraints(value)
    return value


GENERATE_PARAMS: dict[str, Param] = {
    "text": _TEXT, "seed": _SEED, "model": _MODEL, "device": _DEVICE,
    "num": Param(int, default=1, lo=1, hi=64),
    "seconds": Param((float, type(None)), default=None, lo=0.0, hi=3600.0),
    "frames": Param((int, type(None)), default=None, lo=0, hi=100_000),
    "levels": Param((int, type(None)), default=None, choices=(None, 1, 2, 3)),
    "descriptions": Param((dict, type(None)), default=None, check=_descriptions),
    "out": Param((str, type(None)), default=None, max_len=4096),
    "bvh": Param(bool, default=True),
    "constraints": Param((dict, list, type(None)), default=None, check=_constraints),
    "control_method": Param((str, type(None)), default=None,
                            choices=(None, "branch+ik", "branch", "ik", "guidance+ik", "guidance")),
    "loop": Param(bool, default=False),
    "cleanup": Param(bool, default=True),
}  # fmt: skip
"""The params of `generate` (methods that extend generation can start from these)."""


@method("generate", params=GENERATE_PARAMS)
def _generate(params: dict, ctx: Context) -> dict:
    """Generate motion from a prompt and write it as .npz (+ .bvh); reply with the paths and the descriptions used.

    params: text (required); seconds or frames (default: estimated); seed (0); num (1 to 64); levels (the model's);
    descriptions (an object as in descriptions.json, e.g. edited after `expand`); model (pipeline folder); out (a
    folder inside an allowed folder to write motion_<k>.npz / .bvh into, must not hold them yet; default: a new
    temporary folder); bvh (true); loop (false: a seamless loop); cleanup (true: feet locked where planted, on
    the floor, no standing jitter; false: the decoder's motion as it is); constraints (spatial control: a control file's
    object or its list, see kinmo_core.control) and control_method ("branch+ik", the default for a model with the
    control branch, "branch", "ik", the default otherwise, "guidance+ik" or "guidance"): with constraints the reply
    adds "control" (per motion: placement and residual error per constraint) and
    "warnings" (e.g. a target out of reach, with its residual).
    """
    from kinmo_core.pipeline import frames_for

    num = params["num"]
    frames_for(params["seconds"], params["frames"])  # the length's range, before the model loads
    names = [f"motion_{k:03d}.{ext}" for k in range(num) for ext in (("npz", "bvh") if params["bvh"] else ("npz",))]
    # The output is checked (and made) before the model works: a refused request costs nothing.
    folder = ctx.output_folder_or_temp(params["out"], names, "kinmo-generate-")
    ctx.progress(0.0, "loading the model")
    pipe = _pipeline(params)
    ctx.progress(0.2, "generating")
    extra: dict = {}
    control_warnings: list[str] = []
    if params["constraints"] is not None:
        if params["loop"]:
            raise KinmoInputError("'loop' cannot be combined with 'constraints'")
        import warnings

        from kinmo_core.control.generate import generate_controlled
        from kinmo_core.motion.file import normalize_descriptions

        d = normalize_descriptions(params["descriptions"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            motions, reports = generate_controlled(
                pipe, [params["text"]] * num, params["constraints"],
                frames=frames_for(params["seconds"], params["frames"]), seed=params["seed"],
                levels=params["levels"], descriptions=[d] * num, method=params["control_method"])
        extra = {"control": reports}
        control_warnings = [str(w.message) for w in caught]
    else:
        motions = pipe(params["text"], seconds=params["seconds"], frames=params["frames"], seed=params["seed"],
                       levels=params["levels"], descriptions=params["descriptions"], num=num, loop=params["loop"],
                       cleanup=params["cleanup"])
    motions = motions if isinstance(motions, list) else [motions]
    paths, bvhs = [], []
    for k, m in enumerate(motions):
        ctx.progress(0.8 + 0.2 * k / len(motions), "writing files")
        paths.append(str(m.save(folder / f"motion_{k:03d}.npz", overwrite=False)))
        if params["bvh"]:
            bvhs.append(str(m.to_bvh(folder / f"motion_{k:03d}.bvh", overwrite=False)))
    return {"paths": paths, "bvh_paths": bvhs, "frames": motions[0].num_frames, "fps": motions[0].fps,
            "text": motions[0].text, "descriptions": motions[0].descriptions,
            "warnings": [w for w in pipe.prompt_warnings([params["text"]]) if w] + control_warnings, **extra}


@method("check_prompts", params={"prompts": Param(list, max_len=10_000), "model": _MODEL})
def _check_prompts(params: dict, ctx: Context) -> dict:
    """Check prompts before any generation: reply per prompt a problem ("" when fine) and a warning ("" when none).

    params: prompts (required: a list of {"text": str, "seconds": number or null}); model (pipeline folder whose
    training captions judge the scope; default: the packaged model). Problems are what `generate` would refuse
    (empty text, a length out of range); warnings are prompts cut to the word limit or far from the training
    captions. No generation model is loaded, only the sentence encoder.
    """
    import warnings

    from kinmo_core.pipeline import DEFAULT_PATH, clean_text, frames_for, minilm_encode
    from kinmo_core.text.scope import PromptScope, scope_warning

    prompts = params["prompts"]
    if not all(isinstance(p, dict) for p in prompts):
        raise KinmoInputError("'prompts' must be a list of {\"text\": ..., \"seconds\": ...} objects")
    model = params["model"]
    problems, notes, texts = [], [], []
    for p in prompts:
        problem, note, text = "", "", None
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                text = clean_text(p.get("text"))
            note = "; ".join(str(w.message) for w in caught)
            if p.get("seconds") is not None:
                frames_for(seconds=p["seconds"])
        except KinmoInputError as e:
            problem = str(e)
        problems.append(problem)
        notes.append(note)
        texts.append(text)
    ctx.progress(0.3, "checking the prompts against the training captions")
    scope = PromptScope.load(model or DEFAULT_PATH, encode=minilm_encode)
    scores: list[float | None] = [None] * len(prompts)
    if scope is not None:
        judged = [i for i, t in enumerate(texts) if t is not None]
        for i, s in zip(judged, scope.scores([texts[i] for i in judged]), strict=True):
            notes[i] = "; ".join(x for x in (notes[i], scope_warning(texts[i], s, scope.threshold)) if x)
            scores[i] = round(float(s), 4)
    return {"problems": problems, "warnings": notes, "scores": scores,
            "threshold": scope.threshold if scope is not None else None}


def _parts(value):
    from kinmo_core.editing.edit import check_parts

    return check_parts(value)


EDIT_PARAMS: dict[str, Param] = {
    "path": Param(str, max_len=4096), "text": _TEXT, "seed": _SEED, "model": _MODEL, "device": _DEVICE,
    "rig": Param((str, type(None)), default=None, max_len=200),
    "frames": Param((list, type(None)), default=None, max_len=2),
    "parts": Param((list, str, type(None)), default=None, max_len=200, check=_parts),
    "num": Param(int, default=1, lo=1, hi=16),
    "out": Param((str, type(None)), default=None, max_len=4096),
    "bvh": Param(bool, default=True),
}  # fmt: skip


@method("edit", params=EDIT_PARAMS)
def _edit(params: dict, ctx: Context) -> dict:
    """Re-prompt a frame range or body parts of a motion file; reply with the written paths and what was edited.

    params: path (motion .npz/.bvh/.npy, required); text (required); frames ([start, stop], half-open 20 fps frame
    indices; default all); parts (list of group keys, "auto", or absent for the whole body); seed (0); num (1 to
    16); rig (BVH rig); model; out (a folder inside an allowed folder for edit_<k>.npz / .bvh, must not hold them
    yet; default: a new temporary folder); bvh (true).
    """
    from kinmo_core.editing.edit import edit_motion
    from kinmo_core.motion.file import load_motion

    frames = params["frames"]
    if frames is not None and (len(frames) != 2 or not all(isinstance(f, int) and not isinstance(f, bool)
                                                            for f in frames)):
        raise KinmoInputError("'frames' must be [start, stop], two integers")
    num = params["num"]
    names = [f"edit_{k:03d}.{ext}" for k in range(num) for ext in (("npz", "bvh") if params["bvh"] else ("npz",))]
    folder = ctx.output_folder_or_temp(params["out"], names, "kinmo-edit-")
    ctx.progress(0.0, f"reading {Path(params['path']).name}")
    motion = load_motion(params["path"], rig=params["rig"])
    ctx.progress(0.1, "loading the model")
    pipe = _pipeline(params)
    ctx.progress(0.3, "editing")
    res = edit_motion(pipe, motion, params["text"], frames=tuple(frames) if frames else None, parts=params["parts"],
                      seed=params["seed"], num=num)
    paths, bvhs = [], []
    for m in res.motions:
        ctx.progress(0.9, "writing files")
        paths.append(str(m.save(folder / f"edit_{len(paths):03d}.npz", overwrite=False)))
        if params["bvh"]:
            bvhs.append(str(m.to_bvh(folder / f"edit_{len(bvhs):03d}.bvh", overwrite=False)))
    return {"paths": paths, "bvh_paths": bvhs, "frames": list(res.frames), "parts": list(res.parts),
            "num_frames": res.motions[0].num_frames, "fps": res.motions[0].fps, "descriptions": res.descriptions}


COMPOSE_PARAMS: dict[str, Param] = {
    "timeline": Param((dict, type(None)), default=None), "path": Param((str, type(None)), default=None, max_len=4096),
    "seed": _SEED, "model": _MODEL, "device": _DEVICE,
    "out": Param((str, type(None)), default=None, max_len=4096),
    "bvh": Param(bool, default=True),
}  # fmt: skip


@method("compose", params=COMPOSE_PARAMS)
def _compose(params: dict, ctx: Context) -> dict:
    """Generate a timeline (segments and part tracks, see `kinmo compose`) into one motion; reply with the paths.

    params: timeline (an object {"segments": [...], "tracks": [...]}) or path (a timeline .json); seed (0); model;
    out (a folder inside an allowed folder for timeline.npz / .bvh, must not hold them yet; default: a new temporary
    folder); bvh (true).
    """
    from kinmo_core.editing.timeline import compose, load_timeline, parse_timeline

    if params["timeline"] is not None:
        parsed = parse_timeline(params["timeline"])
    elif params["path"] is not None:
        parsed = load_timeline(params["path"])
    else:
        raise KinmoInputError("compose needs a 'timeline' object or a 'path' to a timeline .json")
    names = ["timeline.npz"] + (["timeline.bvh"] if params["bvh"] else [])
    folder = ctx.output_folder_or_temp(params["out"], names, "kinmo-compose-")
    ctx.progress(0.0, "loading the model")
    pipe = _pipeline(params)
    ctx.progress(0.2, "composing")
    res = compose(pipe, parsed, seed=params["seed"])
    ctx.progress(0.9, "writing files")
    path = str(res.motion.save(folder / "timeline.npz", overwrite=False))
    bvh = str(res.motion.to_bvh(folder / "timeline.bvh", overwrite=False)) if params["bvh"] else None
    return {"path": path, "bvh_path": bvh, "frames": res.motion.num_frames, "fps": res.motion.fps,
            "segments": len(res.segments), "tracks": len(res.tracks)}


def _error(kind: str, message: str) -> dict:
    return {"type": kind, "message": " ".join(str(message).split())[:2000] or kind}


def _valid_id(rid: Any) -> bool:
    if isinstance(rid, bool):
        return False
    return isinstance(rid, int) or (isinstance(rid, str) and len(rid) <= MAX_ID_CHARS)


def _too_deep(obj: Any, limit: int) -> bool:
    """True if objects/arrays nest deeper than `limit` (walked with a stack, never recursion)."""
    stack = [(obj, 1)]
    while stack:
        o, depth = stack.pop()
        children = o.values() if isinstance(o, dict) else o if isinstance(o, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children)
    return False


class _ClientGone(Exception):
    """stdout is closed: nobody can read replies any more."""


def default_allowed_dirs() -> list[Path]:
    """The folders a worker may write to when none are given: the system temporary folder."""
    return [Path(tempfile.gettempdir())]


def serve(stdin: IO[str], stdout: IO[str], stderr: IO[str] | None = None,
          allowed_dirs: Sequence[str | os.PathLike] | None = None) -> int:
    """Answer requests from stdin on stdout until end of input or a shutdown request; return the exit code."""
    from kinmo_core import __version__
    from kinmo_core.errors import KinmoModelError

    roots = [Path(os.path.realpath(d)) for d in (default_allowed_dirs() if allowed_dirs is None else allowed_dirs)]
    lock = threading.Lock()
    cancelled: collections.OrderedDict = collections.OrderedDict()
    inbox: queue.Queue = queue.Queue()

    def send(obj: dict) -> None:
        try:
            line = json.dumps(obj, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, RecursionError) as e:  # a handler's result that JSON cannot carry
            line = json.dumps({"id": obj.get("id"), "error": _error("internal", f"the reply is not JSON ({e})")})
        try:
            with lock:
                stdout.write(line + "\n")
                stdout.flush()
        except (OSError, ValueError) as e:
            raise _ClientGone(str(e)) from None

    def log(text: str) -> None:
        if stderr is not None:
            try:
                stderr.write(text.rstrip("\n") + "\n")
                stderr.flush()
            except (OSError, ValueError):
                pass

    def protocol_error(message: str, rid: Any = None) -> None:
        send({"id": rid, "error": _error("protocol", message)})

    def handle_line(raw: str) -> bool:
        """Parse one line and queue it (or record a cancel); False after a shutdown request."""
        raw = raw.strip()
        if not raw:
            return True
        try:
            msg = json.loads(raw)
        except RecursionError:
            protocol_error(f"the line nests deeper than {MAX_DEPTH} levels")
            return True
        except ValueError as e:
            protocol_error(f"not a JSON object line ({e})")
            return True
        if not isinstance(msg, dict):
            protocol_error(f"a request must be a JSON object, got {type(msg).__name__}")
            return True
        rid = msg.get("id")
        if rid is not None and not _valid_id(rid):
            protocol_error(f"'id' must be an integer or a string of at most {MAX_ID_CHARS} characters, "
                           f"got {short(rid)}")
            return True
        if _too_deep(msg, MAX_DEPTH):
            protocol_error(f"the request nests deeper than {MAX_DEPTH} levels", rid)
            return True
        name = msg.get("method")
        if not isinstance(name, str):
            protocol_error(f"'method' must be a string, got {short(name)}", rid)
            return True
        if name == "cancel":
            params = msg.get("params")
            target = params.get("id") if isinstance(params, dict) else None
            if target is None or not _valid_id(target):
                protocol_error('cancel needs params {"id": <the request id, an integer or a string>}', rid)
                return True
            with lock:
                cancelled[target] = True
                while len(cancelled) > _MAX_PENDING_CANCELS:
                    cancelled.popitem(last=False)
            return True
        inbox.put(msg)
        return name != "shutdown"

    def read() -> None:
        try:
            while True:
                try:
                    raw = stdin.readline(MAX_LINE_CHARS + 1)
                except (OSError, ValueError):
                    return
                if not raw:
                    return
                if len(raw) > MAX_LINE_CHARS:
                    # Skip the rest of the over-long line without holding it, then say so.
                    while raw and not raw.endswith("\n"):
                        raw = stdin.readline(MAX_LINE_CHARS)
                    protocol_error(f"the line is longer than {MAX_LINE_CHARS} characters")
                    continue
                try:
                    if not handle_line(raw):
                        return
                except _ClientGone:
                    return
                except Exception as e:  # the reader must survive anything a line does
                    log(traceback.format_exc())
                    protocol_error(f"the line could not be read ({type(e).__name__}: {e})")
        except _ClientGone:
            return
        finally:
            inbox.put(None)

    try:
        send({"event": "ready", "protocol": PROTOCOL, "version": __version__, "methods": sorted(METHODS),
              "limits": {"line_chars": MAX_LINE_CHARS, "depth": MAX_DEPTH, "id_chars": MAX_ID_CHARS},
              "allowed_dirs": [str(r) for r in roots]})  # fmt: skip
    except _ClientGone:
        return 0
    threading.Thread(target=read, name="kinmo-worker-reader", daemon=True).start()
    while True:
        msg = inbox.get()
        if msg is None or msg.get("method") == "shutdown":
            return 0
        rid = msg.get("id")
        try:
            _answer(msg, rid, send, log, lock, cancelled, roots, KinmoModelError)
        except _ClientGone:
            return 0


def _answer(msg: dict, rid: Any, send: Callable[[dict], None], log: Callable[[str], None], lock: threading.Lock,
            cancelled: collections.OrderedDict, roots: list[Path], model_error: type[Exception]) -> None:
    """Run one request and send its reply (or its typed error)."""
    name = msg["method"]
    handler = METHODS.get(name)
    if handler is None:
        send({"id": rid, "error": _error("unknown_method", f"unknown method {short(name, 80)}; known: "
                                                           f"{sorted(METHODS)}")})
        return
    params = msg.get("params")
    params = {} if params is None else params
    if not isinstance(params, dict):
        send({"id": rid, "error": _error("protocol", "params must be an object")})
        return

    def is_cancelled() -> bool:
        with lock:
            return rid in cancelled

    ctx = Context(rid, send, is_cancelled, roots)
    try:
        ctx.check()
        params = validate_params(params, PARAMS.get(name, {}))
        result = handler(params, ctx)
        send({"id": rid, "result": result})
    except _ClientGone:
        raise
    except Cancelled:
        send({"id": rid, "error": _error("cancelled", "cancelled")})
    except (KinmoInputError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
            FileExistsError) as e:
        send({"id": rid, "error": _error("input", _message(e))})
    except model_error as e:
        send({"id": rid, "error": _error("model", str(e))})
    except ImportError as e:  # the worker's environment lacks a package: the user must fix the Python setting
        send({"id": rid, "error": _error("environment", f"the KinMo Python lacks a package: {e}")})
    except (OSError, MemoryError) as e:  # disk full, file too large, I/O error: not the request's fault
        send({"id": rid, "error": _error("system", _message(e) if isinstance(e, OSError) else "out of memory")})
    except Exception as e:  # a bug must not kill the worker: report it, log the traceback on stderr
        log(traceback.format_exc())
        send({"id": rid, "error": _error("internal", f"{type(e).__name__}: {e}")})
    finally:
        with lock:
            cancelled.pop(rid, None)


def _message(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename is not None else e.strerror
    return str(e) or type(e).__name__


def register(subparsers) -> None:
    """Add the `worker` subcommand."""
    p = subparsers.add_parser(
        "worker",
        help="serve JSON-lines requests on stdin/stdout (for the Blender add-on)",
        description="Run a persistent worker answering JSON-lines requests (ping, load_motion, ...) on stdin/stdout.",
    )
    p.add_argument("--allow-dir", action="append", type=Path, default=None, metavar="DIR",
                   help="a folder requests may write outputs into (repeatable; default: the system temporary folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve requests on this process's stdin/stdout."""
    allowed = getattr(args, "allow_dir", None)
    for d in allowed or ():
        if not d.is_dir():
            raise KinmoInputError(f"--allow-dir {d}: not an existing folder")
    try:  # undecodable bytes must not stop the reader: they become U+FFFD and the line a normal error
        sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    except (AttributeError, ValueError, OSError):
        pass
    # Anything a library prints must not corrupt the protocol: replies go to the real stdout, prints to stderr.
    out = sys.stdout
    sys.stdout = sys.stderr
    try:
        return serve(sys.stdin, out, sys.stderr, allowed_dirs=allowed)
    finally:
        sys.stdout = out
