"""Masked token transformer over base-layer motion tokens (MoMask), with KinMo's hierarchical conditions.

The condition is a short sequence of embeddings prepended as tokens: one slot per text
level (global, group, interaction). A missing level uses a learned null embedding, so
the same weights generate coarse (global only) and fine (all three levels) motion.
Training masks a cosine-scheduled share of the tokens; generation unmasks them
iteratively by confidence, with classifier-free guidance.

With `control_frames` set, the model also takes spatial control (the paper's ControlNet-style branch): joint
targets at some frames (positions, which axes are given, and displacements between given frames), gathered per
token and added to the token embeddings through a zero-initialised projection, so a model fine-tuned from a plain
one starts out generating exactly as it did.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kinmo_core.motion.skeleton import NUM_JOINTS


@dataclass
class MaskTransformerConfig:
    """Sizes of the masked transformer."""

    codebook_size: int = 256
    cond_dim: int = 256
    num_cond: int = 3
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    max_tokens: int = 64
    cond_drop_prob: float = 0.1
    level_drop_prob: float = 0.3

    ff_dim: int = 0  # feed-forward width; 0 means d_model * ff_mult (MoMask's full size uses 1024 at d=384)
    control_frames: int = 0
    """Frames per token of the spatial-control branch (the RVQ's); 0: no branch, text only."""

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict (optional fields only when set, so older configs keep versions)."""
        d = asdict(self)
        for key in ("ff_dim", "control_frames"):
            if not d[key]:
                del d[key]
        return d

    @property
    def mask_id(self) -> int:
        """Token id of [MASK]."""
        return self.codebook_size

    @property
    def pad_id(self) -> int:
        """Token id of padding."""
        return self.codebook_size + 1


def cosine_schedule(t: torch.Tensor) -> torch.Tensor:
    """Share of tokens masked at time t in [0, 1] (1 at t=0, 0 at t=1)."""
    return torch.cos(t * math.pi / 2)


CONTROL_CHANNELS: int = 9
"""Per joint and frame: the target position (3, zero where free), which axes are given (3), and the displacement
from the previous frame where both give the axis (3)."""


def control_input(targets: torch.Tensor, frames_per_token: int) -> torch.Tensor:
    """Return the branch input (B, T', frames_per_token * 22 * CONTROL_CHANNELS) from targets (B, T, 22, 3), NaN free.

    T is padded with free frames up to a whole number of tokens.
    """
    b, t, j, _ = targets.shape
    tokens = -(-t // frames_per_token)
    pad = tokens * frames_per_token - t
    if pad:
        targets = torch.cat([targets, targets.new_full((b, pad, j, 3), float("nan"))], dim=1)
    given = torch.isfinite(targets)
    pos = torch.nan_to_num(targets, nan=0.0)
    step = torch.zeros_like(pos)
    both = given[:, 1:] & given[:, :-1]
    # Displacements in cm per frame: a speed the branch can read at every frame of a dense trajectory.
    step[:, 1:] = torch.where(both, (pos[:, 1:] - pos[:, :-1]) * 100.0, 0.0)
    x = torch.cat([pos, given.to(pos.dtype), step], dim=-1)
    return x.reshape(b, tokens, frames_per_token * j * CONTROL_CHANNELS)


def gumbel_noise(shape: torch.Size, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Standard Gumbel noise, for sampling by argmax."""
    u = torch.rand(shape, generator=generator, device=device).clamp(1e-20, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


@dataclass
class Negative:
    """A negative condition for some rows of a batch (`guided_logits`): cond (R, 3, D) and present (R, 3) for the
    rows where rows (B,) is True."""

    cond: torch.Tensor
    present: torch.Tensor
    rows: torch.Tensor
    scale: float


class TokenTransformer(nn.Module):
    """Bidirectional transformer over [conditions; tokens] with learned positions (shared by both generators)."""

    def __init__(self, vocab: int, d_model: int, n_layers: int, n_heads: int, ff_dim: int, dropout: float,
                 max_len: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.zeros(1, max_len, d_model))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, ff_dim, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, prefix: torch.Tensor, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """Run over prefix (B, P, D) and token embeddings x (B, T, D); pad (B, T) True where padded."""
        h = torch.cat([prefix, x], dim=1)
        h = h + self.pos[:, : h.shape[1]]
        key_pad = torch.cat([pad.new_zeros(pad.shape[0], prefix.shape[1]), pad], dim=1)
        h = self.blocks(h, src_key_padding_mask=key_pad)
        return self.norm(h[:, prefix.shape[1]:])


class MaskTransformer(nn.Module):
    """Predicts masked base-layer tokens from the visible ones and the text conditions."""

    def __init__(self, cfg: MaskTransformerConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or MaskTransformerConfig()
        self.net = TokenTransformer(cfg.codebook_size + 2, cfg.d_model, cfg.n_layers, cfg.n_heads,
                                    cfg.ff_dim or cfg.d_model * cfg.ff_mult,
                                    cfg.dropout, cfg.max_tokens + cfg.num_cond)
        self.cond_proj = nn.Linear(cfg.cond_dim, cfg.d_model)
        self.null_cond = nn.Parameter(torch.zeros(cfg.num_cond, cfg.d_model))
        self.level_emb = nn.Parameter(torch.zeros(cfg.num_cond, cfg.d_model))
        nn.init.normal_(self.null_cond, std=0.02)
        nn.init.normal_(self.level_emb, std=0.02)
        self.head = nn.Linear(cfg.d_model, cfg.codebook_size)
        self.control = None
        if cfg.control_frames:
            self.control = nn.Sequential(nn.Linear(cfg.control_frames * NUM_JOINTS * CONTROL_CHANNELS, cfg.d_model),
                                         nn.GELU(), nn.Linear(cfg.d_model, cfg.d_model))
            # Zero at the start: the branch adds nothing until training teaches it (ControlNet's zero convolution).
            nn.init.zeros_(self.control[-1].weight)
            nn.init.zeros_(self.control[-1].bias)

    new_on_init: tuple[str, ...] = ("control.",)
    """Weight names a model may lack when it initialises this one (`training.common.init_weights`)."""

    def condition_tokens(self, cond: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Project cond (B, L, cond_dim); levels where present (B, L) is False use the null embedding."""
        proj = self.cond_proj(cond)
        null = self.null_cond[None].expand_as(proj)
        return torch.where(present[..., None], proj, null) + self.level_emb[None]

    def embed_control(self, targets: torch.Tensor | None, tokens: int) -> torch.Tensor | None:
        """Return the branch's additions (B, tokens, D) for targets (B, T, 22, 3) NaN where free, or None."""
        if targets is None:
            return None
        if self.control is None:
            raise ValueError("this masked transformer has no spatial-control branch")
        x = control_input(targets, self.cfg.control_frames)[:, :tokens]
        if x.shape[1] < tokens:
            x = torch.cat([x, x.new_zeros(x.shape[0], tokens - x.shape[1], x.shape[2])], dim=1)
        return self.control(x.to(self.head.weight.dtype))

    def forward(self, ids: torch.Tensor, cond: torch.Tensor, present: torch.Tensor, pad: torch.Tensor,
                control: torch.Tensor | None = None) -> torch.Tensor:
        """Return logits (B, T, K) for token ids (B, T) under conditions (B, L, C) and present (B, L).

        control: the branch's additions (B, T, D) from `embed_control`, or None.
        """
        prefix = self.condition_tokens(cond, present)
        x = self.net.tok(ids)
        if control is not None:
            x = x + control
        return self.head(self.net(prefix, x, pad))

    def training_loss(self, codes: torch.Tensor, lengths: torch.Tensor, cond: torch.Tensor, present: torch.Tensor,
                      generator: torch.Generator | None = None, targets: torch.Tensor | None = None,
                      keep: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """MoMask's masked-token loss on base codes (B, T) with token lengths (B,); targets: spatial control; keep
        (B, T): tokens given as context, never masked (in-painting, as an edit decodes)."""
        cfg = self.cfg
        b, t = codes.shape
        device = codes.device
        pad = torch.arange(t, device=device)[None] >= lengths[:, None]
        present = present.clone()
        # Hierarchical dropout: drop the finer levels (interaction, then group) so coarse generation is learned too,
        # and all levels at once for classifier-free guidance.
        u = torch.rand(b, generator=generator, device=device)
        drop_fine = u < cfg.level_drop_prob
        keep_levels = torch.randint(1, cfg.num_cond, (b,), generator=generator, device=device)
        level_idx = torch.arange(cfg.num_cond, device=device)[None]
        present &= ~(drop_fine[:, None] & (level_idx >= keep_levels[:, None]))
        drop_all = torch.rand(b, generator=generator, device=device) < cfg.cond_drop_prob
        present &= ~drop_all[:, None]
        ratio = cosine_schedule(torch.rand(b, generator=generator, device=device))
        given = torch.zeros_like(pad) if keep is None else keep.to(device) & ~pad
        n_mask = (ratio * (lengths - given.sum(1)).float()).ceil().clamp(min=1).long()
        scores = torch.rand(b, t, generator=generator, device=device).masked_fill(pad | given, 2.0)
        ranks = scores.argsort(1).argsort(1)
        is_mask = ranks < n_mask[:, None]
        ids = codes.clone().masked_fill(pad, cfg.pad_id)
        # BERT-style corruption: 10% of the masked slots get a random code, 10% keep the truth.
        r = torch.rand(b, t, generator=generator, device=device)
        rand_codes = torch.randint(0, cfg.codebook_size, (b, t), generator=generator, device=device)
        inp = torch.where(is_mask & (r < 0.8), torch.full_like(ids, cfg.mask_id), ids)
        inp = torch.where(is_mask & (r >= 0.8) & (r < 0.9), rand_codes, inp)
        logits = self(inp, cond, present, pad, self.embed_control(targets, t))
        target = codes.masked_fill(~is_mask, -100)
        loss = F.cross_entropy(logits.reshape(-1, cfg.codebook_size), target.reshape(-1), ignore_index=-100)
        with torch.no_grad():
            acc = (logits.argmax(-1) == codes)[is_mask].float().mean()
        return {"loss": loss, "acc": acc}

    def guided_logits(self, ids: torch.Tensor, cond: torch.Tensor, present: torch.Tensor, pad: torch.Tensor,
                      guidance: float, control: torch.Tensor | None = None,
                      negative: Negative | None = None) -> torch.Tensor:
        """Classifier-free guided logits: uncond + guidance * (cond - uncond); the control is in every term.

        negative: for its rows, the logits also move by negative.scale * (cond - the negative condition's).
        """
        rows = None if negative is None or negative.scale == 0.0 else negative.rows
        if guidance == 1.0 and rows is None:
            return self(ids, cond, present, pad, control)
        k = 0 if rows is None else int(rows.sum())
        many = [ids, ids] + ([ids[rows]] if k else [])
        conds = [cond, cond] + ([negative.cond] if k else [])
        presents = [present, torch.zeros_like(present)] + ([negative.present & present[rows]] if k else [])
        ctl = None if control is None else torch.cat([control, control] + ([control[rows]] if k else []))
        out = self(torch.cat(many), torch.cat(conds), torch.cat(presents),
                   torch.cat([pad, pad] + ([pad[rows]] if k else [])), ctl)
        b = ids.shape[0]
        c, u = out[:b], out[b:2 * b]
        logits = u + guidance * (c - u)
        if k:
            logits[rows] = logits[rows] + negative.scale * (c[rows] - out[2 * b:])
        return logits

    @torch.no_grad()
    def generate(self, cond: torch.Tensor, present: torch.Tensor, lengths: torch.Tensor, steps: int = 10,
                 guidance: float = 4.0, temperature: float = 1.0, topk_ratio: float = 0.9,
                 init_ids: torch.Tensor | None = None, remask_ratio: float = 1.0,
                 generator: torch.Generator | None = None,
                 with_confidence: bool = True,
                 keep: torch.Tensor | None = None,
                 targets: torch.Tensor | None = None,
                 negative: Negative | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decode base tokens by confidence; with init_ids, re-mask and refine the least fitting share.

        targets (B, T, 22, 3), NaN where free: spatial control through the branch (models with one).
        keep (B, T) bool, with init_ids: in-painting; those positions hold init_ids throughout and the schedule
        runs over the other positions only (remask_ratio 1.0 regenerates all of them).
        negative: a condition some rows are guided away from (`guided_logits`).
        Returns (ids (B, T), confidence (B, T), or None when with_confidence is False, which saves a forward pass).
        Padding positions hold pad_id.
        """
        cfg = self.cfg
        b = cond.shape[0]
        t = int(lengths.max())
        device = cond.device
        pad = torch.arange(t, device=device)[None] >= lengths[:, None]
        ctl = self.embed_control(targets, t)
        if keep is not None and init_ids is None:
            raise ValueError("keep needs init_ids (the tokens to keep)")
        fixed = pad if keep is None else pad | keep[:, :t].bool()
        free = (~fixed).sum(1)
        if init_ids is None:
            ids = torch.full((b, t), cfg.mask_id, dtype=torch.long, device=device)
            scores = torch.zeros(b, t, device=device)
            start = 0.0
        elif remask_ratio >= 1.0:
            # Every free position is masked at the first step, so no scoring pass is needed.
            ids = init_ids[:, :t].clone()
            scores = torch.zeros(b, t, device=device)
            start = 0.0
        else:
            ids = init_ids[:, :t].clone()
            # How well each given token fits the new (finer) condition decides what is redone first.
            logits = self.guided_logits(ids.masked_fill(pad, cfg.pad_id), cond, present, pad, guidance, ctl, negative)
            scores = logits.softmax(-1).gather(-1, ids.clamp(max=cfg.codebook_size - 1)[..., None])[..., 0]
            start = float(torch.acos(torch.tensor(remask_ratio).clamp(0, 1)) * 2 / math.pi)
        scores = scores.masked_fill(fixed, 1e5)
        ids = ids.masked_fill(pad, cfg.pad_id)
        for s in range(steps):
            frac = start + (1.0 - start) * s / steps
            n_mask = (cosine_schedule(torch.tensor(frac)) * free.float()).round().clamp(min=1).long()
            ranks = scores.argsort(1).argsort(1)
            is_mask = (ranks < n_mask[:, None]) & ~fixed
            ids = torch.where(is_mask, torch.full_like(ids, cfg.mask_id), ids)
            logits = self.guided_logits(ids, cond, present, pad, guidance, ctl, negative)
            k = max(1, int(math.ceil((1 - topk_ratio) * cfg.codebook_size)))
            kth = logits.topk(k, dim=-1).values[..., -1:]
            filtered = logits.masked_fill(logits < kth, float("-inf"))
            if temperature > 0:
                pred = (filtered / temperature + gumbel_noise(filtered.shape, generator, device)).argmax(-1)
            else:
                pred = filtered.argmax(-1)
            ids = torch.where(is_mask, pred, ids)
            probs = logits.softmax(-1).gather(-1, pred[..., None])[..., 0]
            scores = torch.where(is_mask, probs, torch.full_like(probs, 1e5)).masked_fill(fixed, 1e5)
        if not with_confidence:
            return ids, None
        conf = self.guided_logits(ids, cond, present, pad, guidance, ctl, negative).softmax(-1)
        conf = conf.gather(-1, ids.clamp(max=cfg.codebook_size - 1)[..., None])[..., 0]
        return ids, conf.masked_fill(pad, 0.0)
