"""Train the residual VQ-VAE motion tokenizer.

    python -m training.train_rvq --data data/corpus --out runs/rvq [--size default|full] [--device cuda]
    torchrun --nproc_per_node 4 -m training.train_rvq --data HumanML3D --out runs/rvq --size full --device cuda

The default size trains on this 2-core CPU in about half an hour; `--size full` is MoMask's published tokenizer
(6 quantizers of 512 codes, width 512) for a GPU. Under torchrun the EMA codebooks see the statistics of the
global batch (every rank's codes), so N processes train as one process with N times the batch.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from kinmo_core.data.dataset import MotionTextDataset, collate_motions
from kinmo_core.errors import KinmoInputError
from kinmo_core.models.io import save_pretrained
from kinmo_core.models.rvq import RVQVAE, RVQConfig, rvq_loss
from training.common import (
    Schedule,
    add_size_arg,
    add_time_budget,
    base_parser,
    init_weights,
    one_line_errors,
    parse_data,
    provenance,
    refuse_existing_model,
    setup,
    size_fields,
    training_set,
)
from training.distributed import ShardedBatches

WINDOW = 64  # MoMask trains the tokenizer on 64-frame windows
SIZES = {
    "tiny": {"width": 32, "code_dim": 16, "depth": 1, "num_quantizers": 3, "codebook_size": 32},  # tests, smoke runs
    "default": {},
    "full": RVQConfig.full().to_dict(),
}


class RVQStep(nn.Module):
    """One training forward pass (encoder and decoder under autocast, quantizer in float32), for DDP to wrap."""

    def __init__(self, model: RVQVAE, run, frozen: bool = False) -> None:
        super().__init__()
        self.model, self.run, self.frozen = model, run, frozen

    def forward(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (reconstruction float32, commitment loss, perplexity of layer 0)."""
        if self.frozen:
            # Decoder-only: the encoder and codebooks as trained (no EMA update, no quantizer dropout), the codes
            # those of the source tokenizer.
            self.model.encoder.eval()
            self.model.quantizer.eval()
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen), self.run.autocast():
            enc = self.model.encoder(x.transpose(1, 2))
        # Quantization and its EMA codebooks run in float32 so the statistics stay exact.
        zq, _, commit, perplexity = self.model.quantizer(enc.float(), generator)
        with self.run.autocast():
            recon = self.model.decoder(zq).transpose(1, 2)
        return recon.float(), commit, perplexity


def joint_weights(spec: str | None) -> torch.Tensor | None:
    """Return channel weights (263,) from 'JOINT=W,...' (joint names as in the skeleton), or None for none."""
    from kinmo_core.motion.features import FEATURE_DIM, joint_channels
    from kinmo_core.motion.skeleton import JOINT_INDEX

    if not spec:
        return None
    w = torch.ones(FEATURE_DIM)
    for item in spec.split(","):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in JOINT_INDEX:
            raise KinmoInputError(f"--joint-weights: unknown joint {name!r}; joints are {', '.join(JOINT_INDEX)}")
        try:
            weight = float(value)
        except ValueError:
            raise KinmoInputError(f"--joint-weights: {item!r} needs a number after '=' (like head=10)") from None
        if not (math.isfinite(weight) and weight > 0):
            raise KinmoInputError(f"--joint-weights: the weight of {name} must be a positive number, got {value}")
        w[torch.from_numpy(joint_channels([JOINT_INDEX[name]]))] = weight
    return w


@torch.no_grad()
def evaluate(model: RVQVAE, data: MotionTextDataset, batches: int = 20, batch_size: int = 32) -> dict[str, float]:
    """Mean reconstruction error of normalised features and of joint positions (metres) on a fixed val sample."""
    from kinmo_core.motion.features import features_to_joints

    model.eval()
    device = next(model.parameters()).device
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=collate_motions)
    feat_err, joint_err, n = 0.0, 0.0, 0
    for i, batch in enumerate(loader):
        if i >= batches:
            break
        x = batch["motion"]
        t = x.shape[1] - x.shape[1] % model.cfg.frames_per_token
        x, mask = x[:, :t], batch["mask"][:, :t]
        rec = model.decode(model.encode(x.to(device))).float().cpu()
        feat_err += float(((rec - x).abs().mean(-1) * mask).sum() / mask.sum())
        real = features_to_joints(data.denormalize(x))
        fake = features_to_joints(data.denormalize(rec))
        joint_err += float(((real - fake).norm(dim=-1).mean(-1) * mask).sum() / mask.sum())
        n += 1
    model.train()
    return {"val_feature_l1": feat_err / max(n, 1), "val_mpjpe_m": joint_err / max(n, 1)}


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Train and save the tokenizer; returns an exit code."""
    p = base_parser(__doc__.splitlines()[1])
    add_size_arg(p, SIZES, help="model size: full is MoMask's (6 x 512 codes, width 512), tiny for tests")
    p.add_argument("--full", action="store_true", help="same as --size full")
    p.add_argument("--eval-every", type=int, default=2000, help="validation every N steps (0: at the end only)")
    p.add_argument("--window", type=int, default=WINDOW, help="training window in frames (MoMask: 64)")
    p.add_argument("--joint-weights", default=None, metavar="JOINT=W,...",
                   help="extra reconstruction weight on the named joints' feature channels, e.g. neck=10,head=10 "
                        "(small joints whose few centimetres carry an action: a look is the head a few cm aside)")
    p.add_argument("--decoder-only", action="store_true",
                   help="train the decoder alone (needs --init): the encoder and codebooks stay as they are, so the "
                        "codes, and every token model trained on them, stay valid")
    add_time_budget(p)
    args = p.parse_args(argv)
    run = setup(args)
    size = "full" if args.full else args.size
    cfg = RVQConfig(**{**RVQConfig().to_dict(), **size_fields(SIZES, size, RVQConfig)})
    steps = args.steps or 12000
    batch_size = args.batch or 64
    peak = args.lr or 2e-4
    out = Path(args.out)
    refuse_existing_model(out, args.overwrite)
    weights = joint_weights(args.joint_weights)
    if args.decoder_only and not args.init:
        raise KinmoInputError("--decoder-only needs --init (the tokenizer whose encoder and codebooks stay)")
    first = parse_data(args.data)[0][0]
    # A fine-tune keeps its tokenizer's normalisation (the codes keep their meaning); else the first folder's.
    stats = Path(args.init) if args.init else first
    try:
        mean, std = np.load(stats / "Mean.npy"), np.load(stats / "Std.npy")
    except OSError as exc:
        raise KinmoInputError(f"{stats}: cannot read Mean.npy / Std.npy ({exc})") from None
    train = training_set(args.data, "train", max_frames=args.window, min_frames=args.window,
                         unit=cfg.frames_per_token, seed=args.seed, mean=mean, std=std)
    val = MotionTextDataset(first, "val", max_frames=196, min_frames=args.window, unit=cfg.frames_per_token,
                            seed=args.seed, mean=mean, std=std)
    batches = ShardedBatches(train, batch_size, collate_motions, run, seed=args.seed)
    model = RVQVAE(cfg)
    init_weights(model, RVQConfig, args.init)
    if args.decoder_only:
        model.encoder.requires_grad_(False)
        model.quantizer.requires_grad_(False)
    step_fn = run.wrap(RVQStep(model, run, frozen=args.decoder_only))
    run.model = model  # checkpoints hold the tokenizer itself
    trained = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(trained, lr=peak, betas=(0.9, 0.99), weight_decay=0.0)
    # The quantizer's generator is the same on every rank: quantizer dropout must pick the same layers everywhere.
    g = run.generator(args.seed)
    schedule = Schedule(opt, steps, peak, min(500, steps // 10 + 1), args.max_minutes, desc="rvq", run=run)
    run.track(opt=opt, schedule=schedule, batches=batches, quantizer=g)
    run.restore()
    log = run.log(out / "train_log.jsonl")
    t0 = time.time()
    for step in schedule:
        x = run.to(next(batches)["motion"])
        recon, commit, perplexity = step_fn(x, g)
        losses = rvq_loss({"recon": recon, "commit": commit}, x, cfg, channel_weights=weights)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        if step % args.log_every == 0 or step == steps - 1:
            row = {k: run.mean(float(v.detach())) for k, v in losses.items()}
            row.update(step=step, perplexity=float(perplexity), lr=opt.param_groups[0]["lr"], secs=time.time() - t0)
            if run.is_main and ((args.eval_every and step % args.eval_every == 0) or step == steps - 1):
                row.update(evaluate(model, val))
            log.write(**row)
            schedule.bar.set_postfix(loss=f"{row['loss']:.4f}", ppl=f"{row['perplexity']:.0f}")
        run.step_end(schedule.done)
    if run.is_main:
        final = evaluate(model, val, batches=50)
        model.eval()
        meta = provenance(args, size=size, steps=steps, steps_done=schedule.done, batch=batch_size, lr=peak,
                          joint_weights=args.joint_weights, decoder_only=args.decoder_only, **run.describe(), **final)
        save_pretrained(model.cpu(), cfg, out, extra_meta=meta, overwrite=args.overwrite)
        for name in ("Mean.npy", "Std.npy"):
            shutil.copyfile(stats / name, out / name)
        print(f"saved {out} (val feature L1 {final['val_feature_l1']:.4f}, MPJPE {final['val_mpjpe_m'] * 100:.2f} cm)")
    log.close()
    run.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
