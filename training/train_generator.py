"""Train the masked token transformer (base RVQ layer) under hierarchical text conditions.

    python -m training.train_generator --data data/synth20k data/bandai:8 --rvq runs/rvq --cond sentence \\
        --levels 3 --out runs/mask_sentence_l3
    torchrun --nproc_per_node 4 -m training.train_generator --data HumanML3D --rvq runs/rvq --cond htma \\
        --htma runs/htma --size full --device cuda --checkpoint-every 1000 --out runs/mask

--size full is MoMask's published masked transformer (8 layers, d=384, 6 heads, feed-forward 1024).

--control trains the spatial-control branch (the pipeline's `control_transformer`): a copy of the masked
transformer that also takes joint targets drawn from each training crop's own joints (dense, spans, sparse shares,
ground paths, keyframes: `generator_data.sample_control`); with --init from a plain masked transformer the new
branch starts at zero, so it begins as that model and learns to follow the targets:

    python -m training.train_generator --control --data data/synth20k data/bandai:8 data/bandai2:2 \
        --rvq kinmo_core/assets/default/rvq --cond htma --htma kinmo_core/assets/default/htma \
        --init kinmo_core/assets/default/mask_transformer --out runs/control --max-minutes 40

--splice P poses a share P of the training crops as edits (`generator_data.TokenBatches`): a 1-5 s stretch of an item,
under that item's text, between tokens of another item that are given and never predicted, as `kinmo edit` in-paints
a range inside a source motion that the text does not describe.

--cond sentence: MiniLM sentence embeddings (caption, mean of group descriptions, mean of interaction descriptions);
--cond htma --htma runs/htma: HTMA's aligned text means; --cond htma+sentence --htma runs/htma: both side by side.
--levels 1 trains on the global caption only (the MoMask-like
baseline), 2 adds the groups, 3 the interactions. RVQ codes and condition vectors are computed once into --cache
(default: a `cache/` folder beside --out). `python -m training.train_residual` trains the residual transformer
with the same arguments.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from kinmo_core.models.io import read_config, save_pretrained
from training.common import (
    Schedule,
    add_size_arg,
    add_time_budget,
    base_parser,
    cache_folder,
    init_weights,
    one_line_errors,
    provenance,
    refuse_existing_model,
    setup,
    size_fields,
)
from training.distributed import RandomBatches
from training.generator_data import MAX_TRAIN_TOKENS, TokenBatches, code_cache, cond_cache

SIZES = {
    "tiny": {"d_model": 32, "n_layers": 1, "n_heads": 2},  # tests and smoke runs
    "default": {},
    "full": {"d_model": 384, "n_layers": 8, "n_heads": 6, "ff_dim": 1024},  # MoMask's published sizes
}


def parser(description: str, control: bool = False):
    """Arguments of both token-transformer trainers (control: the masked one's --control too)."""
    from kinmo_core.conditioning import CONDITIONER_KINDS

    p = base_parser(description)
    p.add_argument("--rvq", required=True, help="trained RVQ folder (with Mean.npy / Std.npy)")
    p.add_argument("--annotations", nargs="*", default=None,
                   help="annotations.json per --data folder (default: each folder's annotations.json when present)")
    p.add_argument("--cond", choices=CONDITIONER_KINDS, default="sentence", help="text conditioning")
    p.add_argument("--htma", default=None, help="trained HTMA folder (for --cond htma)")
    p.add_argument("--levels", type=int, choices=(1, 2, 3), default=3, help="text levels seen in training")
    p.add_argument("--cache", default=None, help="cache folder for codes and conditions (default: OUT/../cache)")
    add_size_arg(p, SIZES, help="model size: full is MoMask's (8 layers, d=384, 6 heads, ff 1024), tiny for tests")
    p.add_argument("--d-model", type=int, default=None, help="transformer width (default: the size's)")
    p.add_argument("--layers", type=int, default=None, help="transformer layers (default: the size's)")
    p.add_argument("--eval-every", type=int, default=1000, help="validation every N steps")
    add_time_budget(p)
    if control:
        p.add_argument("--control", action="store_true",
                       help="train the spatial-control branch (joint targets from each crop; see the module doc)")
        p.add_argument("--splice", type=float, default=0.0,
                       help="share of training crops posed as edits: a 1-5 s stretch of the item (under its text) "
                            "in-painted between tokens of another item, given as context (default 0)")
        p.add_argument("--init-branch", default=None,
                       help="with --control: take the branch's weights from this trained control transformer (the "
                            "rest from --init), e.g. a trained branch onto a new tokenizer's masked transformer")
    return p


def init_branch(model, folder: str) -> None:
    """Copy the spatial-control branch of a trained control transformer (folder) into model's branch."""
    from kinmo_core.errors import KinmoInputError, KinmoModelError
    from kinmo_core.models.io import load_pretrained
    from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig

    if model.control is None:  # train() refuses --init-branch without --control before reading data
        raise KinmoInputError("this masked transformer has no spatial-control branch to copy into")
    try:
        source = load_pretrained(MaskTransformer, MaskTransformerConfig, folder)
    except KinmoModelError as exc:
        raise KinmoInputError(f"--init-branch {folder}: {exc}") from None
    if source.control is None:
        raise KinmoInputError(f"--init-branch {folder}: that masked transformer has no spatial-control branch")
    theirs, ours = source.control.state_dict(), model.control.state_dict()
    if any(theirs[k].shape != v.shape for k, v in ours.items()):
        raise KinmoInputError(f"--init-branch {folder}: its branch has another shape than this run's")
    model.control.load_state_dict(theirs)


def prepare(args, kind: str, run=None):
    """Load the caches of every --data folder; return (train batches, val batches, codebook size, quantizers,
    conditioner). Training items of a FOLDER:N folder count N times; validation uses the first folder's val split."""
    import numpy as np

    from kinmo_core.conditioning import make_conditioner
    from training.common import parse_data
    from training.generator_data import ControlBatches, joint_cache

    folders = parse_data(args.data)
    annotations = list(args.annotations or [])
    if annotations and len(annotations) != len(folders):
        raise SystemExit(f"--annotations needs one file per --data folder ({len(folders)}), got {len(annotations)}")
    if not annotations:
        annotations = [str(f / "annotations.json") if (f / "annotations.json").is_file() else None
                       for f, _ in folders]
    if args.levels > 1 and not any(annotations):
        raise SystemExit("--levels 2 or 3 needs per-part descriptions: no annotations.json in the --data folders "
                         "and no --annotations given")
    args.annotations = annotations
    cache = cache_folder(args)
    rvq_cfg = read_config(args.rvq)["config"]
    unit = 2 ** int(rvq_cfg["down_t"])
    conditioner = make_conditioner(args.cond, args.htma)
    control = bool(getattr(args, "control", False))
    codes_all: list = []
    joints_all: dict[str, list] = {"joints": [], "angle": []}
    conds, present, items = [], [], []
    for (folder, rep), ann in zip(folders, annotations, strict=True):
        codes = code_cache(folder, "train", args.rvq, cache)
        cond = cond_cache(folder, "train", conditioner, ann, cache, unit=unit)
        for _ in range(rep):
            conds.append(cond["cond"])
            present.append(cond["present"])
            items.append(cond["item"] + len(codes_all))
        codes_all += codes["codes"]
        if control:
            j = joint_cache(folder, "train", unit, cache)
            joints_all["joints"] += j["joints"]
            joints_all["angle"] += j["angle"]
    # Each rank draws its own random batches (rank 0 with --seed itself): the DDP shards of random sampling.
    seed = run.rank_seed(args.seed) if run is not None else args.seed
    cond_all = {"cond": np.concatenate(conds), "present": np.concatenate(present), "item": np.concatenate(items)}
    first, ann0 = folders[0][0], annotations[0]
    val_codes = code_cache(first, "val", args.rvq, cache)["codes"]
    val_cond = cond_cache(first, "val", conditioner, ann0, cache, unit=unit)
    if control:
        train = ControlBatches(codes_all, cond_all, joints_all, unit, levels=args.levels, seed=seed)
        val = ControlBatches(val_codes, val_cond, joint_cache(first, "val", unit, cache), unit, levels=args.levels,
                             seed=args.seed + 1)
    else:
        train = TokenBatches(codes_all, cond_all, levels=args.levels, seed=seed,
                             splice=getattr(args, "splice", 0.0))
        val = TokenBatches(val_codes, val_cond, levels=args.levels, seed=args.seed + 1)
    return train, val, int(rvq_cfg["codebook_size"]), int(rvq_cfg["num_quantizers"]), conditioner


@torch.no_grad()
def validate(model, val: TokenBatches, base_only: bool, batches: int = 10, batch: int = 32) -> dict[str, float]:
    """Mean loss and accuracy on fixed validation batches (same crops and masks every time)."""
    model.eval()
    state = val.rng.bit_generator.state
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(1234)
    loss = acc = 0.0
    for _ in range(batches):
        b = {k: v.to(device) for k, v in val.sample(batch).items()}
        codes = b["codes"][..., 0] if base_only else b["codes"]
        extra = {k: b[k] for k in ("targets", "keep") if k in b}
        r = model.training_loss(codes, b["lengths"], b["cond"], b["present"], generator=g, **extra)
        loss += float(r["loss"])
        acc += float(r["acc"])
    val.rng.bit_generator.state = state
    model.train()
    return {"val_loss": loss / batches, "val_acc": acc / batches}


@one_line_errors
def train(kind: str, argv: list[str] | None = None) -> int:
    """Train the 'mask' or 'residual' transformer; returns an exit code."""
    from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig
    from kinmo_core.models.residual_transformer import ResidualTransformer, ResidualTransformerConfig

    doc = __doc__ if kind == "mask" else "Train the residual transformer (RVQ layers 1..Q-1) under text conditions."
    args = parser(doc.splitlines()[0], control=kind == "mask").parse_args(argv)
    if getattr(args, "init_branch", None) and not args.control:
        raise SystemExit("--init-branch needs --control")
    if getattr(args, "splice", 0.0) and (args.control or not 0.0 < args.splice <= 1.0):
        raise SystemExit("--splice takes a share in (0, 1] and trains the plain masked transformer (not --control)")
    run = setup(args)
    out = Path(args.out)
    refuse_existing_model(out, args.overwrite)
    sizes = size_fields(SIZES, args.size, MaskTransformerConfig if kind == "mask" else ResidualTransformerConfig)
    with run.main_first():  # rank 0 fills the code and condition caches, the others read them
        train_b, val_b, codebook, nq, conditioner = prepare(args, kind, run)
    sizes.update({k: v for k, v in (("d_model", args.d_model), ("n_layers", args.layers)) if v is not None})
    if kind == "mask":
        # ControlBatches carry the RVQ's frames per token, which the branch gathers its targets by.
        cfg = MaskTransformerConfig(codebook_size=codebook, cond_dim=conditioner.cond_dim, max_tokens=50,
                                    control_frames=train_b.unit if args.control else 0, **sizes)
        model = MaskTransformer(cfg)
    else:
        cfg = ResidualTransformerConfig(codebook_size=codebook, num_quantizers=nq, cond_dim=conditioner.cond_dim,
                                        max_tokens=50, **sizes)
        model = ResidualTransformer(cfg)
    init_weights(model, type(cfg), args.init)
    if getattr(args, "init_branch", None):
        init_branch(model, args.init_branch)
    steps = args.steps or (20000 if kind == "mask" else 12000)
    batch_size = args.batch or 64
    peak = args.lr or 2e-4
    # Some weights get no gradient in a step (null conditions when none is dropped, unused quantizer layers).
    step_fn = run.wrap(model, "training_loss", find_unused_parameters=True)
    opt = torch.optim.AdamW(model.parameters(), lr=peak, betas=(0.9, 0.99), weight_decay=1e-5)
    g = run.generator(run.rank_seed(args.seed))
    batches = RandomBatches(train_b, batch_size)
    schedule = Schedule(opt, steps, peak, min(1000, steps // 10 + 1), args.max_minutes, desc=kind, run=run)
    run.track(opt=opt, schedule=schedule, batches=batches, masking=g)
    run.restore()
    log = run.log(out / "train_log.jsonl")
    t0 = time.time()
    row: dict = {}
    for step in schedule:
        b = run.to(next(batches))
        codes = b["codes"][..., 0] if kind == "mask" else b["codes"]
        extra = {k: b[k] for k in ("targets", "keep") if k in b}
        with run.autocast():
            r = step_fn(codes, b["lengths"], b["cond"], b["present"], generator=g, **extra)
        opt.zero_grad(set_to_none=True)
        r["loss"].float().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.log_every == 0 or step == steps - 1:
            row = {"step": step, "loss": run.mean(float(r["loss"].detach())), "acc": run.mean(float(r["acc"])),
                   "lr": opt.param_groups[0]["lr"], "secs": time.time() - t0}
            if run.is_main and ((args.eval_every and step % args.eval_every == 0) or step == steps - 1):
                row.update(validate(model, val_b, kind == "mask"))
            log.write(**row)
            schedule.bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['acc']:.3f}")
        run.step_end(schedule.done)
    if run.is_main:
        final = validate(model, val_b, kind == "mask", batches=30)
        model.eval()
        role = "control" if getattr(args, "control", False) else kind
        meta = provenance(args, kind=role, size=args.size, cond=conditioner.kind, levels=args.levels,
                          rvq=str(args.rvq), annotations=args.annotations, htma=args.htma, steps=steps,
                          steps_done=schedule.done, batch=batch_size, lr=peak, max_train_tokens=MAX_TRAIN_TOKENS,
                          minutes=round((time.time() - t0) / 60, 2), **run.describe(), **final)
        save_pretrained(model.cpu(), cfg, out, extra_meta=meta, overwrite=args.overwrite)
        print(f"saved {out} (val loss {final['val_loss']:.4f}, val token accuracy {final['val_acc']:.3f})")
    log.close()
    run.finish()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Train the masked transformer."""
    return train("mask", argv)


if __name__ == "__main__":
    raise SystemExit(main())
