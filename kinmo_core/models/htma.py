"""Hierarchical Text-Motion Alignment (HTMA, paper Sec. 3.3) on TMR's probabilistic ACTOR encoders.

Three text levels share the architecture of one encoder each:
    h_c = E_c(emb(T_c))
    h_g = E_g(CrossAttn(emb(T_g), h_c))
    h_i = E_i(CrossAttn(emb(T_i), h_g))
where emb() are frozen token features of the global caption, and one pooled feature per
group (6) and per pair (15) description plus a learned slot embedding saying which group or
pair it describes (a description's own tokens would multiply the text cost by 21 for little:
the rules and Reasoner descriptions are short template sentences). The motion encoder gives one distribution per
level, so text and motion meet in three aligned spaces; retrieval compares
[mu_c; mu_g; mu_i] across modalities by cosine similarity. The decoder reconstructs every
level's latents from both modalities in one batched pass, on a subsampled time axis.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import repeat
from torch import nn

LEVELS: tuple[str, ...] = ("global", "group", "interaction")


@dataclass
class HTMAConfig:
    """Sizes and loss weights (TMR's defaults where the paper is silent).

    Sized for a 2-core CPU (about 5M parameters, ~10 MB in float16): two-layer encoders with ff 512, and a one-layer
    decoder that reconstructs every `recons_stride`-th frame only (the reconstruction loss regularises the latent
    space; it need not be dense in time). `text_encoder` names the frozen token encoder's folder (the bundled
    all-MiniLM-L6-v2 by default), so embeddings made with another encoder count as another model version.
    """

    motion_dim: int = 263
    text_dim: int = 384
    latent_dim: int = 256
    ff_dim: int = 512
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.1
    max_frames: int = 200
    decoder_layers: int = 1
    recons_stride: int = 8
    text_encoder: str = "all-MiniLM-L6-v2"
    num_groups: int = 6
    num_pairs: int = 15
    cross_attention: bool = True
    levels: int = 3
    temperature: float = 0.1
    threshold_selfsim: float = 0.8
    w_recons: float = 1.0
    w_latent: float = 1e-5
    w_kl: float = 1e-5
    w_contrastive: float = 0.1

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)


class PositionalEncoding(nn.Module):
    """Sinusoidal positions added to (B, T, D)."""

    def __init__(self, dim: int, max_len: int = 1024) -> None:
        super().__init__()
        pos = torch.arange(max_len)[:, None]
        div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        pe = torch.zeros(max_len, dim)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add positions to x."""
        return x + self.pe[: x.shape[1]][None]


def _encoder(cfg: HTMAConfig) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(cfg.latent_dim, cfg.n_heads, cfg.ff_dim, cfg.dropout, activation="gelu",
                                       batch_first=True)
    return nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)


class ActorEncoder(nn.Module):
    """ACTOR/TMR encoder: learned distribution tokens read (mu, logvar) pairs off a transformer."""

    def __init__(self, cfg: HTMAConfig, input_dim: int, num_dists: int = 1) -> None:
        super().__init__()
        self.num_dists = num_dists
        self.proj = nn.Linear(input_dim, cfg.latent_dim)
        self.tokens = nn.Parameter(torch.randn(2 * num_dists, cfg.latent_dim) * 0.02)
        self.pos = PositionalEncoding(cfg.latent_dim)
        self.net = _encoder(cfg)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, projected: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode x (B, T, C) with mask (B, T) True on valid rows; returns mu, logvar (B, K, D) and outputs."""
        h = x if projected else self.proj(x)
        b = h.shape[0]
        h = torch.cat([repeat(self.tokens, "n d -> b n d", b=b), h], dim=1)
        h = self.pos(h)
        valid = torch.cat([mask.new_ones(b, self.tokens.shape[0]), mask], dim=1)
        out = self.net(h, src_key_padding_mask=~valid)
        k = self.num_dists
        return out[:, :k], out[:, k: 2 * k], out[:, 2 * k:]


class CrossAttention(nn.Module):
    """One cross-attention layer with a residual: descriptions attend to the coarser level's outputs."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        """Return x + Attn(x, memory)."""
        out, _ = self.attn(self.norm(x), memory, memory, key_padding_mask=~memory_mask)
        return x + out


class MotionDecoder(nn.Module):
    """TMR's decoder: a latent vector and time queries give back motion features."""

    def __init__(self, cfg: HTMAConfig) -> None:
        super().__init__()
        self.pos = PositionalEncoding(cfg.latent_dim)
        layer = nn.TransformerDecoderLayer(cfg.latent_dim, cfg.n_heads, cfg.ff_dim, cfg.dropout, activation="gelu",
                                           batch_first=True)
        self.net = nn.TransformerDecoder(layer, cfg.decoder_layers)
        self.out = nn.Linear(cfg.latent_dim, cfg.motion_dim)

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Decode z (B, D) into (B, T, motion_dim) for the valid frames of mask (B, T)."""
        queries = self.pos(torch.zeros(mask.shape[0], mask.shape[1], z.shape[-1], device=z.device))
        h = self.net(queries, z[:, None], tgt_key_padding_mask=~mask)
        return self.out(h) * mask[..., None]


class HTMA(nn.Module):
    """Text encoders for three levels, a motion encoder with one distribution per level, and a motion decoder."""

    def __init__(self, cfg: HTMAConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or HTMAConfig()
        self.motion_encoder = ActorEncoder(cfg, cfg.motion_dim, num_dists=cfg.levels)
        self.text_encoders = nn.ModuleList(ActorEncoder(cfg, cfg.text_dim) for _ in range(cfg.levels))
        self.slot_emb = nn.ParameterList(
            [nn.Parameter(torch.randn(n, cfg.latent_dim) * 0.02) for n in (cfg.num_groups, cfg.num_pairs)][
                : cfg.levels - 1]
        )
        self.cross = nn.ModuleList(CrossAttention(cfg.latent_dim, cfg.n_heads, cfg.dropout)
                                   for _ in range(cfg.levels - 1))
        self.decoder = MotionDecoder(cfg)

    def encode_text(self, tokens: torch.Tensor, token_mask: torch.Tensor, groups: torch.Tensor | None = None,
                    pairs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return per-level mu and logvar (B, levels, D) of a global caption's token features and descriptions.

        tokens (B, L, text_dim) with token_mask (B, L); groups (B, 6, text_dim) and pairs (B, 15, text_dim) hold one
        pooled feature per description.
        """
        mus, logvars = [], []
        mu, logvar, out = self.text_encoders[0](tokens, token_mask)
        mus.append(mu[:, 0])
        logvars.append(logvar[:, 0])
        memory = torch.cat([mu, logvar, out], dim=1)
        memory_mask = torch.cat([token_mask.new_ones(token_mask.shape[0], 2), token_mask], dim=1)
        for level, desc in enumerate((groups, pairs)[: self.cfg.levels - 1], start=1):
            if desc is None:
                raise ValueError(f"HTMA with {self.cfg.levels} levels needs the level-{level} descriptions")
            enc = self.text_encoders[level]
            x = enc.proj(desc) + self.slot_emb[level - 1][None]
            if self.cfg.cross_attention:
                x = self.cross[level - 1](x, memory, memory_mask)
            valid = desc.new_ones(desc.shape[:2], dtype=torch.bool)
            mu, logvar, out = enc(x, valid, projected=True)
            mus.append(mu[:, 0])
            logvars.append(logvar[:, 0])
            memory = torch.cat([mu, logvar, out], dim=1)
            memory_mask = torch.cat([valid.new_ones(valid.shape[0], 2), valid], dim=1)
        return torch.stack(mus, 1), torch.stack(logvars, 1)

    def encode_motion(self, motion: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return per-level mu and logvar (B, levels, D) of normalised features (B, T, 263) with mask (B, T)."""
        mu, logvar, _ = self.motion_encoder(motion, mask)
        return mu, logvar

    @staticmethod
    def retrieval_embedding(mu: torch.Tensor, levels: int | None = None) -> torch.Tensor:
        """Concatenate the first `levels` level means into one L2-normalised vector (B, levels * D)."""
        mu = mu[:, :levels] if levels else mu
        return F.normalize(F.normalize(mu, dim=-1).flatten(1), dim=-1)

    def losses(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None
               ) -> dict[str, torch.Tensor]:
        """TMR's losses at every level: reconstruction, KL, latent similarity and filtered InfoNCE."""
        cfg = self.cfg
        motion, mask = batch["motion"], batch["mask"]
        t_mu, t_logvar = self.encode_text(batch["tokens"], batch["token_mask"], batch.get("groups"),
                                          batch.get("pairs"))
        m_mu, m_logvar = self.encode_motion(motion, mask)
        # Distribution parameters in float32 so KL and InfoNCE stay exact under bf16 autocast.
        t_mu, t_logvar, m_mu, m_logvar = (x.float() for x in (t_mu, t_logvar, m_mu, m_logvar))
        def draw(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
            if not self.training:
                return mu
            return mu + torch.randn(mu.shape, generator=generator, device=mu.device) * (0.5 * logvar).exp()

        t_z = draw(t_mu, t_logvar)
        m_z = draw(m_mu, m_logvar)
        out: dict[str, torch.Tensor] = {}
        total = motion.new_zeros(())
        sim_text = batch.get("text_sim")  # (B, B) sentence-embedding similarity of the global captions
        # One decoder pass for every level, from text and from motion, on every recons_stride-th frame.
        stride = max(1, cfg.recons_stride)
        target, tmask = motion[:, ::stride], mask[:, ::stride]
        b, levels = motion.shape[0], cfg.levels
        z = torch.cat([t_z, m_z], dim=0).transpose(0, 1).reshape(levels * 2 * b, -1)
        rec = self.decoder(z, tmask.repeat(levels * 2, 1)).float().reshape(levels, 2, b, *target.shape[1:])
        w = tmask[..., None].float()
        denom = w.sum() * motion.shape[-1]
        for lv in range(levels):
            recons = ((F.smooth_l1_loss(rec[lv, 0], target, reduction="none") * w).sum()
                      + (F.smooth_l1_loss(rec[lv, 1], target, reduction="none") * w).sum()) / denom
            kl = (_kl(t_mu[:, lv], t_logvar[:, lv], m_mu[:, lv], m_logvar[:, lv])
                  + _kl(m_mu[:, lv], m_logvar[:, lv], t_mu[:, lv], t_logvar[:, lv])
                  + _kl_std(t_mu[:, lv], t_logvar[:, lv]) + _kl_std(m_mu[:, lv], m_logvar[:, lv]))
            latent = F.smooth_l1_loss(t_z[:, lv], m_z[:, lv])
            nce = info_nce(t_mu[:, lv], m_mu[:, lv], cfg.temperature, sim_text, cfg.threshold_selfsim)
            lv_total = cfg.w_recons * recons + cfg.w_kl * kl + cfg.w_latent * latent + cfg.w_contrastive * nce
            total = total + lv_total
            name = LEVELS[lv]
            out[f"{name}/recons"], out[f"{name}/kl"], out[f"{name}/nce"] = recons.detach(), kl.detach(), nce.detach()
        out["loss"] = total
        return out


def _kl(mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    # KL(N1 || N2) of diagonal Gaussians, averaged over the batch.
    var1, var2 = logvar1.exp(), logvar2.exp()
    return 0.5 * (logvar2 - logvar1 + (var1 + (mu1 - mu2) ** 2) / var2 - 1).sum(-1).mean()


def _kl_std(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return _kl(mu, logvar, torch.zeros_like(mu), torch.zeros_like(logvar))


def info_nce(text: torch.Tensor, motion: torch.Tensor, temperature: float, text_sim: torch.Tensor | None = None,
             threshold: float = 0.8) -> torch.Tensor:
    """Symmetric InfoNCE on cosine similarities; negatives whose captions are near-duplicates are left out."""
    sim = F.normalize(text, dim=-1) @ F.normalize(motion, dim=-1).t() / temperature
    if text_sim is not None:
        near = (text_sim > threshold) & ~torch.eye(sim.shape[0], dtype=torch.bool, device=sim.device)
        sim = sim.masked_fill(near, float("-inf"))
    target = torch.arange(sim.shape[0], device=sim.device)
    return 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.t(), target))
