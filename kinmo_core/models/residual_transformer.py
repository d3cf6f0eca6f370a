"""Residual transformer (MoMask): predicts each residual quantizer layer from the layers below it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kinmo_core.models.masked_transformer import TokenTransformer, gumbel_noise


@dataclass
class ResidualTransformerConfig:
    """Sizes of the residual transformer."""

    codebook_size: int = 256
    num_quantizers: int = 4
    cond_dim: int = 256
    num_cond: int = 3
    d_model: int = 256
    n_layers: int = 3
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    max_tokens: int = 64
    cond_drop_prob: float = 0.2

    ff_dim: int = 0  # feed-forward width; 0 means d_model * ff_mult (MoMask's full size uses 1024 at d=384)

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict (ff_dim only when set, so older configs keep their versions)."""
        d = asdict(self)
        if not d["ff_dim"]:
            del d["ff_dim"]
        return d


class ResidualTransformer(nn.Module):
    """Given layers 0..q-1 of the codes and the conditions, predicts layer q (weights shared across q)."""

    def __init__(self, cfg: ResidualTransformerConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or ResidualTransformerConfig()
        self.net = TokenTransformer(cfg.codebook_size + 2, cfg.d_model, cfg.n_layers, cfg.n_heads,
                                    cfg.ff_dim or cfg.d_model * cfg.ff_mult,
                                    cfg.dropout, cfg.max_tokens + cfg.num_cond + 1)
        self.code_emb = nn.Parameter(torch.randn(cfg.num_quantizers, cfg.codebook_size, cfg.d_model) * 0.02)
        self.layer_emb = nn.Embedding(cfg.num_quantizers, cfg.d_model)
        self.cond_proj = nn.Linear(cfg.cond_dim, cfg.d_model)
        self.null_cond = nn.Parameter(torch.randn(cfg.num_cond, cfg.d_model) * 0.02)
        self.heads = nn.Parameter(torch.randn(cfg.num_quantizers, cfg.d_model, cfg.codebook_size) * 0.02)

    def _inputs(self, codes: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        # Sum of the embeddings of the layers below q for each item.
        b, t, nq = codes.shape
        layers = torch.arange(nq, device=codes.device)
        below = (layers[None] < q[:, None]).float()  # (B, Q)
        emb = torch.stack([F.embedding(codes[..., i].clamp_min(0), self.code_emb[i]) for i in range(nq)], dim=2)
        return (emb * below[:, None, :, None]).sum(2)

    def forward(self, codes: torch.Tensor, q: torch.Tensor, cond: torch.Tensor, present: torch.Tensor,
                pad: torch.Tensor) -> torch.Tensor:
        """Return logits (B, T, K) of layer q (B,) given codes (B, T, Q) of the layers below it."""
        proj = self.cond_proj(cond)
        prefix = torch.where(present[..., None], proj, self.null_cond[None].expand_as(proj))
        prefix = torch.cat([prefix, self.layer_emb(q)[:, None]], dim=1)
        h = self.net(prefix, self._inputs(codes, q), pad)
        return torch.einsum("btd,bdk->btk", h, self.heads[q])

    def training_loss(self, codes: torch.Tensor, lengths: torch.Tensor, cond: torch.Tensor, present: torch.Tensor,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Cross-entropy on a random residual layer q in [1, Q) per item."""
        b, t, nq = codes.shape
        device = codes.device
        pad = torch.arange(t, device=device)[None] >= lengths[:, None]
        q = torch.randint(1, nq, (b,), generator=generator, device=device)
        drop = torch.rand(b, generator=generator, device=device) < self.cfg.cond_drop_prob
        present = present & ~drop[:, None]
        logits = self(codes, q, cond, present, pad)
        target = codes.gather(2, q[:, None, None].expand(b, t, 1))[..., 0].masked_fill(pad, -100)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)
        with torch.no_grad():
            acc = (logits.argmax(-1) == target)[~pad].float().mean()
        return {"loss": loss, "acc": acc}

    @torch.no_grad()
    def generate(self, base: torch.Tensor, lengths: torch.Tensor, cond: torch.Tensor, present: torch.Tensor,
                 guidance: float = 2.0, temperature: float = 1.0,
                 generator: torch.Generator | None = None, keep: torch.Tensor | None = None,
                 init_codes: torch.Tensor | None = None) -> torch.Tensor:
        """Complete base-layer ids (B, T) into all layers (B, T, Q); padding positions are -1.

        keep (B, T) bool with init_codes (B, T, Q): in-painting; those positions keep init_codes in every layer.
        """
        b, t = base.shape
        nq = self.cfg.num_quantizers
        device = base.device
        pad = torch.arange(t, device=device)[None] >= lengths[:, None]
        codes = torch.full((b, t, nq), -1, dtype=torch.long, device=device)
        codes[..., 0] = base.masked_fill(pad, 0).clamp(max=self.cfg.codebook_size - 1)
        for q in range(1, nq):
            qq = torch.full((b,), q, dtype=torch.long, device=device)
            if guidance == 1.0:
                logits = self(codes, qq, cond, present, pad)
            else:
                both = self(torch.cat([codes, codes]), torch.cat([qq, qq]), torch.cat([cond, cond]),
                            torch.cat([present, torch.zeros_like(present)]), torch.cat([pad, pad]))
                c, u = both.chunk(2)
                logits = u + guidance * (c - u)
            if temperature > 0:
                codes[..., q] = (logits / temperature + gumbel_noise(logits.shape, generator, device)).argmax(-1)
            else:
                codes[..., q] = logits.argmax(-1)
            if keep is not None:
                codes[..., q] = torch.where(keep[:, :t], init_codes[:, :t, q], codes[..., q])
        return codes.masked_fill(pad[..., None], -1)
