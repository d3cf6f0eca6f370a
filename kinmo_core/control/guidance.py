"""Guidance through the decoder: optimise the RVQ code choices so the decoded motion meets joint targets.

In the spirit of MaskControl (ICCV 2025), without its trained logits regulariser: each token's code in every
quantizer layer becomes a softmax over the codebook ("logits" space, started sharply on the generated codes), so
the decoder input stays a mixture of codebook vectors; the RVQ decoder and `features_to_joints` are differentiable,
and Adam moves the logits to reduce the distance of the constrained joints from their targets while a penalty
keeps the decoder input near the generated one. "latent" space optimises the decoder input directly instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from kinmo_core.motion.contacts import FOOT_JOINTS
from kinmo_core.motion.features import FEATURE_SLICES, features_to_joints
from kinmo_core.motion.skeleton import FACE_JOINTS


@dataclass
class GuidanceSettings:
    """Optimisation of the code logits (or latents) through the decoder."""

    steps: int = 40
    lr: float = 0.3
    space: str = "logits"
    init_scale: float = 6.0
    """Logit given to the generated code at the start (the others get 0): sharp, but with gradients."""
    stay: float = 0.05
    """Weight of the squared change of the decoder input (per element), which keeps the motion natural."""
    heading: float = 1.0
    feet: float = 1.0
    """Weight of foot speed (cm/frame, squared) where the decoded features label a foot as in contact."""


def _heading_loss(joints: torch.Tensor, heading: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    rh, lh, rs, ls = FACE_JOINTS
    across = (joints[..., rh, :] - joints[..., lh, :]) + (joints[..., rs, :] - joints[..., ls, :])
    f = torch.stack((across[..., 2], -across[..., 0]), dim=-1)
    f = f / f.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    return ((1 - (f * heading).sum(-1)) * known).sum()


def guide_codes(pipe, codes: torch.Tensor, targets: list[np.ndarray], headings: list[np.ndarray | None],
                settings: GuidanceSettings | None = None) -> torch.Tensor:
    """Return normalised-and-restored features (B, T, 263) decoded from codes (B, T', Q) steered to the targets.

    targets: per item (T_i, 22, 3) with NaN where free; headings: per item (T_i, 2) facing directions or None.
    """
    s = settings or GuidanceSettings()
    rvq = pipe.parts.rvq
    layers = rvq.quantizer.layers
    b, t_tok, nq = codes.shape
    t = t_tok * rvq.cfg.frames_per_token
    goal = torch.zeros(b, t, 22, 3)
    mask = torch.zeros(b, t, 22, 3)
    head = torch.zeros(b, t, 2)
    known = torch.zeros(b, t)
    for i, tg in enumerate(targets):
        n = min(len(tg), t)
        g = torch.from_numpy(np.asarray(tg[:n], np.float32))
        mask[i, :n] = torch.isfinite(g).float()
        goal[i, :n] = torch.nan_to_num(g)
        h = headings[i]
        if h is not None:
            hh = torch.from_numpy(np.asarray(h[:n], np.float32))
            ok = torch.isfinite(hh).all(-1)
            known[i, :n] = ok.float()
            head[i, :n] = torch.nan_to_num(hh)
    with torch.no_grad():
        z0 = rvq.quantizer.decode_codes(codes)  # (B, D, T')
    if s.space == "latent":
        params = [z0.clone().requires_grad_(True)]

        def latent() -> torch.Tensor:
            return params[0]
    else:
        valid = (codes >= 0).float()
        logits = [(F.one_hot(codes[..., q].clamp_min(0), layers[q].size).float() * s.init_scale).requires_grad_(True)
                  for q in range(nq)]
        params = logits

        def latent() -> torch.Tensor:
            z = sum((lg.softmax(-1) @ layers[q].codebook) * valid[..., q:q + 1] for q, lg in enumerate(logits))
            return rearrange(z, "b t d -> b d t")

    # Adam written out: torch.optim would import torch._dynamo (seconds) on its first use in a process.
    m1 = [torch.zeros_like(p) for p in params]
    m2 = [torch.zeros_like(p) for p in params]
    count = mask.sum().clamp_min(1.0)
    with torch.no_grad():
        # Where the generated motion plants its feet (its decoded contact labels) they should stay planted.
        planted = (rearrange(rvq.decoder(z0), "b c t -> b t c") * pipe.std + pipe.mean)[:, :-1, FEATURE_SLICES[
            "contacts"]].clamp(0, 1)
    for step in range(1, s.steps + 1):
        for p in params:
            p.grad = None
        z = latent()
        feats = rearrange(rvq.decoder(z), "b c t -> b t c") * pipe.std + pipe.mean
        joints = features_to_joints(feats)
        loss = ((joints - goal) ** 2 * mask).sum() / count * 1e4
        loss = loss + s.stay * ((z - z0) ** 2).mean() * z0.shape[1]
        if s.feet > 0:
            # HumanML3D's contact labels, as generated or as now decoded, say where a foot should stay put.
            contact = torch.maximum(planted, feats[:, :-1, FEATURE_SLICES["contacts"]].clamp(0, 1))
            moved = (joints[:, 1:, list(FOOT_JOINTS)] - joints[:, :-1, list(FOOT_JOINTS)]) * 100
            loss = loss + s.feet * (contact * moved.pow(2).sum(-1)).mean()
        if known.any():
            loss = loss + s.heading * _heading_loss(joints, head, known) / known.sum()
        loss.backward()
        with torch.no_grad():
            for p, a, v in zip(params, m1, m2, strict=True):
                a.mul_(0.9).add_(p.grad, alpha=0.1)
                v.mul_(0.999).addcmul_(p.grad, p.grad, value=0.001)
                p -= s.lr * (a / (1 - 0.9**step)) / ((v / (1 - 0.999**step)).sqrt() + 1e-8)
    with torch.no_grad():
        return rearrange(rvq.decoder(latent()), "b c t -> b t c") * pipe.std + pipe.mean
