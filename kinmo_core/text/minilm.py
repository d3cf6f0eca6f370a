"""all-MiniLM-L6-v2 in plain PyTorch: KinMo's one MiniLM wrapper for token features and sentence embeddings.

`MiniLM` runs the bundled all-MiniLM-L6-v2 (tokenizers + safetensors, no transformers import), giving the same
embeddings as sentence-transformers while keeping the load of a pipeline under a second; `get_minilm` returns the
process-wide instance; `MiniLMTokenEncoder` gives it `TokenEncoder`'s encode / mean_pool contract.
`kinmo_core.text.encoders` keeps the generic wrappers for any other local Hugging Face encoder.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kinmo_core.errors import KinmoInputError
from kinmo_core.text.encoders import default_model_path

MAX_SEQ_TOKENS: int = 256  # all-MiniLM-L6-v2's max_seq_length


def _minilm_folder(path: str | os.PathLike | None) -> Path:
    if path is None:
        path = default_model_path()
    folder = Path(path)
    for name in ("tokenizer.json", "model.safetensors", "config.json"):
        if not (folder / name).is_file():
            raise KinmoInputError(f"{folder}: not a MiniLM folder (no {name})")
    return folder


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); KINMO_BF16=0/1 overrides."""
    env = os.environ.get("KINMO_BF16", "").strip()
    if env in ("0", "1"):
        return env == "1"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


class MiniLM:
    """all-MiniLM-L6-v2 (a 6-layer BERT) in plain PyTorch: token features and mean-pooled sentence embeddings.

    bf16=True runs the matmuls under bfloat16 autocast: about 3x faster on CPUs with native bfloat16, with sentence
    embeddings within cosine 0.9999 of float32 (measured on part descriptions); used for queries, not for the
    features models are trained or evaluated on.
    """

    def __init__(self, path: str | os.PathLike | None = None, cache_size: int = 100_000,
                 max_tokens: int = MAX_SEQ_TOKENS, bf16: bool = False) -> None:
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        folder = _minilm_folder(path)
        self.folder = folder
        with open(folder / "config.json", encoding="utf-8") as f:
            cfg = json.load(f)
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.dim = int(cfg["hidden_size"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.max_tokens = int(max_tokens)
        self.tokenizer.enable_truncation(self.max_tokens)
        self.bf16 = bool(bf16)
        self.w = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
        self._cache: dict[str, np.ndarray] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def num_tokens(self, text: str) -> int:
        """Return the WordPiece count of text without truncation (special tokens included)."""
        self.tokenizer.no_truncation()
        try:
            return len(self.tokenizer.encode(text).ids)
        finally:
            self.tokenizer.enable_truncation(self.max_tokens)

    def truncated(self, max_tokens: int) -> MiniLM:
        """Return a MiniLM sharing these weights that cuts texts to max_tokens word pieces (specials included)."""
        import copy

        other = copy.copy(self)
        other.tokenizer = copy.deepcopy(self.tokenizer)
        other.max_tokens = int(max_tokens)
        other.tokenizer.enable_truncation(other.max_tokens)
        other._cache = {}
        other._lock = threading.Lock()
        return other

    def mean_pool(self, texts: Sequence[str]) -> torch.Tensor:
        """Return (B, 384) unit-norm mean-pooled token features (uncached; TokenEncoder.mean_pool's contract)."""
        return torch.from_numpy(self.encode(list(texts))) if texts else torch.zeros(0, self.dim)

    def _ln(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, (self.dim,), self.w[f"{name}.weight"], self.w[f"{name}.bias"], self.eps)

    def _lin(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"])

    @torch.no_grad()
    def token_features(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return last hidden states (B, L, 384) float32 and the attention mask (B, L) of texts."""
        texts = list(texts)
        if not texts:
            raise KinmoInputError("no text to encode")
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            x, mask = self._forward(texts)
        return x.float(), mask

    def _forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer.encode_batch(texts)
        n = max(len(e.ids) for e in enc)
        ids = torch.zeros(len(texts), n, dtype=torch.long)
        mask = torch.zeros(len(texts), n, dtype=torch.bool)
        for i, e in enumerate(enc):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
            mask[i, : len(e.ids)] = True
        w = self.w
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n][None]
        x = self._ln(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
        bias = torch.zeros(len(texts), 1, 1, n).masked_fill(~mask[:, None, None], float("-inf"))
        hd = self.dim // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._lin(x, p + f"attention.self.{name}").view(len(texts), n, self.heads, hd).transpose(1, 2)
                       for name in ("query", "key", "value"))
            att = (q @ k.transpose(-1, -2) / math.sqrt(hd) + bias).softmax(-1) @ v
            att = att.transpose(1, 2).reshape(len(texts), n, self.dim)
            x = self._ln(x + self._lin(att, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = F.gelu(self._lin(x, p + "intermediate.dense"))
            x = self._ln(x + self._lin(h, p + "output.dense"), p + "output.LayerNorm")
        return x, mask

    def encode(self, texts: Sequence[str] | str) -> np.ndarray:
        """Return (N, 384) unit-norm sentence embeddings, each distinct string computed once."""
        items = [texts] if isinstance(texts, str) else list(texts)
        if not items:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            found = {t: self._cache[t] for t in items if t in self._cache}
            # Similar lengths share a batch, so little compute goes to padding.
            missing = sorted(dict.fromkeys(t for t in items if t not in found), key=len)
            for s in range(0, len(missing), 64):
                chunk = missing[s:s + 64]
                feats, mask = self.token_features(chunk)
                m = mask[..., None].float()
                emb = F.normalize((feats * m).sum(1) / m.sum(1).clamp_min(1.0), dim=-1).numpy()
                found.update(zip(chunk, emb.astype(np.float32), strict=True))
            if len(self._cache) + len(missing) > self._cache_size:
                self._cache.clear()
            self._cache.update((t, found[t]) for t in missing)
            return np.stack([found[t] for t in items])


_MINILM: dict[str, MiniLM] = {}
_MINILM_LOCK = threading.Lock()


def get_minilm(path: str | os.PathLike | None = None, fast: bool = False) -> MiniLM:
    """Return the process-wide MiniLM for a model folder (the bundled one by default).

    fast=True: the query-time encoder, in bfloat16 where the CPU computes it natively (see `native_bf16`).
    """
    folder = str(_minilm_folder(path))
    bf16 = fast and native_bf16()
    key = f"{folder}|{'bf16' if bf16 else 'fp32'}"
    with _MINILM_LOCK:
        if key not in _MINILM:
            _MINILM[key] = MiniLM(folder, bf16=bf16)
        return _MINILM[key]


class MiniLMTokenEncoder:
    """TokenEncoder's encode / mean_pool contract on MiniLM (for the aligner's text features)."""

    def __init__(self, minilm: MiniLM) -> None:
        self.minilm = minilm

    def encode(self, texts):
        """Return token features (B, L, 384) and mask (B, L)."""
        return self.minilm.token_features(list(texts))

    def mean_pool(self, texts):
        """Return (B, 384) unit-norm mean-pooled features, each distinct text computed once per process.

        Part descriptions recur across prompts (the Reasoner writes from a small vocabulary), so most of a new
        prompt's 21 descriptions are already known.
        """
        return torch.from_numpy(self.minilm.encode(list(texts)))
