"""Resumable training checkpoints: safetensors for tensors, JSON for everything else, never pickle.

    OUT/checkpoints/step-00000200/
        model.safetensors   the model's state (tied weights stored once, as kinmo_core.models.io does)
        optim.safetensors   every tensor of the optimiser state, named "<param index>.<key>"
        state.json          step, schedule, optimiser structure (param groups, non-tensor state), RNG states and
                            data-sampler positions of every rank, trainer extras

A checkpoint is written into a hidden temporary folder beside the others, flushed to disk, and renamed into place in
one step, so a folder named step-* is always complete; older ones are renamed away before they are deleted, so a kill
at any moment leaves the newest complete checkpoint readable.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from kinmo_core.errors import KinmoInputError
from kinmo_core.models.io import split_tied

CHECKPOINT_KIND = "kinmo-training-checkpoint"
CHECKPOINT_VERSION = 1
_STEP_DIR = re.compile(r"^step-(\d{8})$")


# ------------------------------------------------------------------------------------------------ RNG states as JSON


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().contiguous().numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8).clone()


def rng_state(obj: Any) -> dict:
    """A JSON-ready state of a torch.Generator, numpy Generator or random.Random."""
    if isinstance(obj, torch.Generator):
        return {"type": "torch", "state": _b64(obj.get_state())}
    if isinstance(obj, np.random.Generator):
        return {"type": "numpy", "state": obj.bit_generator.state}
    if isinstance(obj, random.Random):
        version, internal, gauss = obj.getstate()
        return {"type": "python", "state": [version, list(internal), gauss]}
    raise TypeError(f"cannot checkpoint a {type(obj).__name__}")


def set_rng_state(obj: Any, state: dict) -> None:
    """Restore a state written by rng_state into obj (same type)."""
    if isinstance(obj, torch.Generator):
        obj.set_state(_unb64(state["state"]))
    elif isinstance(obj, np.random.Generator):
        obj.bit_generator.state = state["state"]
    elif isinstance(obj, random.Random):
        version, internal, gauss = state["state"]
        obj.setstate((version, tuple(internal), gauss))
    else:
        raise TypeError(f"cannot restore a {type(obj).__name__}")


def global_rng_state(device: torch.device) -> dict:
    """The process-wide RNG states: torch (and the accelerator's), numpy's legacy global, python's random."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    out = {"torch": _b64(torch.get_rng_state()),
           "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
           "python": [version, list(internal), gauss]}
    if device.type == "cuda":
        out["cuda"] = _b64(torch.cuda.get_rng_state(device))
    return out


def set_global_rng_state(state: dict, device: torch.device) -> None:
    """Restore what global_rng_state returned."""
    torch.set_rng_state(_unb64(state["torch"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(_unb64(state["cuda"]), device)


# ------------------------------------------------------------------------------------------------ optimiser state


def optimizer_to_safetensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimiser's state_dict into named tensors and a JSON-ready structure."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    state: dict[str, dict] = {}
    for idx, entries in sd["state"].items():
        row: dict[str, Any] = {}
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                name = f"{idx}.{key}"
                tensors[name] = value.detach().cpu().contiguous()
                row[key] = {"tensor": name}
            else:
                row[key] = {"value": value}
        state[str(idx)] = row
    return tensors, {"state": state, "param_groups": sd["param_groups"]}


def optimizer_from_safetensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], structure: dict) -> None:
    """Load what optimizer_to_safetensors wrote into opt (tensors follow the parameters' devices)."""
    state = {}
    for idx, row in structure["state"].items():
        state[int(idx)] = {k: (tensors[v["tensor"]] if "tensor" in v else v["value"]) for k, v in row.items()}
    opt.load_state_dict({"state": state, "param_groups": structure["param_groups"]})


# ------------------------------------------------------------------------------------------------ folders


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def list_checkpoints(folder: str | os.PathLike) -> list[Path]:
    """Complete checkpoints in a folder, oldest first."""
    root = Path(folder)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _STEP_DIR.match(p.name) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: p.name)


def find_checkpoint(path: str | os.PathLike) -> Path:
    """The checkpoint to resume from: a step folder itself, or the newest in a checkpoints folder or run folder."""
    p = Path(path)
    if (p / "state.json").is_file():
        return p
    for folder in (p, p / "checkpoints"):
        found = list_checkpoints(folder)
        if found:
            return found[-1]
    raise KinmoInputError(f"--resume {p}: no checkpoint there (expected step-NNNNNNNN folders with state.json)")


def save_checkpoint(folder: str | os.PathLike, step: int, model_state: dict[str, torch.Tensor],
                    opt: torch.optim.Optimizer, state: dict, keep: int = 2) -> Path:
    """Write checkpoint `step` atomically into folder and keep the newest `keep`; return its path."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-step-{step:08d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    stored, tied = split_tied({k: v.detach().cpu() for k, v in model_state.items()})
    _write(tmp / "model.safetensors", safetensors_bytes(stored, metadata={"format": "pt"}))
    opt_tensors, opt_structure = optimizer_to_safetensors(opt)
    _write(tmp / "optim.safetensors", safetensors_bytes(opt_tensors, metadata={"format": "pt"}))
    meta = {"kind": CHECKPOINT_KIND, "format_version": CHECKPOINT_VERSION, "step": step, "tied": tied,
            "optimizer": opt_structure, **state}
    _write(tmp / "state.json", (json.dumps(meta) + "\n").encode("utf-8"))
    _fsync_dir(tmp)
    if final.exists():  # the same step saved again (a resumed run): move the old one out of the way first
        old = root / f".old-{final.name}-{os.getpid()}"
        final.rename(old)
        shutil.rmtree(old, ignore_errors=True)
    tmp.rename(final)
    _fsync_dir(root)
    for old in list_checkpoints(root)[:-keep] if keep > 0 else []:
        trash = root / f".trash-{old.name}-{os.getpid()}"
        old.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
    return final


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict]:
    """Return (model state, optimiser tensors, state.json) of a checkpoint folder."""
    p = Path(path)
    try:
        meta = json.loads((p / "state.json").read_text(encoding="utf-8"))
        if meta.get("kind") != CHECKPOINT_KIND:
            raise ValueError(f"not a {CHECKPOINT_KIND}")
        model = load_file(str(p / "model.safetensors"))
        optim = load_file(str(p / "optim.safetensors"))
    except (OSError, ValueError, SafetensorError) as exc:
        raise KinmoInputError(f"{p}: not a readable training checkpoint ({exc})") from None
    for alias, source in meta.get("tied", {}).items():
        model[alias] = model[source]
    return model, optim, meta
