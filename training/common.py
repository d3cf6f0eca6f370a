"""What every training entry point shares: arguments, seeding, schedules, logging, provenance (the device, DDP and
checkpoint machinery is in training/distributed.py and training/checkpoint.py)."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def base_parser(description: str) -> argparse.ArgumentParser:
    """Arguments common to all trainers."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", nargs="+", default=[str(ROOT / "data" / "synth20k"), str(ROOT / "data" / "bandai") + ":8"],
                   help="dataset folders in the HumanML3D layout; FOLDER:N repeats a folder N times in training "
                        "(the first folder's Mean/Std normalise all)")
    p.add_argument("--out", required=True, help="output folder for the trained model")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default: the config's)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the config's)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the config's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--no-bf16", action="store_true",
                   help="train in float32 (default: bf16 autocast on GPUs that support it and where the CPU computes "
                        "bfloat16 natively, about 2x faster; float32 elsewhere, where emulated bfloat16 is about 10x "
                        "slower)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model in --out")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="start from the weights of a trained model folder of the same kind and shape (fine-tuning)")
    from training.distributed import add_run_args

    add_run_args(p)
    return p


def setup(args: argparse.Namespace):
    """Seed everything, set thread counts, join the torchrun group if any, and choose device and precision.

    Returns the process's `training.distributed.Run`; args.no_bf16 ends up True wherever bf16 autocast is not used.
    """
    from training.distributed import Run

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    run = Run(args)
    args.no_bf16 = not run.bf16
    return run


def size_fields(sizes: dict[str, dict], value: str, cfg_cls: type | None = None) -> dict:
    """The config fields of a --size: a preset name of `sizes`, or a JSON file of fields (checked against cfg_cls)."""
    import dataclasses

    from kinmo_core.errors import KinmoInputError

    if value in sizes:
        return dict(sizes[value])
    path = Path(value).expanduser()
    if not path.is_file():
        raise KinmoInputError(f"--size {value}: neither a size ({', '.join(sizes)}) nor a JSON file")
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(fields, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise KinmoInputError(f"--size {path}: not a JSON object of config fields ({exc})") from None
    if cfg_cls is not None:
        unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(cfg_cls)})
        if unknown:
            raise KinmoInputError(f"--size {path}: {cfg_cls.__name__} has no fields {', '.join(unknown)}")
    return fields


def add_size_arg(p: argparse.ArgumentParser, sizes: dict[str, dict], help: str) -> None:
    """Add --size NAME|FILE.json (see size_fields)."""
    p.add_argument("--size", default="default", metavar="|".join(sizes) + "|FILE.json",
                   help=help + "; or a JSON file of config fields")


def one_line_errors(main):
    """Decorate a trainer's main(): bad input (KinmoInputError) ends it with one `error: ...` line, exit code 2."""
    import functools

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        from kinmo_core.errors import KinmoInputError

        try:
            return main(*args, **kwargs)
        except KinmoInputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper


def refuse_existing_model(out: Path, overwrite: bool) -> None:
    """Stop with a one-line message when `out` already holds a saved model and --overwrite was not given."""
    if (out / "config.json").exists() and not overwrite:
        raise SystemExit(f"{out} already holds a model; pass --overwrite to replace it")


def cache_folder(args: argparse.Namespace) -> Path:
    """Return the --cache folder, by default `cache` beside the --out folder (shared by the trainers of one run)."""
    return Path(args.cache) if args.cache else Path(args.out).resolve().parent / "cache"


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up then cosine decay to 5% of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def init_weights(model: torch.nn.Module, cfg_cls: type, init: str | None) -> None:
    """Load --init's weights into a freshly built model (same class and shape); KinmoInputError when they differ."""
    if not init:
        return
    from kinmo_core.errors import KinmoInputError, KinmoModelError
    from kinmo_core.models.io import load_pretrained

    try:
        source = load_pretrained(type(model), cfg_cls, init)
    except KinmoModelError as exc:
        raise KinmoInputError(f"--init {init}: {exc}") from None
    theirs, ours = source.state_dict(), model.state_dict()
    # Parts this model adds to the source's (a new branch) keep their fresh initialisation.
    new = tuple(getattr(model, "new_on_init", ()))  # str.startswith(()) is False: no new parts, none missing
    wrong = [k for k in ours if (k not in theirs and not k.startswith(new))
             or (k in theirs and theirs[k].shape != ours[k].shape)]
    if wrong or set(theirs) - set(ours):
        raise KinmoInputError(f"--init {init}: its model has another shape than this run's ({', '.join(wrong[:3])})")
    model.load_state_dict({k: theirs[k].to(v.dtype) if k in theirs else v for k, v in ours.items()})


def add_time_budget(p: argparse.ArgumentParser) -> None:
    """Add --max-minutes (see `clock_step`)."""
    p.add_argument("--max-minutes", type=float, default=None,
                   help="end after M minutes, the learning-rate schedule following the clock")


def clock_step(step: int, steps: int, t0: float, max_minutes: float | None, run=None) -> int | None:
    """The schedule position of `step` (for lr_at) under a time budget, or None once the budget is spent.

    Without a budget it is `step`; with one, the schedule follows whichever of steps and time runs out first, so a
    run on a slower or busier machine still anneals its learning rate and ends on time. Under DDP rank 0's clock
    decides for every rank, so all stop at the same step.
    """
    if not max_minutes:
        return step
    frac = max(step / steps, (time.time() - t0) / (max_minutes * 60))
    if run is not None:
        frac = run.broadcast_float(frac)
    if frac >= 1.0:
        if run is None or run.is_main:
            print(f"time budget of {max_minutes} min reached after {step} steps")
        return None
    return int(frac * steps)


class Schedule:
    """The steps of a training run: each step's learning rate (warm-up, cosine) set, ended early by --max-minutes.

    Iterate it for the step numbers (from `done` on, after a resume); `bar` is its tqdm bar (rank 0 only), `done`
    the steps made so far. `state_dict()` / `load_state_dict()` carry it through a checkpoint.
    """

    def __init__(self, opt: torch.optim.Optimizer, steps: int, peak: float, warmup: int,
                 max_minutes: float | None = None, desc: str = "train", run=None) -> None:
        self.opt, self.steps, self.peak, self.warmup, self.max_minutes = opt, steps, peak, warmup, max_minutes
        self.run = run
        self.t0 = time.time()
        self.done = 0
        from tqdm import tqdm

        self.bar = tqdm(total=steps, desc=desc, unit="step", disable=run is not None and not run.is_main)

    def state_dict(self) -> dict:
        """Steps done and seconds spent."""
        return {"done": self.done, "elapsed": time.time() - self.t0}

    def load_state_dict(self, state: dict) -> None:
        """Continue after a checkpoint's steps (the time budget counts the time already spent)."""
        self.done = int(state.get("done", 0))
        self.t0 = time.time() - float(state.get("elapsed", 0.0))
        self.bar.update(self.done)

    def __iter__(self):
        for step in range(self.done, self.steps):
            at = clock_step(step, self.steps, self.t0, self.max_minutes, self.run)
            if at is None:
                return
            self.done = step + 1
            for group in self.opt.param_groups:
                group["lr"] = lr_at(at, self.steps, self.peak, self.warmup)
            yield step
            self.bar.update(1)
        self.bar.close()


def git_commit() -> str:
    """The commit of the code that trains (with '+dirty' when the tree has changes), or 'unknown'."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def parse_data(specs: list[str] | str) -> list[tuple[Path, int]]:
    """Split `FOLDER[:N]` specs into (folder, repeats)."""
    out = []
    for spec in [specs] if isinstance(specs, str) else specs:
        folder, _, rep = spec.rpartition(":") if spec.rpartition(":")[2].isdigit() else (spec, "", "1")
        out.append((Path(folder), int(rep)))
    return out


def training_set(specs: list[str] | str, split: str = "train", **kwargs):
    """One dataset over the given folders (with repeats), normalised by the first folder's Mean/Std."""
    from torch.utils.data import ConcatDataset

    from kinmo_core.data.dataset import MotionTextDataset

    folders = parse_data(specs)
    first = folders[0][0]
    kwargs.setdefault("mean", np.load(first / "Mean.npy"))
    kwargs.setdefault("std", np.load(first / "Std.npy"))
    parts = []
    for folder, rep in folders:
        ds = MotionTextDataset(folder, split, **kwargs)
        parts += [ds] * rep
    return ConcatDataset(parts)


def data_version(specs: list[str] | str) -> str:
    """A short hash of the dataset folders' split files and statistics, naming the data a model was trained on."""
    h = hashlib.sha256()
    for root, rep in parse_data(specs):
        h.update(f"{root.name}:{rep}".encode())
        for name in ("train.txt", "val.txt", "test.txt", "Mean.npy", "Std.npy", "corpus.json"):
            f = root / name
            if f.is_file():
                h.update(name.encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


def provenance(args: argparse.Namespace, **extra) -> dict:
    """What is recorded beside trained weights: command, commit, data version, seed, date."""
    return {
        "command": " ".join(_launcher() + ["-m", _module_name()] + sys.argv[1:]),
        "commit": git_commit(),
        "data": list(args.data) if isinstance(args.data, list) else str(args.data),
        "data_version": data_version(args.data),
        "seed": args.seed,
        "trained_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "torch": torch.__version__,
        "precision": "float32" if getattr(args, "no_bf16", True) else "bf16 autocast",
        "device": getattr(args, "device", "cpu"),
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        **extra,
    }


def _launcher() -> list[str]:
    """`python`, or the torchrun options of this process's launch (nodes and processes per node)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return [Path(sys.executable).name]
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    nodes = max(1, world // max(1, local))
    return ["torchrun"] + ([f"--nnodes {nodes}"] if nodes > 1 else []) + [f"--nproc_per_node {local}"]


def _module_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem


class JsonlLog:
    """Appends one JSON object per line to a training log."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "a", encoding="utf-8")

    def write(self, **row) -> None:
        """Log one row of floats and ints."""
        clean = {k: (float(v) if isinstance(v, torch.Tensor | np.floating) else v) for k, v in row.items()}
        self.f.write(json.dumps(clean) + "\n")
        self.f.flush()

    def close(self) -> None:
        """Close the file."""
        self.f.close()
