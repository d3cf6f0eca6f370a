"""Text conditions of the generators: three vectors per prompt (global caption, groups, interactions).

One small interface, three implementations:
- `SentenceConditioner` ("sentence"): frozen MiniLM sentence embeddings (384-d) of the caption, the mean of the six
  group descriptions and the mean of the fifteen interaction descriptions (each mean re-normalised).
- `HTMAConditioner` ("htma"): HTMA's aligned text means mu_c, mu_g, mu_i (256-d) of the same texts.
- `HybridConditioner` ("htma+sentence"): both side by side (640-d per level). HTMA's contrastive latent keeps what
  tells motions apart and can lose which side a caption names; the sentence embedding keeps the words.

All return `(cond (B, 3, cond_dim) float32, present (B, 3) bool)`; a level is absent when its descriptions are all
empty. The text encoder is `kinmo_core.text.minilm.MiniLM` (the bundled all-MiniLM-L6-v2 in plain PyTorch).
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.motion.kinematic import GROUPS, PAIRS
from kinmo_core.text.minilm import MiniLM, MiniLMTokenEncoder, get_minilm

LEVELS: tuple[str, ...] = ("global", "group", "interaction")
CONDITIONER_FILE: str = "conditioner.json"
def description_lists(descriptions: Sequence[Mapping | None]) -> tuple[list[list[str]], list[list[str]]]:
    """Return per prompt the six group texts and the fifteen interaction texts ("" where missing)."""
    groups, pairs = [], []
    for d in descriptions:
        d = d or {}
        g, p = d.get("groups") or {}, d.get("interactions") or {}
        groups.append([str(g.get(k, "") or "").strip() for k in GROUPS])
        pairs.append([str(p.get(k, "") or "").strip() for k in PAIRS])
    return groups, pairs


def _presence(groups: list[list[str]], pairs: list[list[str]]) -> torch.Tensor:
    rows = [[True, any(g), any(p)] for g, p in zip(groups, pairs, strict=True)]
    return torch.tensor(rows, dtype=torch.bool)


class Conditioner(ABC):
    """Turns captions and descriptions into per-level condition vectors (B, 3, cond_dim)."""

    kind: str = ""
    cond_dim: int = 0

    @abstractmethod
    def __call__(self, captions: Sequence[str], descriptions: Sequence[Mapping | None] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (cond (B, 3, cond_dim), present (B, 3) bool)."""

    @abstractmethod
    def save(self, folder: str | os.PathLike) -> None:
        """Write what from_folder needs to rebuild this conditioner."""

    def record_kind(self, folder: str | os.PathLike) -> None:
        """Write folder/conditioner.json, which load_conditioner reads to rebuild this kind."""
        from kinmo_core.fileio import write_atomic

        write_atomic(Path(folder) / CONDITIONER_FILE,
                     lambda f: f.write(json.dumps({"kind": self.kind, "cond_dim": self.cond_dim}).encode()),
                     overwrite=True)

    def precompute(self, captions: Sequence[str], descriptions: Sequence[Mapping | None]) -> None:  # noqa: B027
        """Load or compute (once, on disk) the text features a whole dataset's conditions will need."""


class SentenceConditioner(Conditioner):
    """Raw MiniLM sentence embeddings: caption, mean of group descriptions, mean of interaction descriptions."""

    kind = "sentence"
    cond_dim = 384

    def __init__(self, encoder: MiniLM | None = None) -> None:
        self.encoder = encoder or get_minilm(fast=True)
        self._known: dict[str, np.ndarray] = {}

    def precompute(self, captions, descriptions):
        """Encode every distinct caption and description of a dataset once, through the on-disk feature cache."""
        from kinmo_core.alignment import TextFeatureCache

        groups, pairs = description_lists(_complete(descriptions))
        texts = set(captions) | {t for row in groups + pairs for t in row if t}
        cache = TextFeatureCache(self.encoder.folder, max_tokens=self.encoder.max_tokens)
        self._known = {t: v.astype(np.float32) for t, v in cache.pooled(sorted(texts)).items()}

    def __call__(self, captions, descriptions=None):
        """Return (cond (B, 3, 384), present (B, 3))."""
        captions = list(captions)
        groups, pairs = description_lists(descriptions if descriptions is not None else [None] * len(captions))
        texts = list(dict.fromkeys(list(captions) + [t for row in groups + pairs for t in row if t]))
        todo = [t for t in texts if t not in self._known]
        emb = {t: self._known[t] for t in texts if t in self._known}
        if todo:
            emb.update(zip(todo, self.encoder.encode(todo), strict=True))

        def pooled(rows: list[list[str]]) -> np.ndarray:
            out = np.zeros((len(rows), self.cond_dim), np.float32)
            for i, row in enumerate(rows):
                vecs = [emb[t] for t in row if t]
                if vecs:
                    m = np.mean(vecs, axis=0)
                    out[i] = m / max(float(np.linalg.norm(m)), 1e-8)
            return out

        cap = np.stack([emb[c] for c in captions])
        cond = np.stack([cap, pooled(groups), pooled(pairs)], axis=1)
        return torch.from_numpy(cond), _presence(groups, pairs)

    def save(self, folder):
        """Record the kind (the encoder is the bundled MiniLM)."""
        self.record_kind(folder)


class HTMAConditioner(Conditioner):
    """HTMA's aligned text means mu_c, mu_g, mu_i (kinmo_core.alignment.HTMAAligner) of caption and descriptions.

    The aligner's frozen text features come from `MiniLM` here (same numbers as its TokenEncoder, with the same
    word-piece limit and float16 rounding), so loading needs no transformers import.
    """

    kind = "htma"

    def __init__(self, aligner) -> None:
        self.aligner = aligner
        self.model = aligner.model
        self.cond_dim = int(aligner.cfg.latent_dim)
        if aligner.levels != 3:
            raise KinmoModelError(f"conditioning needs an HTMA with 3 levels, this one has {aligner.levels}")

    @classmethod
    def from_model(cls, model, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> HTMAConditioner:
        """Wrap an HTMA model (statistics default to none: only its text side is used here)."""
        from kinmo_core.alignment import HTMAAligner

        dim = model.cfg.motion_dim
        mean = np.zeros(dim, np.float32) if mean is None else mean
        std = np.ones(dim, np.float32) if std is None else std
        return cls(HTMAAligner(model, mean, std, None, {}, _fast_text_features()))

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> HTMAConditioner:
        """Load an HTMA folder written by training/train_htma.py (model, Mean.npy, Std.npy)."""
        from kinmo_core.alignment import BUNDLED_ENCODER_DIR, HTMAAligner, resolve_text_encoder
        from kinmo_core.models.htma import HTMA, HTMAConfig
        from kinmo_core.models.io import load_pretrained, read_config

        folder = Path(folder)
        meta = read_config(folder)
        model = load_pretrained(HTMA, HTMAConfig, folder)
        if (folder / BUNDLED_ENCODER_DIR / model.cfg.text_encoder).is_dir() or \
                resolve_text_encoder(model.cfg.text_encoder) is not None:
            return cls(HTMAAligner.from_pretrained(folder))  # another encoder: the aligner's own (slower) path
        try:
            mean, std = np.load(folder / "Mean.npy"), np.load(folder / "Std.npy")
        except (OSError, ValueError) as exc:
            raise KinmoModelError(f"{folder}: missing or damaged Mean.npy / Std.npy ({exc})") from None
        return cls(HTMAAligner(model, mean, std, None, meta.get("meta", {}), _fast_text_features()))

    @torch.no_grad()
    def __call__(self, captions, descriptions=None):
        """Return (cond (B, 3, latent_dim), present (B, 3)); items without full descriptions get level 1 only."""
        captions = list(captions)
        descriptions = list(descriptions) if descriptions is not None else [None] * len(captions)
        full = _complete(descriptions)
        cond = torch.zeros(len(captions), 3, self.cond_dim)
        present = torch.zeros(len(captions), 3, dtype=torch.bool)
        present[:, 0] = True
        with_d = [i for i, d in enumerate(full) if d is not None]
        without = [i for i, d in enumerate(full) if d is None]
        if with_d:
            mu = self.aligner.encode_texts([captions[i] for i in with_d], [full[i] for i in with_d], levels=3)
            cond[with_d] = mu.float()
            present[with_d] = True
        if without:
            cond[without, :1] = self.aligner.encode_texts([captions[i] for i in without], levels=1).float()
        return cond, present

    def precompute(self, captions, descriptions):
        """Fill the aligner's text-feature cache from disk (encoding only texts never seen) for a whole dataset."""
        from kinmo_core.alignment import description_texts

        texts = {t for d in _complete(descriptions) if d is not None for t in description_texts(d)}
        self.aligner.text.tokens(list(captions))
        self.aligner.text.pooled(sorted(texts))

    def save(self, folder):
        """Save the HTMA (weights, config, statistics) under folder/htma and record the kind."""
        self.save_model(folder)
        self.record_kind(folder)

    def save_model(self, folder: str | os.PathLike) -> None:
        """Save the HTMA (weights, config, statistics) under folder/htma."""
        from kinmo_core.models.io import save_pretrained

        target = Path(folder) / "htma"
        save_pretrained(self.model, self.model.cfg, target, extra_meta=self.aligner.meta, overwrite=True)
        enc = getattr(self.aligner.text, "encoder_path", None)
        if enc is not None and Path(enc).is_dir():
            import shutil

            from kinmo_core.alignment import BUNDLED_ENCODER_DIR

            # Another encoder than the bundled MiniLM travels with the model, so the pipeline folder loads anywhere.
            copy = target / BUNDLED_ENCODER_DIR / Path(enc).name
            if copy.resolve() != Path(enc).resolve():
                shutil.copytree(enc, copy, dirs_exist_ok=True)
        np.save(target / "Mean.npy", self.aligner.mean)
        np.save(target / "Std.npy", self.aligner.std)


class HybridConditioner(Conditioner):
    """HTMA's mu and the MiniLM sentence embedding of each level, concatenated: (B, 3, latent_dim + 384)."""

    kind = "htma+sentence"

    def __init__(self, htma: HTMAConditioner, sentence: SentenceConditioner | None = None) -> None:
        self.htma, self.sentence = htma, sentence or SentenceConditioner()
        self.parts = (self.htma, self.sentence)
        self.model = htma.model
        self.cond_dim = htma.cond_dim + self.sentence.cond_dim

    def __call__(self, captions, descriptions=None):
        """Return (cond (B, 3, latent_dim + 384), present (B, 3)): a level counts where both parts have it."""
        return combine([part(captions, descriptions) for part in self.parts])

    def precompute(self, captions, descriptions):
        """Precompute both parts' text features."""
        for part in self.parts:
            part.precompute(captions, descriptions)

    def save(self, folder):
        """Save the HTMA under folder/htma and record the kind."""
        self.htma.save_model(folder)
        self.record_kind(folder)


def combine(parts: Sequence[tuple]) -> tuple:
    """Concatenate (cond, present) pairs of conditioners along the feature axis; present where all parts have it."""
    conds, presents = zip(*parts, strict=True)
    cat = np.concatenate if isinstance(conds[0], np.ndarray) else torch.cat
    present = presents[0]
    for p in presents[1:]:
        present = present & p
    return cat(conds, -1), present


def _complete(descriptions: Sequence[Mapping | None]) -> list[dict | None]:
    """Checked descriptions per item; None where they are absent or partial (no group / interaction condition)."""
    from kinmo_core.alignment import check_descriptions

    out: list[dict | None] = []
    for d in descriptions:
        try:
            out.append(check_descriptions(d) if d is not None else None)
        except KinmoInputError:
            out.append(None)
    return out


def _fast_text_features():
    from kinmo_core.alignment import MAX_TOKENS, TextFeatureCache

    cache = TextFeatureCache(None, progress=False)
    cache._encoder = MiniLMTokenEncoder(get_minilm(fast=True).truncated(MAX_TOKENS))
    return cache


CONDITIONER_KINDS: tuple[str, ...] = ("sentence", "htma", "htma+sentence")


def make_conditioner(kind: str, htma: str | os.PathLike | None = None) -> Conditioner:
    """Return the conditioner of a kind (CONDITIONER_KINDS); the HTMA kinds need the HTMA model folder."""
    if kind == "sentence":
        return SentenceConditioner()
    if kind in ("htma", "htma+sentence"):
        if htma is None:
            raise KinmoInputError(f"--cond {kind} needs the trained HTMA model folder (--htma DIR)")
        h = HTMAConditioner.from_pretrained(htma)
        return h if kind == "htma" else HybridConditioner(h)
    raise KinmoInputError(f"unknown conditioning {kind!r}; expected one of {', '.join(CONDITIONER_KINDS)}")


def load_conditioner(folder: str | os.PathLike) -> Conditioner:
    """Rebuild the conditioner recorded in folder/conditioner.json."""
    path = Path(folder) / CONDITIONER_FILE
    if not path.is_file():
        raise KinmoModelError(f"no {CONDITIONER_FILE} in {folder}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        kind = meta["kind"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KinmoModelError(f"damaged {path}: {exc}") from None
    if kind == "htma":
        return HTMAConditioner.from_pretrained(Path(folder) / "htma")
    if kind == "htma+sentence":
        return HybridConditioner(HTMAConditioner.from_pretrained(Path(folder) / "htma"))
    if kind == "sentence":
        return SentenceConditioner()
    raise KinmoModelError(f"{path}: unknown conditioning {kind!r}")
