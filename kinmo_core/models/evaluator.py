"""Guo et al.'s text-motion matching evaluator (T2M), the embedding model behind FID, R-precision and MM-Dist.

Motion: HumanML3D features without the four foot-contact channels (259-d), normalised by stored statistics, go
through a movement encoder (two stride-2 1-D convolutions, so one step per `unit_length` = 4 frames) and a
bidirectional GRU whose final states map to a co-embedding. Text: frozen token features of the offline MiniLM
(B, L, 384) with their lengths go through a bidirectional GRU to the same space. The co-embedding is 512-d and
compared by Euclidean distance. Training uses Guo's contrastive hinge loss (true pairs pulled together, pairs
mismatched by shifting the batch pushed beyond `margin`) or, optionally, InfoNCE on cosine similarities. The model
is trained separately from HTMA so generation metrics do not grade a model with its own encoder.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from tqdm import tqdm

from kinmo_core.errors import KinmoInputError
from kinmo_core.models import io
from kinmo_core.motion.features import FEATURE_DIM, FEATURE_SLICES

MOTION_INPUT_DIM: int = FEATURE_SLICES["contacts"].start
"""Features the evaluator reads: everything but the contact labels (as in Guo's evaluator)."""


@dataclass
class EvaluatorConfig:
    """Sizes of Guo's evaluator (his defaults) and the loss settings."""

    motion_dim: int = MOTION_INPUT_DIM
    text_dim: int = 384
    movement_hidden: int = 512
    movement_latent: int = 512
    motion_hidden: int = 1024
    text_hidden: int = 512
    embed_dim: int = 512
    unit_length: int = 4
    dropout: float = 0.2
    loss: str = "hinge"  # "hinge" (Guo) or "infonce"
    margin: float = 10.0
    temperature: float = 0.1

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Conv1d | nn.Linear):
        nn.init.xavier_normal_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, out_dim))


class MovementEncoder(nn.Module):
    """Two stride-2 convolutions: (B, T, C) features to (B, T / 4, latent) movement codes."""

    def __init__(self, cfg: EvaluatorConfig) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv1d(cfg.motion_dim, cfg.movement_hidden, 4, 2, 1), nn.Dropout(cfg.dropout),
                                   nn.LeakyReLU(0.2))
        self.conv2 = nn.Sequential(nn.Conv1d(cfg.movement_hidden, cfg.movement_latent, 4, 2, 1),
                                   nn.Dropout(cfg.dropout), nn.LeakyReLU(0.2))
        self.out = nn.Linear(cfg.movement_latent, cfg.movement_latent)
        self.apply(_init)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Return movement codes (B, T // 4, latent) of (B, T, C) whose frames beyond `lengths` (B,) are zero."""
        h = self.conv1(x.transpose(1, 2))
        if lengths is not None:
            # Zero the first layer past each clip's end, as its own zero padding would be: a clip's codes then do
            # not depend on how long the other clips of its batch are (Guo's encoder lets the padding leak in).
            h = h * (torch.arange(h.shape[-1], device=h.device)[None] < (lengths // 2)[:, None])[:, None]
        return self.out(self.conv2(h).transpose(1, 2))


class BiGRUEncoder(nn.Module):
    """Linear input layer, bidirectional GRU with a learned initial state, and an MLP on the two final states."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.head = _head(2 * hidden, hidden, out_dim)
        self.h0 = nn.Parameter(torch.randn(2, 1, hidden) * 0.1)
        self.inp.apply(_init)
        self.head.apply(_init)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Encode (B, L, in_dim) with valid lengths (B,) into (B, out_dim)."""
        packed = pack_padded_sequence(self.inp(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed, self.h0.expand(-1, x.shape[0], -1).contiguous())
        return self.head(torch.cat([last[0], last[1]], dim=-1))


class TextMotionEvaluator(nn.Module):
    """Guo's co-embedding of motions and texts; `embed_motion` / `embed_text` give (B, embed_dim)."""

    def __init__(self, cfg: EvaluatorConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or EvaluatorConfig()
        if cfg.loss not in ("hinge", "infonce"):
            raise KinmoInputError(f"loss must be 'hinge' or 'infonce', got {cfg.loss!r}")
        if cfg.motion_dim > FEATURE_DIM:
            raise KinmoInputError(f"motion_dim {cfg.motion_dim} exceeds the {FEATURE_DIM} feature channels")
        self.movement = MovementEncoder(cfg)
        self.motion_encoder = BiGRUEncoder(cfg.movement_latent, cfg.motion_hidden, cfg.embed_dim)
        self.text_encoder = BiGRUEncoder(cfg.text_dim, cfg.text_hidden, cfg.embed_dim)
        self.register_buffer("mean", torch.zeros(cfg.motion_dim))
        self.register_buffer("std", torch.ones(cfg.motion_dim))

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store feature statistics (263 or motion_dim channels); embed_motion then takes raw features."""
        mean, std = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
        mean, std = mean[..., : self.cfg.motion_dim], std[..., : self.cfg.motion_dim]
        if mean.shape != self.mean.shape or std.shape != self.std.shape:
            raise KinmoInputError(f"statistics need {self.cfg.motion_dim} channels, got {tuple(mean.shape)}")
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-5))

    def embed_motion(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Return (B, embed_dim) of raw features (B, T, 263 or motion_dim) with frame counts lengths (B,)."""
        if features.ndim != 3 or features.shape[-1] not in (FEATURE_DIM, self.cfg.motion_dim):
            raise KinmoInputError(f"features must be (B, T, {FEATURE_DIM}), got {tuple(features.shape)}")
        features = features.to(self.mean.dtype)
        lengths = torch.as_tensor(lengths, device=features.device).long()
        if lengths.shape != (features.shape[0],) or bool((lengths < self.cfg.unit_length).any()) \
                or bool((lengths > features.shape[1]).any()):
            raise KinmoInputError(f"lengths must be (B,) frame counts in [{self.cfg.unit_length}, {features.shape[1]}]")
        x = (features[..., : self.cfg.motion_dim] - self.mean) / self.std
        x = x * (torch.arange(x.shape[1], device=x.device)[None] < lengths[:, None])[..., None]
        codes = self.movement(x, lengths)
        steps = (lengths // self.cfg.unit_length).clamp(1, codes.shape[1])
        return self.motion_encoder(codes, steps)

    def embed_text(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Return (B, embed_dim) of token features (B, L, text_dim) with token counts lengths (B,)."""
        if tokens.ndim != 3 or tokens.shape[-1] != self.cfg.text_dim:
            raise KinmoInputError(f"tokens must be (B, L, {self.cfg.text_dim}), got {tuple(tokens.shape)}")
        tokens = tokens.to(self.mean.dtype)
        lengths = torch.as_tensor(lengths, device=tokens.device).long()
        if lengths.shape != (tokens.shape[0],) or bool((lengths < 1).any()) or bool((lengths > tokens.shape[1]).any()):
            raise KinmoInputError(f"lengths must be (B,) token counts in [1, {tokens.shape[1]}]")
        return self.text_encoder(tokens, lengths)

    def forward(self, features: torch.Tensor, motion_lengths: torch.Tensor, tokens: torch.Tensor,
                token_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (text embeddings, motion embeddings), each (B, embed_dim)."""
        return self.embed_text(tokens, token_lengths), self.embed_motion(features, motion_lengths)

    def losses(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None
               ) -> dict[str, torch.Tensor]:
        """Return the training loss of a batch with 'motion', 'motion_lengths', 'tokens', 'token_lengths'."""
        text, motion = self(batch["motion"], batch["motion_lengths"], batch["tokens"], batch["token_lengths"])
        b = text.shape[0]
        if b < 2:
            raise KinmoInputError("a training batch needs at least 2 pairs to form negatives")
        if self.cfg.loss == "infonce":
            sim = F.normalize(text, dim=-1) @ F.normalize(motion, dim=-1).t() / self.cfg.temperature
            target = torch.arange(b, device=sim.device)
            loss = 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.t(), target))
            return {"loss": loss, "nce": loss.detach()}
        # Guo's hinge: negatives pair each text with the motion `shift` places on (never 0, unlike his sampler).
        shift = int(torch.randint(1, b, (1,), generator=generator, device=text.device))
        pos = F.pairwise_distance(text, motion)
        neg = F.pairwise_distance(text, motion.roll(-shift, dims=0))
        loss_pos = (pos ** 2).mean()
        loss_neg = (F.relu(self.cfg.margin - neg) ** 2).mean()
        return {"loss": loss_pos + loss_neg, "pos": loss_pos.detach(), "neg": loss_neg.detach()}

    @torch.no_grad()
    def embed_motions(self, clips: list, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Return (N, embed_dim) embeddings of raw feature clips, each (T_i, 263); T_i is cut to a multiple of 4."""
        cut = [torch.as_tensor(np.asarray(c), dtype=torch.float32) for c in clips]
        cut = [c[: (len(c) // self.cfg.unit_length) * self.cfg.unit_length] for c in cut]
        return self._embed_batches(cut, self.embed_motion, batch_size, progress, "embedding motions")

    @torch.no_grad()
    def embed_texts(self, token_features: list, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Return (N, embed_dim) embeddings of per-caption token features, each (L_i, text_dim)."""
        seqs = [torch.as_tensor(np.asarray(t), dtype=torch.float32) for t in token_features]
        return self._embed_batches(seqs, self.embed_text, batch_size, progress, "embedding texts")

    def _embed_batches(self, seqs: list[torch.Tensor], fn, batch_size: int, progress: bool, desc: str) -> np.ndarray:
        if not seqs:
            raise KinmoInputError("nothing to embed")
        was_training = self.training
        self.eval()
        out = []
        try:
            for i in tqdm(range(0, len(seqs), batch_size), desc=desc, disable=not progress):
                chunk = seqs[i:i + batch_size]
                lengths = torch.tensor([len(c) for c in chunk])
                padded = torch.nn.utils.rnn.pad_sequence(chunk, batch_first=True)
                out.append(fn(padded, lengths).numpy())
        finally:
            self.train(was_training)
        return np.concatenate(out).astype(np.float32)

    def save_pretrained(self, directory: str | os.PathLike, extra_meta: dict | None = None,
                        overwrite: bool = False) -> Path:
        """Write model.safetensors and config.json to `directory`."""
        return io.save_pretrained(self, self.cfg, directory, extra_meta, overwrite=overwrite)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> TextMotionEvaluator:
        """Load a model written by save_pretrained (in eval mode)."""
        return io.load_pretrained(cls, EvaluatorConfig, directory)
