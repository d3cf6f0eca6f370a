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
    Schedule,
    add_size_arg,
    base_parser,
    cache_folder,
    data_version,
    one_line_errors,
    parse_data,
    provenance,
    refuse_existing_model,
    setup,
    size_fields,
)
from training.generator_data import MAX_SOURCE_FRAMES, _save_npz

SIZES = {"tiny": {"hidden": 16}, "default": {}, "full": {}}  # full: the estimator is small at any scale


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
    device = next(model.parameters()).device
    logits = model(emb.to(device)).float().cpu()
    target = (tokens - 1).clamp(0, model.cfg.max_tokens - 1)
    loss = float(torch.nn.functional.cross_entropy(logits, target))
    err = (logits.argmax(-1) - target).abs().float()
    model.train()
    return {"val_loss": loss, "val_within_1s": float((err <= 5).float().mean()), "val_mae_s": float(err.mean() / 5)}


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Train and save the length estimator; returns an exit code."""
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--unit", type=int, default=4, help="frames per token (the RVQ's frames_per_token)")
    p.add_argument("--cache", default=None, help="cache folder (default: OUT/../cache)")
    add_size_arg(p, SIZES, help="model size (tiny for tests)")
    args = p.parse_args(argv)
    run = setup(args)
    out = Path(args.out)
    refuse_existing_model(out, args.overwrite)
    cache = cache_folder(args)
    cfg = LengthEstimatorConfig(**size_fields(SIZES, args.size, LengthEstimatorConfig))
    folders = parse_data(args.data)
    with run.main_first():  # rank 0 embeds the captions into the cache, the others read it
        parts = [caption_lengths(folder, "train", args.unit, cache) for folder, _ in folders]
        va_e, va_t = (torch.from_numpy(a) for a in caption_lengths(folders[0][0], "val", args.unit, cache))
    # A FOLDER:N folder counts N times, as in the other trainers.
    tr_e = torch.from_numpy(np.concatenate([p[0] for p, (_, rep) in zip(parts, folders, strict=True)
                                            for _ in range(rep)]))
    tr_t = torch.from_numpy(np.concatenate([p[1] for p, (_, rep) in zip(parts, folders, strict=True)
                                            for _ in range(rep)]))
    model = LengthEstimator(cfg)
    steps, batch, peak = args.steps or 3000, args.batch or 128, args.lr or 1e-3
    step_fn = run.wrap(model, "loss")
    opt = torch.optim.AdamW(model.parameters(), lr=peak, weight_decay=1e-4)
    g = run.generator(run.rank_seed(args.seed), on_device=False)  # draws CPU row indices: this rank's batches
    schedule = Schedule(opt, steps, peak, min(200, steps // 10 + 1), desc="length", run=run)
    run.track(opt=opt, schedule=schedule, batches=g)
    run.restore()
    log = run.log(out / "train_log.jsonl")
    t0 = time.time()
    for step in schedule:
        idx = torch.randint(0, len(tr_e), (batch,), generator=g)
        with run.autocast():
            loss = step_fn(run.to(tr_e[idx]), run.to(tr_t[idx])).float()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % args.log_every == 0 or step == steps - 1:
            row = {"step": step, "loss": run.mean(float(loss.detach())), "secs": time.time() - t0}
            if run.is_main:
                row.update(evaluate(model, va_e, va_t))
            log.write(**row)
        run.step_end(schedule.done)
    if run.is_main:
        final = evaluate(model, va_e, va_t)
        model.eval()
        meta = provenance(args, unit=args.unit, size=args.size, steps=steps, steps_done=schedule.done, batch=batch,
                          lr=peak, **run.describe(), **final)
        save_pretrained(model.cpu(), cfg, out, extra_meta=meta, overwrite=args.overwrite)
        print(f"saved {out} (val within 1 s {final['val_within_1s']:.3f}, MAE {final['val_mae_s']:.2f} s)")
    log.close()
    run.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
