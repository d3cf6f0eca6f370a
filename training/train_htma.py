"""Train HTMA, the hierarchical text-motion alignment model (paper Sec. 3.3, TMR's losses at three levels).

    python -m training.train_htma --data data/corpus --out runs/htma [--levels 1|2|3] [--no-cross-attention]
    torchrun --nproc_per_node 4 -m training.train_htma --data HumanML3D --out runs/htma --size full \\
        --text-encoder models/distilbert-base-uncased --device cuda --checkpoint-every 1000

Needs the dataset's annotations (`kinmo annotate DATA -o DATA/annotations.json`) for levels 2 and 3. Caption token
features and description features are encoded once with the frozen text encoder and cached under $KINMO_CACHE
(default ~/.cache/kinmo), shared by every run on the same texts. The ablation arms of the paper's Table 4 are
`--levels 1` (global only: TMR), `--levels 2`, `--levels 3`, and `--levels 3 --no-cross-attention`.
`--size full` uses TMR's published encoder sizes (6 layers, ff 1024, a 6-layer decoder on every frame); the paper's
setup pairs it with a DistilBERT or RoBERTa text encoder from a local folder (`--text-encoder PATH`).
Extra corpora (e.g. converted Bandai clips) join training with `--data A B`; the first folder's statistics are used.
"""

from __future__ import annotations

import argparse
import copy
import re
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from kinmo_core.alignment import (
    TextFeatureCache,
    check_descriptions,
    description_tensors,
    description_texts,
    pad_tokens,
)
from kinmo_core.data.captions import mirror_text
from kinmo_core.data.dataset import MotionTextDataset, collate_motions
from kinmo_core.data.layout import MIRROR_PREFIX, base_id, mirror_id
from kinmo_core.errors import KinmoInputError
from kinmo_core.models.htma import HTMA, HTMAConfig
from kinmo_core.models.io import save_pretrained
from kinmo_core.motion.features import mirror_features
from kinmo_core.reasoner import mirror_descriptions
from training.common import (
    Schedule,
    add_size_arg,
    add_time_budget,
    base_parser,
    init_weights,
    parse_data,
    provenance,
    setup,
    size_fields,
)
from training.distributed import ShardedBatches

DEFAULT_STEPS = 3000
DEFAULT_BATCH = 32
DEFAULT_LR = 2e-4
DEFAULT_CROP = 96
SIZES = {
    "tiny": {"latent_dim": 32, "ff_dim": 64, "n_layers": 1, "n_heads": 2},  # tests and smoke runs
    "default": {},
    # TMR's published sizes (its decoder reconstructs every frame).
    "full": {"latent_dim": 256, "ff_dim": 1024, "n_layers": 6, "n_heads": 4, "decoder_layers": 6, "recons_stride": 1},
}


def load_descriptions(root: str | Path, annotations: str | Path | None) -> dict[str, dict]:
    """Return {motion id: descriptions} from a dataset's annotation file (default DATA/annotations.json)."""
    from kinmo_core.annotate.annotations import read_annotations

    path = Path(annotations) if annotations else Path(root) / "annotations.json"
    if not path.is_file():
        raise KinmoInputError(f"{root} has no annotations ({path}); run `kinmo annotate {root} -o {path}` or train "
                              "with --levels 1")
    data = read_annotations(path)
    out = {}
    for mid, rec in data["motions"].items():
        out[mid] = check_descriptions(rec, f"{path}: motion {mid}")
    return out


class AlignmentData(Dataset):
    """MotionTextDataset items with the motion's descriptions; motions without annotations are left out."""

    def __init__(self, base: Dataset, ids: list[str], descriptions: dict[str, dict] | None) -> None:
        self.base = base
        keep = range(len(ids)) if descriptions is None else [i for i, m in enumerate(ids) if m in descriptions]
        self.index = list(keep)
        self.ids = ids
        self.descriptions = descriptions
        self.dropped = len(ids) - len(self.index)
        if not self.index:
            raise KinmoInputError("no training motion has annotations")

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to the wrapped datasets (new crops and captions)."""
        for ds in getattr(self.base, "datasets", [self.base]):
            ds.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        item = dict(self.base[self.index[i]])
        if self.descriptions is not None:
            item["descriptions"] = self.descriptions[item["id"]]
        return item


def all_items(base: Dataset) -> tuple[list[str], list[str]]:
    """Return (motion id per item, every caption) of a MotionTextDataset or a ConcatDataset of them."""
    ids, captions = [], []
    for ds in getattr(base, "datasets", [base]):
        for it in ds.items:
            ids.append(it["id"])
            captions.extend(rec["caption"] for rec in it["texts"])
    return ids, captions


_SIDE_WORDS = re.compile(r"\b(left|right|clockwise|counterclockwise)\b")


def side_words(caption: str) -> tuple[str, ...]:
    """The side words of a caption in order ('left', 'right', 'clockwise', ...), lower-cased."""
    return tuple(_SIDE_WORDS.findall(caption.lower()))


def side_conflicts(captions: list[str]) -> torch.Tensor:
    """(B, B) True where two captions both name sides and name different ones (a caption and its mirror)."""
    sides = [side_words(c) for c in captions]
    n = len(sides)
    return torch.tensor([[bool(sides[i]) and bool(sides[j]) and sides[i] != sides[j] for j in range(n)]
                         for i in range(n)], dtype=torch.bool)


class Collate:
    """Pads motions and looks up cached text features: tokens, descriptions and caption similarities.

    With `mirror` (the features' mean and std) every item also enters the batch mirrored (motion reflected, sides
    swapped in its caption and descriptions), so a caption's mirror is always among its negatives. TMR leaves
    near-duplicate captions out of the negatives by sentence similarity, and MiniLM puts a caption and its mirror at
    about 0.985: without this, HTMA never learns that left is not right (BENCHMARKS: where the side is lost).
    """

    def __init__(self, tokens: dict[str, np.ndarray], pooled: dict[str, np.ndarray], levels: int,
                 mirror: tuple[np.ndarray, np.ndarray] | None = None, descriptions: dict[str, dict] | None = None
                 ) -> None:
        self.tokens, self.pooled, self.levels = tokens, pooled, levels
        self.mirror = None if mirror is None else tuple(torch.from_numpy(a.astype(np.float32)) for a in mirror)
        self.descriptions = descriptions or {}

    def _mirrored(self, item: dict) -> dict:
        mean, std = self.mirror
        out = dict(item)
        out["motion"] = (mirror_features(item["motion"] * std + mean) - mean) / std
        out["caption"] = mirror_text(item["caption"])
        out["id"] = "mirror:" + item["id"]
        if "descriptions" in item:
            # The dataset's own mirrored motion, where there is one, has descriptions measured on it.
            twin = self.descriptions.get(mirror_partner(item["id"]))
            out["descriptions"] = twin if twin is not None else mirror_descriptions(item["descriptions"])
        return out

    def __call__(self, items: list[dict]) -> dict:
        if self.mirror is not None:
            items = list(items) + [self._mirrored(it) for it in items]
        batch = collate_motions(items)
        feats = [self.tokens[c] for c in batch["captions"]]
        batch["tokens"], batch["token_mask"] = pad_tokens(feats)
        # Mean-pooled caption features (MiniLM's sentence embedding) find near-duplicate captions among negatives;
        # captions naming different sides stay negatives however similar MiniLM finds them.
        sent = torch.stack([torch.from_numpy(f.astype(np.float32).mean(0)) for f in feats])
        sent = torch.nn.functional.normalize(sent, dim=-1)
        batch["text_sim"] = (sent @ sent.t()).masked_fill(side_conflicts(batch["captions"]), 0.0)
        if self.levels > 1:
            batch["groups"], batch["pairs"] = description_tensors([it["descriptions"] for it in items], self.pooled)
        return batch


def mirror_partner(motion_id: str) -> str:
    """The id of a motion's mirrored twin in the layout (an original's mirror, or a mirror's original)."""
    return base_id(motion_id) if motion_id.startswith(MIRROR_PREFIX) else mirror_id(motion_id)


def mirrored_texts(captions: list[str], descriptions: dict[str, dict] | None) -> tuple[list[str], dict[str, dict]]:
    """The captions and description sets of the mirrored items (for the text-feature cache)."""
    desc = descriptions or {}
    mirrored = {f"mirror:{k}": mirror_descriptions(d) for k, d in desc.items() if mirror_partner(k) not in desc}
    return [mirror_text(c) for c in captions], mirrored


def text_features(cache: TextFeatureCache, captions: list[str], descriptions: dict[str, dict] | None,
                  levels: int) -> tuple[dict, dict]:
    """Return the cached token features of captions and pooled features of every description."""
    tokens = cache.tokens(captions)
    pooled = {}
    if levels > 1 and descriptions:
        pooled = cache.pooled([t for d in descriptions.values() for t in description_texts(d)])
    return tokens, pooled


def make_config(args, text_dim: int | None = None) -> HTMAConfig:
    """The model configuration of a run (text_dim: the text encoder's width, when not MiniLM's 384)."""
    from kinmo_core.text.encoders import _resolve

    name = HTMAConfig.text_encoder if args.text_encoder is None else _resolve(args.text_encoder).name
    cfg = HTMAConfig(levels=args.levels, cross_attention=not args.no_cross_attention, text_encoder=name,
                     **({"text_dim": int(text_dim)} if text_dim else {}))
    size = "tiny" if args.tiny else args.size
    return HTMAConfig(**{**cfg.to_dict(), **size_fields(SIZES, size, HTMAConfig)})


def main(argv: list[str] | None = None) -> int:
    """Train and save an HTMA model; returns an exit code."""
    p = base_parser(__doc__.splitlines()[1])
    data = p._option_string_actions["--data"]  # the shared --data takes one folder; this trainer takes several
    data.help = "dataset folder(s) in the HumanML3D layout; FOLDER:N repeats a folder N times"
    p.add_argument("--annotations", nargs="+", default=None,
                   help="annotation file per dataset folder (default: DATA/annotations.json)")
    p.add_argument("--levels", type=int, choices=(1, 2, 3), default=3, help="text levels (1 = global only, TMR)")
    p.add_argument("--no-cross-attention", action="store_true", help="ablation: finer levels ignore coarser ones")
    p.add_argument("--crop", type=int, default=DEFAULT_CROP, help="random motion crop in frames during training")
    p.add_argument("--text-encoder", default=None, help="local Hugging Face encoder folder (default: bundled MiniLM)")
    p.add_argument("--cache-dir", default=None, help="text-feature cache folder (default $KINMO_CACHE or "
                                                     "~/.cache/kinmo)")
    p.add_argument("--eval-every", type=int, default=1000, help="steps between validation retrieval checks")
    add_size_arg(p, SIZES, help="model size: full is TMR's published encoders, tiny for tests")
    p.add_argument("--tiny", action="store_true", help="same as --size tiny")
    p.add_argument("--no-side-negatives", action="store_true",
                   help="ablation: no mirrored copy of each item in its batch (the side of a caption is then "
                        "left out of the negatives as a near duplicate)")
    add_time_budget(p)
    args = p.parse_args(argv)
    run = setup(args)
    out = Path(args.out)
    if (out / "config.json").exists() and not args.overwrite:
        raise SystemExit(f"error: {out} already holds a model (pass --overwrite to replace it)")
    if args.annotations and len(args.annotations) != len(args.data):
        raise SystemExit("error: give one --annotations file per --data folder")
    try:
        return _train(args, run)
    except KinmoInputError as exc:
        raise SystemExit(f"error: {exc}") from None


def _train(args: argparse.Namespace, run) -> int:
    """The training run behind main()."""
    steps = args.steps or DEFAULT_STEPS
    batch_size = args.batch or DEFAULT_BATCH
    peak = args.lr or DEFAULT_LR
    out = Path(args.out)
    cache = TextFeatureCache(args.text_encoder, args.cache_dir, progress=run.is_main)
    cfg = make_config(args, cache.encoder.dim if args.text_encoder is not None else None)
    folders = parse_data(args.data)
    first = folders[0][0]
    mean, std = np.load(first / "Mean.npy"), np.load(first / "Std.npy")
    descriptions: dict[str, dict] | None = None
    if cfg.levels > 1:
        descriptions = {}
        for i, (root, _) in enumerate(folders):
            descriptions.update(load_descriptions(root, args.annotations[i] if args.annotations else None))
    train_sets = [MotionTextDataset(root, "train", max_frames=args.crop, min_frames=min(40, args.crop), mean=mean,
                                    std=std, seed=args.seed) for root, rep in folders for _ in range(rep)]
    base = torch.utils.data.ConcatDataset(train_sets)
    ids, captions = all_items(base)
    train = AlignmentData(base, ids, descriptions)
    if train.dropped:
        run.print(f"note: {train.dropped} training items have no annotations and are left out")
    mirror = None if args.no_side_negatives else (mean, std)
    if mirror is not None:  # half the batch is sampled, the other half is its mirror
        more_captions, more_desc = mirrored_texts(captions, descriptions)
        captions = captions + more_captions
        descriptions = None if descriptions is None else {**descriptions, **more_desc}
    with run.main_first():  # rank 0 encodes the texts into the shared cache, the others read it
        tokens, pooled = text_features(cache, captions, descriptions, cfg.levels)
    per_batch = batch_size if mirror is None else max(1, batch_size // 2)
    batches = ShardedBatches(train, per_batch, Collate(tokens, pooled, cfg.levels, mirror, descriptions), run,
                             seed=args.seed)

    model = HTMA(cfg)
    init_weights(model, HTMAConfig, args.init)
    # A level may leave some weights without gradient in a step (e.g. no group descriptions in a batch).
    step_fn = run.wrap(model, "losses", find_unused_parameters=True)
    opt = torch.optim.AdamW(model.parameters(), lr=peak, betas=(0.9, 0.99), weight_decay=0.0)
    noise = run.generator(run.rank_seed(args.seed + 1))
    schedule = Schedule(opt, steps, peak, min(300, steps // 10 + 1), args.max_minutes, desc=f"htma L{cfg.levels}",
                        run=run)
    run.track(opt=opt, schedule=schedule, batches=batches, noise=noise)
    run.restore()
    log = run.log(out / "train_log.jsonl")
    t0 = time.time()
    val_metrics: dict[str, float] = {}
    for step in schedule:
        batch = run.to(next(batches))
        with run.autocast():
            losses = step_fn(batch, noise)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        last = step == steps - 1
        if step % args.log_every == 0 or last:
            row = {k.replace("/", "_"): run.mean(float(v.detach())) for k, v in losses.items()}
            row.update(step=step, lr=opt.param_groups[0]["lr"], secs=time.time() - t0)
            if run.is_main and ((args.eval_every and step % args.eval_every == 0 and step) or last):
                val_metrics = validate(model, cfg, mean, std, args, cache)
                row.update(val_metrics)
            log.write(**row)
            schedule.bar.set_postfix(loss=f"{row['loss']:.3f}", nce=f"{row['global_nce']:.2f}")
        run.step_end(schedule.done)
    if run.is_main:
        _save(model.cpu().eval(), cfg, out, mean, std, args, val_metrics, time.time() - t0, len(train), run,
              steps, schedule.done, batch_size, peak)
    log.close()
    run.finish()
    return 0


def _save(model: HTMA, cfg: HTMAConfig, out: Path, mean: np.ndarray, std: np.ndarray, args, val_metrics: dict,
          secs: float, train_items: int, run, steps: int, done: int, batch_size: int, peak: float) -> None:
    """Write statistics, then float16 weights with provenance (rank 0)."""
    from kinmo_core.fileio import write_atomic

    # Statistics (and a non-default text encoder) first: a folder with a config.json is a complete model.
    for name, arr in (("Mean.npy", mean), ("Std.npy", std)):
        write_atomic(out / name, lambda f, a=arr: np.save(f, a.astype(np.float32)), overwrite=True)
    if args.text_encoder is not None:
        import shutil

        from kinmo_core.alignment import BUNDLED_ENCODER_DIR

        src = Path(args.text_encoder).expanduser()
        dest = out / BUNDLED_ENCODER_DIR / cfg.text_encoder
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    # Weights ship in float16 (half the size); loading casts them back to float32.
    save_pretrained(copy.deepcopy(model).half(), cfg, out, overwrite=args.overwrite, extra_meta=provenance(
        args, datasets=args.data, levels=cfg.levels, cross_attention=cfg.cross_attention, steps=steps,
        steps_done=done, batch=batch_size, lr=peak, crop=args.crop, side_negatives=not args.no_side_negatives,
        init=args.init, train_items=train_items,
        text_encoder=cfg.text_encoder, minutes=round(secs / 60, 2), **run.describe(), **val_metrics))
    shown = ", ".join(f"{k} {v:.1f}" for k, v in val_metrics.items() if k.endswith("R@1") or k.endswith("R@5"))
    print(f"saved {out} ({secs / 60:.1f} min; validation {shown})")


def validate(model: HTMA, cfg: HTMAConfig, mean: np.ndarray, std: np.ndarray, args, cache: TextFeatureCache
             ) -> dict[str, float]:
    """Protocol (a) and (d) retrieval metrics on the first dataset's validation split, with its annotations."""
    from kinmo_core.alignment import HTMAAligner
    from kinmo_core.eval.retrieval_eval import evaluate_dataset

    device = next(model.parameters()).device
    if device.type != "cpu":  # retrieval runs on the CPU: validate a copy there
        model = copy.deepcopy(model).cpu()
    model.eval()
    try:
        aligner = HTMAAligner(model, mean, std, args.text_encoder, cache=cache)
        ann = args.annotations[0] if args.annotations else None
        res = evaluate_dataset(aligner, parse_data(args.data)[0][0], "val", descriptions="annotations", annotations=ann,
                               protocols=("all", "small_batches"))
    except KinmoInputError as exc:
        print(f"note: no validation ({exc})")
        return {}
    finally:
        if device.type == "cpu":
            model.train()
    return {f"val_{proto}_{k.replace('/', '_')}": v for proto, m in res["metrics"].items() for k, v in m.items()
            if "R@" in k or "MedR" in k}


if __name__ == "__main__":
    raise SystemExit(main())
