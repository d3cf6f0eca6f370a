"""Train the length estimator: caption sentence embedding (MiniLM, 384-d) to motion length in tokens.

    python -m training.train_length --data data/synth20k data/bandai:8 --out runs/length_estimator

Lengths are counted in RVQ tokens of `--unit` frames (4, the default tokenizer's) and capped at the estimator's
`max_tokens` (50 = 10 s). Caption embeddings are computed once into --cache (default: OUT/../cache).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from kinmo_core.data.dataset import MotionTextDataset
from kinmo_core.models.io import save_pretrained
from kinmo_core.models.length_estimator import LengthEstimator, LengthEstimatorConfig
from training.common import (
    JsonlLog,
    base_parser,
    cache_folder,
    data_version,
    lr_at,
    parse_data,
    provenance,
    refuse_existing_model,
    setup,
)
from training.generator_data import MAX_SOURCE_FRAMES, _save_npz


def caption_lengths(data: str | Path, split: str, unit: int, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (caption embeddings (N, 384), lengths in tokens (N,)) of every caption of a split, cached."""
    from kinmo_core.text.minilm import get_minilm

    key = hashlib.sha256(f"{data_version(str(data))}{split}{unit}".encode()).hexdigest()[:12]
    path = cache / f"length-{split}-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            return z["emb"], z["tokens"]
    ds = MotionTextDataset(data, split, max_frames=MAX_SOURCE_FRAMES, min_frames=unit, unit=1, normalize=False)
    captions, tokens = [], []
    for it in ds.items:
        for rec in it["texts"]:
            captions.append(rec["caption"])
            tokens.append((it["end"] - it["start"]) // unit)
    enc = get_minilm()
    emb = np.concatenate([enc.encode(captions[s:s + 256])
                          for s in tqdm(range(0, len(captions), 256), desc=f"embed {split}", unit="batch")])
    tokens = np.asarray(tokens, np.int64)
    _save_npz(path, emb=emb, tokens=tokens)
    return emb, tokens


@torch.no_grad()
def evaluate(model: LengthEstimator, emb: torch.Tensor, tokens: torch.Tensor) -> dict[str, float]:
    """Validation cross-entropy, accuracy within 1 s (5 tokens) and mean absolute error of the mode, in seconds."""
    model.eval()
    logits = model(emb)
    target = (tokens - 1).clamp(0, model.cfg.max_tokens - 1)
    loss = float(torch.nn.functional.cross_entropy(logits, target))
    err = (logits.argmax(-1) - target).abs().float()
    model.train()
    return {"val_loss": loss, "val_within_1s": float((err <= 5).float().mean()), "val_mae_s": float(err.mean() / 5)}


def main(argv: list[str] | None = None) -> int:
    """Train and save the length estimator; returns an exit code."""
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--unit", type=int, default=4, help="frames per token (the RVQ's frames_per_token)")
    p.add_argument("--cache", default=None, help="cache folder (default: OUT/../cache)")
    args = p.parse_args(argv)
    setup(args)
    out = Path(args.out)
    refuse_existing_model(out, args.overwrite)
    cache = cache_folder(args)
    cfg = LengthEstimatorConfig()
    folders = parse_data(args.data)
    parts = [caption_lengths(folder, "train", args.unit, cache) for folder, _ in folders]
    # A FOLDER:N folder counts N times, as in the other trainers.
    tr_e = torch.from_numpy(np.concatenate([p[0] for p, (_, rep) in zip(parts, folders, strict=True)
                                            for _ in range(rep)]))
    tr_t = torch.from_numpy(np.concatenate([p[1] for p, (_, rep) in zip(parts, folders, strict=True)
                                            for _ in range(rep)]))
    va_e, va_t = (torch.from_numpy(a) for a in caption_lengths(folders[0][0], "val", args.unit, cache))
    model = LengthEstimator(cfg)
    steps, batch, peak = args.steps or 3000, args.batch or 128, args.lr or 1e-3
    opt = torch.optim.AdamW(model.parameters(), lr=peak, weight_decay=1e-4)
    g = torch.Generator().manual_seed(args.seed)
    log = JsonlLog(out / "train_log.jsonl")
    t0 = time.time()
    for step in tqdm(range(steps), desc="length", unit="step"):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, peak, warmup=min(200, steps // 10 + 1))
        idx = torch.randint(0, len(tr_e), (batch,), generator=g)
        loss = model.loss(tr_e[idx], tr_t[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log.write(step=step, loss=float(loss.detach()), secs=time.time() - t0, **evaluate(model, va_e, va_t))
    final = evaluate(model, va_e, va_t)
    model.eval()
    save_pretrained(model, cfg, out, extra_meta=provenance(args, unit=args.unit, steps=steps, batch=batch, lr=peak,
                                                           **final), overwrite=args.overwrite)
    print(f"saved {out} (val within 1 s {final['val_within_1s']:.3f}, MAE {final['val_mae_s']:.2f} s)")
    log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
