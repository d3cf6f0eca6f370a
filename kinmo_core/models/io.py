"""Saving and loading KinMo models: `model.safetensors` + `config.json` in one folder.

`config.json` holds the model class name, the config dataclass as a dict, caller metadata, and the names of tied
weights. safetensors refuses tensors that share memory, so only the first name of each group of tied tensors is
stored and the others are listed under "tied" and restored on load. Both files are written atomically (temporary
file in the same folder, then os.replace; weights first, config last, so a folder with a config is complete).
Loading checks names and shapes against a freshly built model and raises KinmoModelError for anything wrong.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.fileio import atomic_output

WEIGHTS_NAME: str = "model.safetensors"
CONFIG_NAME: str = "config.json"
CHECKPOINT_FORMAT_VERSION: int = 1

M = TypeVar("M", bound=nn.Module)


def _config_dict(cfg: Any) -> dict:
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    raise KinmoInputError(f"config must be a dataclass or have to_dict(), got {type(cfg).__name__}")


def _storage_key(t: torch.Tensor) -> tuple[int, int, tuple[int, ...], tuple[int, ...]]:
    return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))


def split_tied(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Return (tensors to store, {alias: stored name}) with every group of identical views stored once."""
    stored: dict[str, torch.Tensor] = {}
    tied: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for name, t in state.items():
        key = _storage_key(t)
        if t.numel() > 0 and key in seen:
            tied[name] = seen[key]
            continue
        seen[key] = name
        # A view into a larger buffer (or a partial overlap) would still trip safetensors: store a compact copy.
        stored[name] = t.detach().contiguous().clone()
    return stored, tied


def save_pretrained(model: nn.Module, cfg: Any, directory: str | os.PathLike, extra_meta: dict | None = None,
                    overwrite: bool = False) -> Path:
    """Write model weights and config to `directory` (created if needed); return the folder."""
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise KinmoInputError(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    weights, config = folder / WEIGHTS_NAME, folder / CONFIG_NAME
    if not overwrite and (weights.exists() or config.exists()):
        raise KinmoInputError(f"{folder} already holds a model (pass overwrite=True to replace it)")
    stored, tied = split_tied(model.state_dict())
    meta = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "model": type(model).__name__,
        "config": _config_dict(cfg),
        "tied": tied,
        "meta": extra_meta or {},
    }
    try:
        text = json.dumps(meta, indent=2, sort_keys=True)
    except TypeError as exc:
        raise KinmoInputError(f"extra_meta must be JSON-serialisable: {exc}") from None
    with atomic_output(weights, overwrite=overwrite) as tmp:
        # save_file makes a fresh private file in place of the temporary one: write the bytes into it instead.
        tmp.write_bytes(safetensors_bytes(stored, metadata={"format": "pt"}))
    with atomic_output(config, overwrite=overwrite) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return folder


def read_config(directory: str | os.PathLike) -> dict:
    """Return the parsed config.json of a saved model folder; KinmoModelError if missing or damaged."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise KinmoModelError(f"no {CONFIG_NAME} in {directory}: not a saved KinMo model")
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise ValueError("missing 'config' object")
    except (OSError, ValueError) as exc:
        raise KinmoModelError(f"damaged {path}: {exc}") from None
    if int(meta.get("format_version", 1)) > CHECKPOINT_FORMAT_VERSION:
        raise KinmoModelError(f"{path} has checkpoint format {meta['format_version']}; this KinMo reads up to "
                              f"{CHECKPOINT_FORMAT_VERSION}")
    return meta


def load_pretrained(cls: type[M], cfg_cls: type, directory: str | os.PathLike) -> M:
    """Build cls(cfg_cls(**config)) and load its weights from `directory`; KinmoModelError for any mismatch."""
    meta = read_config(directory)
    if meta.get("model") not in (None, cls.__name__):
        raise KinmoModelError(f"{directory} holds a {meta['model']}, not a {cls.__name__}")
    known = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(meta["config"]) - known)
    if unknown:
        raise KinmoModelError(f"{directory}: config has fields {cls.__name__} does not know: {', '.join(unknown)}")
    try:
        cfg = cfg_cls(**meta["config"])
        model = cls(cfg)
    except (TypeError, ValueError) as exc:
        raise KinmoModelError(f"{directory}: cannot build {cls.__name__} from its config: {exc}") from None
    weights = Path(directory) / WEIGHTS_NAME
    if not weights.is_file():
        raise KinmoModelError(f"no {WEIGHTS_NAME} in {directory}")
    try:
        stored = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise KinmoModelError(f"damaged weights file {weights}: {exc}") from None
    tied = meta.get("tied", {})
    for alias, source in tied.items():
        if source not in stored:
            raise KinmoModelError(f"{weights}: tied weight {alias} points at missing {source}")
        stored[alias] = stored[source]
    expected = model.state_dict()
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    if missing or extra:
        raise KinmoModelError(f"{weights} does not fit {cls.__name__}: missing {missing[:5]}, unexpected {extra[:5]}")
    wrong = [f"{k} {tuple(stored[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if tuple(stored[k].shape) != tuple(v.shape)]
    if wrong:
        raise KinmoModelError(f"{weights} has wrong shapes: {'; '.join(wrong[:5])}")
    bad = [k for k, v in stored.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise KinmoModelError(f"{weights} holds NaN or infinite values in {', '.join(bad[:5])}")
    model.load_state_dict({k: stored[k].to(expected[k].dtype) for k in expected}, strict=True)
    return model.eval()


def model_version(model: nn.Module, cfg: Any) -> str:
    """Return a SHA-256 hex digest of a model's config and weights (what a retrieval index was built with)."""
    h = hashlib.sha256(json.dumps(_config_dict(cfg), sort_keys=True).encode())
    stored, tied = split_tied(model.state_dict())
    for name in sorted(stored):
        t = stored[name].cpu()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    h.update(json.dumps(tied, sort_keys=True).encode())
    return h.hexdigest()
