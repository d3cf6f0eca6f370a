"""Motion length from text: a classifier over token counts, used when the user gives no length."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LengthEstimatorConfig:
    """Sizes of the length estimator."""

    text_dim: int = 384
    hidden: int = 256
    max_tokens: int = 50
    dropout: float = 0.2

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)


class LengthEstimator(nn.Module):
    """Predicts a distribution over motion lengths in tokens (1..max_tokens) from a sentence embedding."""

    def __init__(self, cfg: LengthEstimatorConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or LengthEstimatorConfig()
        self.net = nn.Sequential(
            nn.Linear(cfg.text_dim, cfg.hidden), nn.LayerNorm(cfg.hidden), nn.GELU(), nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.max_tokens),
        )

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        """Return logits (B, max_tokens); class i means i + 1 tokens."""
        return self.net(text)

    def loss(self, text: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against true lengths in tokens (B,)."""
        return F.cross_entropy(self(text), (tokens - 1).clamp(0, self.cfg.max_tokens - 1))

    @torch.no_grad()
    def sample(self, text: torch.Tensor, generator: torch.Generator | None = None, min_tokens: int = 5) -> torch.Tensor:
        """Sample lengths in tokens (B,) of at least min_tokens."""
        logits = self(text)
        logits[:, : max(0, min_tokens - 1)] = float("-inf")
        return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0] + 1
