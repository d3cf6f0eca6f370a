"""HTMA as a product: text and motion embeddings in the aligned spaces, and the cached frozen text features.

`HTMAAligner.from_pretrained(path=None)` loads a trained HTMA (default: kinmo_core/assets/retrieval/htma) with the
dataset statistics it was trained with and the frozen token encoder named in its config. It gives

    mu_text  = aligner.encode_texts(captions, descriptions)      # (N, levels, 256): mu_c, mu_g, mu_i
    mu_mot   = aligner.encode_motions([features (T, 263), ...])   # (N, levels, 256)
    emb      = aligner.embed(mu, levels)                          # (N, levels * 256) unit vectors for retrieval

Text inputs (the issue's "emb(T)"): the global caption as frozen token features (B, L, 384), each of the 6 group and
15 pair descriptions as one mean-pooled feature of the same encoder (equal to MiniLM's sentence embedding); HTMA adds a
learned slot embedding per group / pair, so the position says which body part a description is about.

`TextFeatureCache` precomputes both kinds of features once per dataset: one file per (encoder, kind, text set), keyed
by the encoder's name and config and a hash of the sorted texts, so training and evaluation never re-encode.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.motion.kinematic import GROUPS, PAIRS
from kinmo_core.reasoner import load_reasoner

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL_DIR = PACKAGE_ROOT / "assets" / "retrieval" / "htma"
"""The default retrieval model (`kinmo retrieve`, `kinmo eval retrieval`). The generator keeps the HTMA its
transformers were trained on (the pipeline folder's `htma/`, its text conditioner): a newer HTMA improves retrieval at
once, while the generator moves to one only with its own retraining (BENCHMARKS.md, "HTMA retrained")."""
MAX_TOKENS: int = 32
"""Captions are cut to this many word pieces (HumanML3D captions average about 12)."""
MAX_QUERY_CHARS: int = 1000
CACHE_ENV = "KINMO_CACHE"
_CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """Return the folder for cached text features ($KINMO_CACHE or ~/.cache/kinmo)."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "kinmo"


BUNDLED_ENCODER_DIR = "text_encoder"
"""Subfolder of an HTMA model folder holding a copy of its (non-default) text encoder, <folder>/text_encoder/<name>."""


def resolve_text_encoder(name: str, path: str | os.PathLike | None = None) -> Path | None:
    """Return the folder of the token encoder a model was trained with (None: the bundled MiniLM)."""
    from kinmo_core.text.encoders import default_model_path

    if path is not None:
        folder = Path(path).expanduser()
        if folder.name != name:
            raise KinmoModelError(f"the model was trained with the text encoder '{name}', not '{folder.name}'")
        return folder
    from kinmo_core.models.htma import HTMAConfig

    if name in ("", HTMAConfig.text_encoder, default_model_path().name):
        return None
    raise KinmoModelError(f"the model was trained with the text encoder '{name}'; pass its local folder "
                          "(--text-encoder PATH)")


def encoder_id(encoder_path: str | os.PathLike | None) -> str:
    """Return '<folder name>-<hash of its config.json>', naming an encoder in cache keys."""
    from kinmo_core.text.encoders import _resolve

    folder = _resolve(encoder_path)
    digest = hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()[:8]
    return f"{folder.name}-{digest}"


def check_query(text: object) -> str:
    """Return a cleaned query text; KinmoInputError for a non-string, empty or over-long one."""
    if not isinstance(text, str):
        raise KinmoInputError(f"a query must be a string, got {type(text).__name__}")
    clean = " ".join(text.split())
    if not clean:
        raise KinmoInputError("the query text is empty")
    if len(clean) > MAX_QUERY_CHARS:
        raise KinmoInputError(f"the query text has {len(clean)} characters; the most is {MAX_QUERY_CHARS}")
    return clean


def check_descriptions(desc: object, where: str = "descriptions") -> dict[str, dict[str, str]]:
    """Validate {'groups': {6 keys}, 'interactions': {15 keys}} of non-empty strings; return a clean copy."""
    if not isinstance(desc, dict):
        raise KinmoInputError(f"{where}: expected an object with 'groups' and 'interactions'")
    out: dict[str, dict[str, str]] = {}
    for field, keys in (("groups", GROUPS), ("interactions", PAIRS)):
        part = desc.get(field)
        if not isinstance(part, dict):
            raise KinmoInputError(f"{where}: missing '{field}'")
        missing = [k for k in keys if not isinstance(part.get(k), str) or not part[k].strip()]
        if missing:
            raise KinmoInputError(f"{where}: '{field}' lacks a text for {', '.join(missing[:4])}")
        out[field] = {k: " ".join(part[k].split()) for k in keys}
    return out


def description_texts(desc: dict) -> list[str]:
    """Return the 21 description strings of one motion: 6 groups then 15 pairs, in GROUPS / PAIRS order."""
    return [desc["groups"][g] for g in GROUPS] + [desc["interactions"][p] for p in PAIRS]


def expand_texts(texts: Sequence[str], reasoner=None, seed: int = 0) -> list[dict[str, dict[str, str]]]:
    """Return group and pair descriptions of global captions, written by the Motion Reasoner."""
    reasoner = reasoner if reasoner is not None else load_reasoner()
    out = reasoner.reason(list(texts), seed=seed, temperature=0.0)
    if len(out) != len(texts):
        raise KinmoModelError(f"the Motion Reasoner returned {len(out)} descriptions for {len(texts)} texts")
    return [check_descriptions(d, "Motion Reasoner output") for d in out]


class TextFeatureCache:
    """Frozen text features (caption tokens, pooled descriptions), computed once and kept on disk per text set."""

    def __init__(self, encoder_path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                 max_tokens: int = MAX_TOKENS, batch_size: int = 128, progress: bool = True) -> None:
        self.encoder_path = encoder_path
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.max_tokens, self.batch_size, self.progress = int(max_tokens), int(batch_size), progress
        self._id: str | None = None
        self._encoder = None
        self._memo: dict[str, dict[str, np.ndarray]] = {}
        self._scanned: set[str] = set()

    @property
    def encoder(self):
        """The frozen TokenEncoder (loaded on first use)."""
        if self._encoder is None:
            from kinmo_core.text.encoders import TokenEncoder

            self._encoder = TokenEncoder(self.encoder_path, max_length=self.max_tokens)
        return self._encoder

    @property
    def encoder_id(self) -> str:
        """Name + config hash of the encoder."""
        if self._id is None:
            self._id = encoder_id(self.encoder_path)
        return self._id

    def _stem(self, kind: str) -> str:
        # The truncation is part of a file's name (the default keeps the historical names), so a lookup never
        # mixes features cut at different lengths.
        tag = kind if self.max_tokens == MAX_TOKENS else f"{kind}{self.max_tokens}"
        return f"{tag}-{self.encoder_id}-"

    def _file(self, kind: str, texts: list[str]) -> Path:
        h = hashlib.sha256(f"{kind}|{self.max_tokens}|{self.encoder_id}".encode())
        for t in texts:
            h.update(t.encode("utf-8") + b"\0")
        return self.cache_dir / "text_features" / f"{self._stem(kind)}{h.hexdigest()[:20]}.npz"

    def _batches(self, texts: list[str], desc: str):
        from tqdm import tqdm

        starts = range(0, len(texts), self.batch_size)
        bar = tqdm(starts, desc=desc, unit="batch", disable=not self.progress or len(texts) <= self.batch_size)
        for s in bar:
            yield texts[s:s + self.batch_size]

    def encode_tokens(self, texts: list[str]) -> list[np.ndarray]:
        """Return per-text (L_i, D) float16 token features, no disk cache."""
        out: list[np.ndarray] = []
        for chunk in self._batches(texts, "caption tokens"):
            feats, mask = self.encoder.encode(chunk)
            lengths = mask.sum(1).tolist()
            f = feats.to(torch.float16).numpy()
            out.extend(f[i, : lengths[i]] for i in range(len(chunk)))
        return out

    def encode_pooled(self, texts: list[str]) -> np.ndarray:
        """Return (N, D) float16 unit-norm mean-pooled features, no disk cache."""
        parts = [self.encoder.mean_pool(chunk).to(torch.float16).numpy() for chunk in self._batches(texts, "texts")]
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float16)

    def tokens(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Return {text: (L, D) float16 token features} for the unique texts, reusing any features on disk."""
        return self._lookup("tokens", texts)

    def pooled(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Return {text: (D,) float16 pooled feature} for the unique texts, reusing any features on disk."""
        return self._lookup("pooled", texts)

    def known(self, kind: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Features of `kind` ('tokens' or 'pooled') already in memory for the given texts (no encoding)."""
        memo = self._memo.get(kind, {})
        return {t: memo[t] for t in texts if t in memo}

    def _lookup(self, kind: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        # Every file holds one text set; a lookup loads the files of this encoder once, then encodes only texts
        # that none of them holds and writes those as a new file, so overlapping sets (train / val splits,
        # captions seen by several trainers) are encoded once.
        memo = self._memo.setdefault(kind, {})
        uniq = sorted(set(texts))
        if any(t not in memo for t in uniq) and kind not in self._scanned:
            self._scanned.add(kind)
            for path in sorted((self.cache_dir / "text_features").glob(f"{self._stem(kind)}*.npz")):
                self._load_file(path, kind, memo)
        # Similar lengths share a batch, so little compute goes to padding.
        missing = sorted((t for t in uniq if t not in memo), key=len)
        if missing:
            path = self._file(kind, missing)
            if kind == "tokens":
                feats = self.encode_tokens(missing)
                lengths = np.array([len(f) for f in feats], dtype=np.int64)
                flat = np.concatenate(feats) if feats else np.zeros((0, 1), np.float16)
                self._write(path, missing, flat=flat, lengths=lengths)
                memo.update(zip(missing, feats, strict=True))
            else:
                emb = self.encode_pooled(missing)
                self._write(path, missing, flat=emb)
                memo.update(zip(missing, emb, strict=True))
        return {t: memo[t] for t in uniq}

    @staticmethod
    def _load_file(path: Path, kind: str, memo: dict[str, np.ndarray]) -> None:
        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["format_version"]) != _CACHE_FORMAT:
                    return
                texts = json.loads(str(z["texts"]))
                flat = z["flat"]
                if kind == "tokens":
                    offsets = np.concatenate([[0], np.cumsum(z["lengths"])])
                    memo.update((t, flat[offsets[i]:offsets[i + 1]]) for i, t in enumerate(texts))
                else:
                    memo.update(zip(texts, flat, strict=True))
        except (OSError, ValueError, KeyError, TypeError):
            return  # a damaged cache file is ignored and its texts recomputed, never trusted

    @staticmethod
    def _write(path: Path, texts: list[str], **arrays: np.ndarray) -> None:
        from kinmo_core.fileio import atomic_output

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path, overwrite=True) as tmp:  # a stale or damaged cache file is replaced
            with open(tmp, "wb") as f:
                np.savez(f, format_version=np.int64(_CACHE_FORMAT), texts=np.array(json.dumps(texts)), **arrays)


def pad_tokens(feats: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length (L_i, D) token features into (B, L, D) float32 and a (B, L) validity mask."""
    n = max(len(f) for f in feats)
    d = feats[0].shape[-1]
    out = torch.zeros(len(feats), n, d)
    mask = torch.zeros(len(feats), n, dtype=torch.bool)
    for i, f in enumerate(feats):
        out[i, : len(f)] = torch.from_numpy(np.asarray(f, dtype=np.float32))
        mask[i, : len(f)] = True
    return out, mask


def description_tensors(descs: Sequence[dict], pooled: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Return groups (B, 6, D) and pairs (B, 15, D) float32 features of descriptions from {text: pooled feature}."""
    rows = np.stack([np.stack([pooled[t] for t in description_texts(d)]) for d in descs]).astype(np.float32)
    x = torch.from_numpy(rows)
    return x[:, : len(GROUPS)], x[:, len(GROUPS):]


class HTMAAligner:
    """A trained HTMA with its normalisation statistics and text encoder: texts and motions in, embeddings out."""

    def __init__(self, model, mean: np.ndarray, std: np.ndarray, encoder_path: str | os.PathLike | None = None,
                 meta: dict | None = None, cache: TextFeatureCache | None = None) -> None:
        from kinmo_core.models.io import model_version

        self.model = model.eval()
        self.cfg = model.cfg
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if self.mean.shape != (self.cfg.motion_dim,) or self.std.shape != (self.cfg.motion_dim,):
            raise KinmoModelError(f"normalisation statistics of shape {self.mean.shape} do not fit motion_dim "
                                  f"{self.cfg.motion_dim}")
        self.meta = meta or {}
        self.text = cache or TextFeatureCache(encoder_path, progress=False)
        self.version = model_version(model, self.cfg)

    @property
    def levels(self) -> int:
        """How many text levels the model has (1 global, 2 + groups, 3 + interactions)."""
        return int(self.cfg.levels)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, text_encoder: str | os.PathLike | None = None,
                        cache_dir: str | os.PathLike | None = None) -> HTMAAligner:
        """Load a model folder written by training/train_htma.py (None: the default model shipped in the package)."""
        from kinmo_core.models.htma import HTMA, HTMAConfig
        from kinmo_core.models.io import load_pretrained, read_config

        folder = Path(path) if path is not None else DEFAULT_MODEL_DIR
        if not folder.is_dir():
            hint = " (the default HTMA is not installed: train it with training/train_htma.py)" if path is None else ""
            raise KinmoModelError(f"no HTMA model folder at {folder}{hint}")
        meta = read_config(folder)
        model = load_pretrained(HTMA, HTMAConfig, folder)
        try:
            mean, std = np.load(folder / "Mean.npy"), np.load(folder / "Std.npy")
        except (OSError, ValueError) as exc:
            raise KinmoModelError(f"{folder}: missing or damaged Mean.npy / Std.npy ({exc})") from None
        bundled = folder / BUNDLED_ENCODER_DIR / model.cfg.text_encoder
        if text_encoder is None and bundled.is_dir():  # a model trained with --text-encoder carries its encoder
            text_encoder = bundled
        enc = resolve_text_encoder(model.cfg.text_encoder, text_encoder)
        cache = TextFeatureCache(enc, cache_dir, progress=False)
        return cls(model, mean, std, enc, meta.get("meta", {}), cache)

    def _levels(self, levels: int | None) -> int:
        lv = self.levels if levels is None else int(levels)
        if not 1 <= lv <= self.levels:
            raise KinmoInputError(f"levels must be between 1 and {self.levels} for this model, got {levels}")
        return lv

    @torch.no_grad()
    def encode_texts(self, captions: Sequence[str], descriptions: Sequence[dict] | None = None,
                     levels: int | None = None, batch_size: int = 256, cached: bool = False) -> torch.Tensor:
        """Return text means (N, levels, D) of captions and their descriptions (needed when levels > 1).

        cached=True reads and writes the disk cache of text features (for whole datasets); queries skip it.
        """
        lv = self._levels(levels)
        captions = [check_query(c) for c in captions]
        if not captions:
            raise KinmoInputError("no texts to encode")
        if lv > 1:
            if descriptions is None or len(descriptions) != len(captions):
                raise KinmoInputError(f"{lv} levels need group and pair descriptions for every text")
            descriptions = [check_descriptions(d) for d in descriptions]
        if cached:
            tok = self.text.tokens(captions)
            pooled = self.text.pooled([t for d in descriptions for t in description_texts(d)]) if lv > 1 else {}
        else:
            # Queries skip the disk, but use features a caller loaded beforehand (see `TextFeatureCache.known`).
            uniq = sorted(set(captions))
            tok = self.text.known("tokens", uniq)
            todo = [c for c in uniq if c not in tok]
            if todo:
                tok.update(zip(todo, self.text.encode_tokens(todo), strict=True))
            if lv > 1:
                texts = sorted({t for d in descriptions for t in description_texts(d)})
                pooled = self.text.known("pooled", texts)
                todo = [t for t in texts if t not in pooled]
                if todo:
                    pooled.update(zip(todo, self.text.encode_pooled(todo), strict=True))
        out = []
        for s in range(0, len(captions), batch_size):
            tokens, mask = pad_tokens([tok[c] for c in captions[s:s + batch_size]])
            groups = pairs = None
            if self.levels > 1:
                if lv > 1:
                    groups, pairs = description_tensors(descriptions[s:s + batch_size], pooled)
                else:
                    # The finer levels are not used; any input of the right shape runs the model to level 1.
                    groups = torch.zeros(len(tokens), self.cfg.num_groups, self.cfg.text_dim)
                    pairs = torch.zeros(len(tokens), self.cfg.num_pairs, self.cfg.text_dim)
            mu, _ = self.model.encode_text(tokens, mask, groups, pairs)
            out.append(mu[:, :lv].float())
        return torch.cat(out)

    def normalize(self, features: np.ndarray) -> np.ndarray:
        """Return 263-d features normalised with the model's statistics."""
        return (np.asarray(features, dtype=np.float32) - self.mean) / self.std

    @torch.no_grad()
    def encode_motions(self, motions: Sequence[np.ndarray], batch_size: int = 64, progress: bool = False
                       ) -> torch.Tensor:
        """Return motion means (N, levels, D) of unnormalised (T_i, 263) features (longer ones are centre-cropped)."""
        from tqdm import tqdm

        if len(motions) == 0:
            raise KinmoInputError("no motions to encode")
        items = []
        for i, m in enumerate(motions):
            a = np.asarray(m, dtype=np.float32)
            if a.ndim != 2 or a.shape[1] != self.cfg.motion_dim or len(a) < 1:
                raise KinmoInputError(f"motion {i}: expected ({self.cfg.motion_dim},)-wide features (T, "
                                      f"{self.cfg.motion_dim}), got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                raise KinmoInputError(f"motion {i}: features contain NaN or infinite values")
            if len(a) > self.cfg.max_frames:
                off = (len(a) - self.cfg.max_frames) // 2
                a = a[off:off + self.cfg.max_frames]
            items.append(self.normalize(a))
        order = np.argsort([len(a) for a in items], kind="stable")  # similar lengths share a batch: less padding
        out = torch.zeros(len(items), self.levels, self.cfg.latent_dim)
        starts = range(0, len(items), batch_size)
        for s in tqdm(starts, desc="motions", unit="batch", disable=not progress):
            idx = order[s:s + batch_size]
            n = max(len(items[i]) for i in idx)
            x = torch.zeros(len(idx), n, self.cfg.motion_dim)
            mask = torch.zeros(len(idx), n, dtype=torch.bool)
            for j, i in enumerate(idx):
                x[j, : len(items[i])] = torch.from_numpy(items[i])
                mask[j, : len(items[i])] = True
            mu, _ = self.model.encode_motion(x, mask)
            out[torch.as_tensor(idx)] = mu.float()
        return out

    def embed(self, mu: torch.Tensor, levels: int | None = None) -> np.ndarray:
        """Return (N, levels * D) float32 unit vectors [mu_c; mu_g; mu_i] (each level normalised) for cosine search."""
        from kinmo_core.models.htma import HTMA

        return HTMA.retrieval_embedding(mu, self._levels(levels)).numpy().astype(np.float32)

    def query_embedding(self, mu: torch.Tensor, levels: int) -> np.ndarray:
        """Return query vectors of the first `levels` levels, zero-padded to the full index width.

        The index holds all levels; a query that is zero on the finer levels ranks motions exactly as the
        first-`levels` cosine does (its scores are that cosine times sqrt(levels / model levels)).
        """
        lv = self._levels(levels)
        emb = self.embed(mu, lv)
        full = np.zeros((len(emb), self.levels * self.cfg.latent_dim), np.float32)
        full[:, : emb.shape[1]] = emb
        return full

    def expand(self, texts: Sequence[str], reasoner=None, seed: int = 0) -> list[dict[str, dict[str, str]]]:
        """Return the Motion Reasoner's descriptions of global texts."""
        texts = [check_query(t) for t in texts]
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return expand_texts(texts, reasoner, seed)
