"""Residual VQ-VAE motion tokenizer (MoMask's RVQ), one readable file.

A 1-D convolutional encoder turns (B, T, 263) normalised features into one latent per
2**down_t frames; a stack of quantizers codes the latent and its residuals; a mirrored
decoder gives the features back. Codebooks learn by exponential moving averages and
revive dead codes from the current batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


@dataclass
class RVQConfig:
    """Sizes of the tokenizer; `full()` gives MoMask's published sizes."""

    input_dim: int = 263
    width: int = 256
    code_dim: int = 256
    down_t: int = 2
    depth: int = 2
    dilation_growth: int = 3
    num_quantizers: int = 4
    codebook_size: int = 256
    ema_decay: float = 0.99
    dead_code_threshold: float = 1.0
    quantize_dropout_prob: float = 0.2
    commit_weight: float = 0.02
    velocity_weight: float = 0.5

    @classmethod
    def full(cls) -> RVQConfig:
        """MoMask's sizes: 6 quantizers of 512 codes, width 512 (for a GPU)."""
        return cls(width=512, code_dim=512, num_quantizers=6, codebook_size=512, depth=3)

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)

    @property
    def frames_per_token(self) -> int:
        """Number of motion frames each token covers."""
        return 2**self.down_t


class ResBlock(nn.Module):
    """Dilated residual convolution."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to (B, C, T)."""
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def _resnet(width: int, depth: int, growth: int, reverse: bool) -> nn.Sequential:
    dilations = [growth**i for i in range(depth)]
    if reverse:
        dilations = dilations[::-1]
    return nn.Sequential(*[ResBlock(width, d) for d in dilations])


class Encoder(nn.Module):
    """Features (B, C_in, T) to latents (B, D, T / 2**down_t)."""

    def __init__(self, cfg: RVQConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(cfg.input_dim, cfg.width, 3, padding=1), nn.ReLU()]
        for _ in range(cfg.down_t):
            layers += [
                nn.Conv1d(cfg.width, cfg.width, 4, stride=2, padding=1),
                _resnet(cfg.width, cfg.depth, cfg.dilation_growth, reverse=False),
            ]
        layers.append(nn.Conv1d(cfg.width, cfg.code_dim, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode (B, C, T)."""
        return self.net(x)


class Decoder(nn.Module):
    """Latents (B, D, T') back to features (B, C_in, T' * 2**down_t)."""

    def __init__(self, cfg: RVQConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(cfg.code_dim, cfg.width, 3, padding=1), nn.ReLU()]
        for _ in range(cfg.down_t):
            layers += [
                _resnet(cfg.width, cfg.depth, cfg.dilation_growth, reverse=True),
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv1d(cfg.width, cfg.width, 3, padding=1),
            ]
        layers += [
            nn.Conv1d(cfg.width, cfg.width, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(cfg.width, cfg.input_dim, 3, padding=1),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode (B, D, T')."""
        return self.net(z)


def _ddp_world() -> int:
    """The number of training processes (1 outside torch.distributed)."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class EMAQuantizer(nn.Module):
    """One codebook, learned by exponential moving averages, with dead-code reset."""

    def __init__(self, size: int, dim: int, decay: float, dead_threshold: float) -> None:
        super().__init__()
        self.size, self.dim, self.decay, self.dead_threshold = size, dim, decay, dead_threshold
        self.register_buffer("codebook", torch.zeros(size, dim))
        self.register_buffer("ema_count", torch.zeros(size))
        self.register_buffer("ema_sum", torch.zeros(size, dim))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    def _init_from(self, x: torch.Tensor, generator: torch.Generator | None) -> None:
        idx = torch.randint(0, x.shape[0], (self.size,), generator=generator, device=x.device)
        self.codebook.copy_(x[idx])
        self.ema_sum.copy_(x[idx])
        self.ema_count.fill_(1.0)
        self.initialised.fill_(True)
        self._broadcast()

    def _broadcast(self) -> None:
        # Under DDP every rank keeps rank 0's codebook, so all ranks quantize alike.
        if _ddp_world() > 1:
            import torch.distributed as dist

            for buf in (self.codebook, self.ema_sum, self.ema_count):
                dist.broadcast(buf, 0)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Return the nearest code index of each row of x (N, D)."""
        dist = x.pow(2).sum(1, keepdim=True) - 2 * x @ self.codebook.t() + self.codebook.pow(2).sum(1)[None]
        return dist.argmin(dim=1)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Return the code vectors of indices (any shape) with a trailing D axis."""
        return F.embedding(idx, self.codebook)

    @torch.no_grad()
    def _ema_update(self, x: torch.Tensor, idx: torch.Tensor, generator: torch.Generator | None) -> None:
        onehot = F.one_hot(idx, self.size).type(x.dtype)
        count = onehot.sum(0)
        total = onehot.t() @ x
        if _ddp_world() > 1:
            import torch.distributed as dist

            # The statistics of the global batch (all ranks), as one process with the whole batch would see them.
            dist.all_reduce(count)
            dist.all_reduce(total)
        self.ema_count.mul_(self.decay).add_(count, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(total, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + 1e-5) / (n + self.size * 1e-5) * n
        self.codebook.copy_(self.ema_sum / smoothed[:, None])
        # Codes nobody has chosen lately restart from random latents of this batch.
        dead = self.ema_count < self.dead_threshold
        if bool(dead.any()):
            pick = torch.randint(0, x.shape[0], (int(dead.sum()),), generator=generator, device=x.device)
            self.codebook[dead] = x[pick]
            self.ema_sum[dead] = x[pick]
            self.ema_count[dead] = 1.0
            self._broadcast()

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantize x (N, D); return (quantized, indices). Updates the codebook in training."""
        x = x.float()
        if self.training and not bool(self.initialised):
            self._init_from(x.detach(), generator)
        idx = self.codes(x.detach())
        if self.training:
            self._ema_update(x.detach(), idx, generator)
        return self.lookup(idx), idx


class ResidualVQ(nn.Module):
    """A stack of quantizers, each coding what the previous ones left over."""

    def __init__(self, cfg: RVQConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(
            EMAQuantizer(cfg.codebook_size, cfg.code_dim, cfg.ema_decay, cfg.dead_code_threshold)
            for _ in range(cfg.num_quantizers)
        )

    def forward(
        self, z: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantize z (B, D, T'); return (quantized, codes (B, T', Q), commit loss, perplexity of layer 0)."""
        b, _, t = z.shape
        flat = rearrange(z, "b d t -> (b t) d")
        used = len(self.layers)
        if self.training and self.cfg.quantize_dropout_prob > 0:
            if float(torch.rand((), generator=generator, device=z.device)) < self.cfg.quantize_dropout_prob:
                used = int(torch.randint(1, len(self.layers) + 1, (), generator=generator, device=z.device))
        residual = flat
        total = torch.zeros_like(flat)
        codes = torch.full((flat.shape[0], len(self.layers)), -1, dtype=torch.long, device=z.device)
        commit = flat.new_zeros(())
        perplexity = flat.new_zeros(())
        for q, layer in enumerate(self.layers[:used]):
            quant, idx = layer(residual, generator)
            commit = commit + F.mse_loss(residual, quant.detach())
            residual = residual - quant.detach()
            total = total + quant
            codes[:, q] = idx
            if q == 0:
                probs = torch.bincount(idx, minlength=layer.size).float() / idx.numel()
                perplexity = torch.exp(-(probs * (probs + 1e-10).log()).sum())
        # Straight-through: gradients reach the encoder as if quantization were the identity.
        out = flat + (total - flat).detach()
        out = rearrange(out, "(b t) d -> b d t", b=b, t=t)
        return out, rearrange(codes, "(b t) q -> b t q", b=b, t=t), commit / used, perplexity

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum the code vectors of codes (B, T', Q); -1 entries count as zero. Returns (B, D, T')."""
        total = None
        for q, layer in enumerate(self.layers):
            if q >= codes.shape[-1]:
                break
            idx = codes[..., q]
            vec = layer.lookup(idx.clamp_min(0)) * (idx >= 0)[..., None].float()
            total = vec if total is None else total + vec
        return rearrange(total, "b t d -> b d t")


class RVQVAE(nn.Module):
    """Encoder, residual quantizer and decoder of normalised motion features."""

    def __init__(self, cfg: RVQConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or RVQConfig()
        self.encoder = Encoder(self.cfg)
        self.quantizer = ResidualVQ(self.cfg)
        self.decoder = Decoder(self.cfg)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Reconstruct x (B, T, C) with T a multiple of frames_per_token; returns outputs and losses."""
        z = self.encoder(rearrange(x, "b t c -> b c t"))
        zq, codes, commit, perplexity = self.quantizer(z, generator)
        recon = rearrange(self.decoder(zq), "b c t -> b t c")
        return {"recon": recon, "codes": codes, "commit": commit, "perplexity": perplexity}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Return the codes (B, T', Q) of features x (B, T, C)."""
        z = self.encoder(rearrange(x, "b t c -> b c t"))
        flat = rearrange(z, "b d t -> (b t) d")
        residual, codes = flat, []
        for layer in self.quantizer.layers:
            idx = layer.codes(residual)
            residual = residual - layer.lookup(idx)
            codes.append(idx)
        return rearrange(torch.stack(codes, -1), "(b t) q -> b t q", b=z.shape[0])

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Return features (B, T' * frames_per_token, C) of codes (B, T', Q)."""
        return rearrange(self.decoder(self.quantizer.decode_codes(codes)), "b c t -> b t c")


def rvq_loss(
    out: dict[str, torch.Tensor], target: torch.Tensor, cfg: RVQConfig, mask: torch.Tensor | None = None,
    channel_weights: torch.Tensor | None = None,
) -> dict:
    """MoMask's loss: smooth-L1 reconstruction + velocity (joint-position channels) + commitment.

    channel_weights (C,): relative weight of each feature channel (default all 1: MoMask's plain mean).
    """
    recon = out["recon"]
    c = torch.ones(target.shape[-1], device=target.device) if channel_weights is None else channel_weights
    c = c.to(target.device, torch.float32)
    m = torch.ones(target.shape[:2], device=target.device) if mask is None else mask.float()
    w = m[..., None]
    rec = (F.smooth_l1_loss(recon, target, reduction="none") * w * c).sum() / (w.sum() * c.sum())
    # Velocity term on the local joint positions (features 4:67) as MoMask does.
    dv_r = recon[:, 1:, 4:67] - recon[:, :-1, 4:67]
    dv_t = target[:, 1:, 4:67] - target[:, :-1, 4:67]
    wv = (m[:, 1:] * m[:, :-1])[..., None]
    cv = c[4:67]
    vel = (F.smooth_l1_loss(dv_r, dv_t, reduction="none") * wv * cv).sum() / (wv.sum() * cv.sum()).clamp_min(1)
    total = rec + cfg.velocity_weight * vel + cfg.commit_weight * out["commit"]
    return {"loss": total, "recon": rec.detach(), "velocity": vel.detach(), "commit": out["commit"].detach()}
