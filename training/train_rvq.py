"""Train the residual VQ-VAE motion tokenizer.

    python -m training.train_rvq --data data/corpus --out runs/rvq [--full]

The small default configuration trains on this 2-core CPU in about half an hour; `--full`
uses MoMask's published sizes (6 quantizers of 512 codes) for a GPU.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from kinmo_core.data.dataset import MotionTextDataset, collate_motions
from kinmo_core.models.io import save_pretrained
from kinmo_core.models.rvq import RVQVAE, RVQConfig, rvq_loss
from training.common import (
    JsonlLog,
    autocast,
    base_parser,
    infinite,
    lr_at,
    parse_data,
    provenance,
    setup,
    training_set,
)

WINDOW = 64  # MoMask trains the tokenizer on 64-frame windows


@torch.no_grad()
def evaluate(model: RVQVAE, data: MotionTextDataset, batches: int = 20, batch_size: int = 32) -> dict[str, float]:
    """Mean reconstruction error of normalised features and of joint positions (metres) on a fixed val sample."""
    from kinmo_core.motion.features import features_to_joints

    model.eval()
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=collate_motions)
    feat_err, joint_err, n = 0.0, 0.0, 0
    for i, batch in enumerate(loader):
        if i >= batches:
            break
        x = batch["motion"]
        t = x.shape[1] - x.shape[1] % model.cfg.frames_per_token
        x, mask = x[:, :t], batch["mask"][:, :t]
        rec = model.decode(model.encode(x))
        feat_err += float(((rec - x).abs().mean(-1) * mask).sum() / mask.sum())
        real = features_to_joints(data.denormalize(x))
        fake = features_to_joints(data.denormalize(rec))
        joint_err += float(((real - fake).norm(dim=-1).mean(-1) * mask).sum() / mask.sum())
        n += 1
    model.train()
    return {"val_feature_l1": feat_err / max(n, 1), "val_mpjpe_m": joint_err / max(n, 1)}


def main(argv: list[str] | None = None) -> int:
    """Train and save the tokenizer; returns an exit code."""
    p = base_parser(__doc__.splitlines()[1])
    p.add_argument("--full", action="store_true", help="MoMask's full sizes (for a GPU)")
    args = p.parse_args(argv)
    setup(args)
    cfg = RVQConfig.full() if args.full else RVQConfig()
    steps = args.steps or 12000
    batch_size = args.batch or 64
    peak = args.lr or 2e-4
    out = Path(args.out)
    train = training_set(args.data, "train", max_frames=WINDOW, min_frames=WINDOW, unit=cfg.frames_per_token,
                         seed=args.seed)
    first = parse_data(args.data)[0][0]
    val = MotionTextDataset(first, "val", max_frames=196, min_frames=WINDOW, unit=cfg.frames_per_token,
                            seed=args.seed)
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, drop_last=True, collate_fn=collate_motions,
                        generator=g)
    model = RVQVAE(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=peak, betas=(0.9, 0.99), weight_decay=0.0)
    log = JsonlLog(out / "train_log.jsonl")
    batches = infinite(loader)
    t0 = time.time()
    bar = tqdm(range(steps), desc="rvq", unit="step")
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, peak, warmup=500)
        x = next(batches)["motion"]
        with autocast(not args.no_bf16):
            enc = model.encoder(x.transpose(1, 2))
        # Quantization and its EMA codebooks run in float32 so the statistics stay exact.
        zq, codes, commit, perplexity = model.quantizer(enc.float(), g)
        with autocast(not args.no_bf16):
            recon = model.decoder(zq).transpose(1, 2)
        losses = rvq_loss({"recon": recon.float(), "commit": commit}, x, cfg)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            row = {k: float(v.detach()) for k, v in losses.items()}
            row.update(step=step, perplexity=float(perplexity), lr=opt.param_groups[0]["lr"], secs=time.time() - t0)
            if step % 2000 == 0 or step == steps - 1:
                row.update(evaluate(model, val))
            log.write(**row)
            bar.set_postfix(loss=f"{row['loss']:.4f}", ppl=f"{row['perplexity']:.0f}")
    final = evaluate(model, val, batches=50)
    model.eval()
    save_pretrained(model, cfg, out, extra_meta=provenance(args, steps=steps, batch=batch_size, lr=peak, **final),
                    overwrite=args.overwrite)
    for name in ("Mean.npy", "Std.npy"):
        shutil.copyfile(first / name, out / name)
    print(f"saved {out} (val feature L1 {final['val_feature_l1']:.4f}, MPJPE {final['val_mpjpe_m'] * 100:.2f} cm)")
    log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
