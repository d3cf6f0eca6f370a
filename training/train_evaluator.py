"""Train the frozen text-motion matching evaluator (Guo et al.) behind FID, R-precision and MM-Dist.

    python -m training.train_evaluator --data data/synth20k data/bandai:8 --out kinmo_core/assets/evaluator --small

Trained on the corpus separately from HTMA, so generation metrics never grade a model with its own encoder.
Motions are raw HumanML3D features (the model stores the corpus statistics and normalises itself), randomly cropped
to 40..196 frames; captions are frozen MiniLM token features, computed once into --cache (default: OUT/../cache).
Validation reports R-precision top-1/3 and MM-Dist in batches of 32, as the generation benchmark computes them.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from kinmo_core.data.dataset import MotionTextDataset, collate_motions
from kinmo_core.errors import KinmoInputError
from kinmo_core.models.evaluator import EvaluatorConfig, TextMotionEvaluator
from training.common import (
    Schedule,
    add_size_arg,
    add_time_budget,
    base_parser,
    cache_folder,
    data_version,
    parse_data,
    provenance,
    refuse_existing_model,
    setup,
    size_fields,
    training_set,
)
from training.distributed import ShardedBatches
from training.generator_data import _save_npz

SIZES = {
    "tiny": {"movement_hidden": 32, "movement_latent": 32, "motion_hidden": 32, "text_hidden": 32, "embed_dim": 32},
    "small": {"movement_hidden": 256, "movement_latent": 256, "motion_hidden": 256, "text_hidden": 256,
              "embed_dim": 256},
    "default": {},  # Guo et al.'s published sizes
    "full": {},
}


class TokenFeatureCache:
    """Frozen MiniLM token features per caption string, computed on demand and kept on disk between runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.table: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path) as z:
                flat, offsets, texts = z["features"], z["offsets"], z["texts"]
                self.table = {str(t): flat[offsets[i]:offsets[i + 1]] for i, t in enumerate(texts)}
        self.dirty = False

    def fill(self, captions: list[str], batch: int = 64) -> None:
        """Compute the features of captions not yet cached."""
        from kinmo_core.text.minilm import get_minilm

        todo = sorted(set(captions) - set(self.table))
        enc = get_minilm()
        for s in tqdm(range(0, len(todo), batch), desc="token features", unit="batch", disable=not todo):
            feats, mask = enc.token_features(todo[s:s + batch])
            for t, f, m in zip(todo[s:s + batch], feats, mask, strict=True):
                self.table[t] = f[m].numpy().astype(np.float16)
        self.dirty = self.dirty or bool(todo)

    def save(self) -> None:
        """Write the cache if it changed."""
        if not self.dirty:
            return
        texts = list(self.table)
        offsets = np.concatenate([[0], np.cumsum([len(self.table[t]) for t in texts])]).astype(np.int64)
        _save_npz(self.path, features=np.concatenate([self.table[t] for t in texts]), offsets=offsets,
                  texts=np.array(texts, dtype=np.str_))
        self.dirty = False

    def batch(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return padded token features (B, L, 384) and token counts (B,)."""
        rows = [self.table[c] for c in captions]
        n = max(len(r) for r in rows)
        out = torch.zeros(len(rows), n, rows[0].shape[1])
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.from_numpy(r.astype(np.float32))
        return out, torch.tensor([len(r) for r in rows])


def all_captions(ds: MotionTextDataset) -> list[str]:
    """Every caption of a dataset's items."""
    return [rec["caption"] for it in ds.items for rec in it["texts"]]


@torch.no_grad()
def validate(model: TextMotionEvaluator, ds: MotionTextDataset, texts: TokenFeatureCache, rounds: int = 3
             ) -> dict[str, float]:
    """R-precision (top 1, 3) and MM-Dist on the validation split in seeded batches of 32, averaged over rounds."""
    from kinmo_core.eval.generation_metrics import r_precision

    model.eval()
    device = next(model.parameters()).device
    res = []
    for r in range(rounds):
        ds.set_epoch(1000 + r)
        loader = DataLoader(ds, batch_size=64, shuffle=False, collate_fn=collate_motions)
        tm, mm = [], []
        for b in loader:
            tok, n = texts.batch(b["captions"])
            tm.append(model.embed_text(tok.to(device), n.to(device)).cpu())
            mm.append(model.embed_motion(b["motion"].to(device), b["lengths"].to(device)).cpu())
        try:
            res.append(r_precision(torch.cat(tm), torch.cat(mm), seed=r))
        except KinmoInputError as exc:  # a validation split too small to score (tiny test sets)
            print(f"note: no validation ({exc})")
            model.train()
            return {}
    model.train()
    return {f"val_{k.replace(' ', '_').replace('-', '_')}": float(np.mean([x[k] for x in res])) for k in res[0]}


def main(argv: list[str] | None = None) -> int:
    """Train and save the evaluator; returns an exit code (bad data: one line, exit code 2)."""
    try:
        return _main(argv)
    except KinmoInputError as exc:
        raise SystemExit(f"error: {exc}") from None


def _main(argv: list[str] | None) -> int:
    """The training run behind main()."""
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--loss", choices=("hinge", "infonce"), default="hinge", help="Guo's hinge or InfoNCE")
    p.add_argument("--cache", default=None, help="cache folder (default: OUT/../cache)")
    p.add_argument("--eval-every", type=int, default=1000)
    add_time_budget(p)
    add_size_arg(p, SIZES, help="default and full: Guo's 512/1024 encoders; small: 256-wide; tiny: tests")
    p.add_argument("--small", action="store_true", help="same as --size small (about 4x faster per step on a CPU)")
    args = p.parse_args(argv)
    run = setup(args)
    out = Path(args.out)
    refuse_existing_model(out, args.overwrite)
    cache = cache_folder(args)
    first = parse_data(args.data)[0][0]
    train = training_set(args.data, "train", max_frames=196, min_frames=40, unit=4, normalize=False, seed=args.seed)
    val = MotionTextDataset(first, "val", max_frames=196, min_frames=40, unit=4, normalize=False, seed=args.seed)
    key = hashlib.sha256(data_version(args.data).encode()).hexdigest()[:12]
    with run.main_first():  # rank 0 fills the caption-feature cache, the others read it
        texts = TokenFeatureCache(cache / f"tokens-{key}.npz")
        texts.fill(sorted({c for ds in train.datasets for c in all_captions(ds)} | set(all_captions(val))))
        if run.is_main:
            texts.save()
    size = "small" if args.small else args.size
    cfg = EvaluatorConfig(**{"loss": args.loss, **size_fields(SIZES, size, EvaluatorConfig)})
    model = TextMotionEvaluator(cfg)
    model.set_normalization(np.load(first / "Mean.npy"), np.load(first / "Std.npy"))
    steps, batch_size, peak = args.steps or 20000, args.batch or 32, args.lr or 1e-4
    step_fn = run.wrap(model, "losses")
    g = run.generator(run.rank_seed(args.seed))
    batches = ShardedBatches(train, batch_size, collate_motions, run, seed=args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=peak, weight_decay=0.0)
    schedule = Schedule(opt, steps, peak, min(500, steps // 10 + 1), args.max_minutes, desc="evaluator", run=run)
    run.track(opt=opt, schedule=schedule, batches=batches, negatives=g)
    run.restore()
    log = run.log(out / "train_log.jsonl")
    t0 = time.time()
    for step in schedule:
        b = next(batches)
        tok, n = texts.batch(b["captions"])
        batch = run.to({"motion": b["motion"], "motion_lengths": b["lengths"], "tokens": tok, "token_lengths": n})
        with run.autocast():
            losses = step_fn(batch, generator=g)
        opt.zero_grad(set_to_none=True)
        losses["loss"].float().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.log_every == 0 or step == steps - 1:
            row = {k: run.mean(float(v.detach())) for k, v in losses.items()}
            row.update(step=step, lr=opt.param_groups[0]["lr"], secs=time.time() - t0)
            if run.is_main and ((args.eval_every and step % args.eval_every == 0) or step == steps - 1):
                row.update(validate(model, val, texts))
            log.write(**row)
            schedule.bar.set_postfix(loss=f"{row['loss']:.3f}")
        run.step_end(schedule.done)
    if run.is_main:
        final = validate(model, val, texts, rounds=5)
        model.eval()
        meta = provenance(args, size=size, steps=steps, steps_done=schedule.done, batch=batch_size, lr=peak,
                          minutes=round((time.time() - t0) / 60, 2), **run.describe(), **final)
        model.cpu().save_pretrained(out, extra_meta=meta, overwrite=args.overwrite)
        shown = ", ".join(f"{k} {v:.3f}" for k, v in final.items())
        print(f"saved {out} ({shown or 'no validation'})")
    log.close()
    run.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
