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
from kinmo_core.models.evaluator import EvaluatorConfig, TextMotionEvaluator
from training.common import (
    JsonlLog,
    Schedule,
    add_time_budget,
    autocast,
    base_parser,
    cache_folder,
    data_version,
    parse_data,
    provenance,
    refuse_existing_model,
    setup,
    training_set,
)
from training.generator_data import _save_npz


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
        from kinmo_core.conditioning import get_minilm

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


def _forever(loader, train):
    """Yield batches forever; every pass draws new crops and captions in each folder's dataset."""
    epoch = 0
    while True:
        for ds in train.datasets:
            ds.set_epoch(epoch)
        yield from loader
        epoch += 1


def all_captions(ds: MotionTextDataset) -> list[str]:
    """Every caption of a dataset's items."""
    return [rec["caption"] for it in ds.items for rec in it["texts"]]


@torch.no_grad()
def validate(model: TextMotionEvaluator, ds: MotionTextDataset, texts: TokenFeatureCache, rounds: int = 3
             ) -> dict[str, float]:
    """R-precision (top 1, 3) and MM-Dist on the validation split in seeded batches of 32, averaged over rounds."""
    from kinmo_core.eval.generation_metrics import r_precision

    model.eval()
    res = []
    for r in range(rounds):
        ds.set_epoch(1000 + r)
        loader = DataLoader(ds, batch_size=64, shuffle=False, collate_fn=collate_motions)
        tm, mm = [], []
        for b in loader:
            tok, n = texts.batch(b["captions"])
            tm.append(model.embed_text(tok, n))
            mm.append(model.embed_motion(b["motion"], b["lengths"]))
        res.append(r_precision(torch.cat(tm), torch.cat(mm), seed=r))
    model.train()
    return {f"val_{k.replace(' ', '_').replace('-', '_')}": float(np.mean([x[k] for x in res])) for k in res[0]}


def main(argv: list[str] | None = None) -> int:
    """Train and save the evaluator; returns an exit code (bad data: one line, exit code 2)."""
    from kinmo_core.errors import KinmoInputError

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
    p.add_argument("--small", action="store_true",
                   help="256-wide encoders instead of Guo's 512/1024 (about 4x faster per step on a CPU)")
    args = p.parse_args(argv)
    setup(args)
    out = Path(args.out)
    refuse_existing_model(out, args.overwrite)
    cache = cache_folder(args)
    first = parse_data(args.data)[0][0]
    train = training_set(args.data, "train", max_frames=196, min_frames=40, unit=4, normalize=False, seed=args.seed)
    val = MotionTextDataset(first, "val", max_frames=196, min_frames=40, unit=4, normalize=False, seed=args.seed)
    key = hashlib.sha256(data_version(args.data).encode()).hexdigest()[:12]
    texts = TokenFeatureCache(cache / f"tokens-{key}.npz")
    texts.fill(sorted({c for ds in train.datasets for c in all_captions(ds)} | set(all_captions(val))))
    texts.save()
    small = {"movement_hidden": 256, "movement_latent": 256, "motion_hidden": 256, "text_hidden": 256,
             "embed_dim": 256} if args.small else {}
    cfg = EvaluatorConfig(loss=args.loss, **small)
    model = TextMotionEvaluator(cfg)
    model.set_normalization(np.load(first / "Mean.npy"), np.load(first / "Std.npy"))
    steps, batch_size, peak = args.steps or 20000, args.batch or 32, args.lr or 1e-4
    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, drop_last=True, collate_fn=collate_motions,
                        generator=g)
    opt = torch.optim.AdamW(model.parameters(), lr=peak, weight_decay=0.0)
    log = JsonlLog(out / "train_log.jsonl")
    batches = _forever(loader, train)
    t0 = time.time()
    schedule = Schedule(opt, steps, peak, min(500, steps // 10 + 1), args.max_minutes, desc="evaluator")
    bar = schedule.bar
    for step in schedule:
        b = next(batches)
        tok, n = texts.batch(b["captions"])
        with autocast(not args.no_bf16):
            losses = model.losses({"motion": b["motion"], "motion_lengths": b["lengths"], "tokens": tok,
                                   "token_lengths": n}, generator=g)
        opt.zero_grad(set_to_none=True)
        losses["loss"].float().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            row = {k: float(v.detach()) for k, v in losses.items()}
            row.update(step=step, lr=opt.param_groups[0]["lr"], secs=time.time() - t0)
            if (args.eval_every and step % args.eval_every == 0) or step == steps - 1:
                row.update(validate(model, val, texts))
            log.write(**row)
            bar.set_postfix(loss=f"{row['loss']:.3f}")
    final = validate(model, val, texts, rounds=5)
    model.eval()
    meta = provenance(args, steps=steps, steps_done=schedule.done, batch=batch_size, lr=peak,
                      minutes=round((time.time() - t0) / 60, 2), **final)
    model.save_pretrained(out, extra_meta=meta, overwrite=args.overwrite)
    print(f"saved {out} (val R-precision top-1 {final['val_R_precision_top_1']:.3f}, "
          f"top-3 {final['val_R_precision_top_3']:.3f}, MM-Dist {final['val_MM_Dist']:.3f})")
    log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
