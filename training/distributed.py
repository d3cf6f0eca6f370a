"""One training process's place in a run: device, precision, DDP under torchrun, sharded data, checkpoints, resume.

Every trainer runs unchanged as one process or under `torchrun --nproc_per_node N` (PyTorch DDP: gloo on CPU, nccl
on CUDA). Rank 0 alone logs, shows progress, writes checkpoints and saves the model. Data is sharded across ranks
with torch's DistributedSampler (map-style datasets) or, for trainers that draw random batches, with one seeded
random stream per rank. With `--checkpoint-every K` a checkpoint holding the model, optimiser, schedule, step, every
rank's RNG states and data position is written atomically (training/checkpoint.py); `--resume DIR` continues from
the newest one, and a resumed run ends with the same weights as an uninterrupted one on the same device and threads.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import torch
import torch.distributed as dist

from kinmo_core.errors import KinmoInputError

RANK_SEED_STRIDE = 1_000_003  # rank r draws its random batches from seed + r * stride


def add_run_args(p: argparse.ArgumentParser) -> None:
    """Add --device, --checkpoint-every, --checkpoint-dir, --keep-checkpoints, --resume and --log-every."""
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps (under torchrun each rank takes cuda:LOCAL_RANK)")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="K",
                   help="write a resumable checkpoint every K steps (0: none)")
    p.add_argument("--checkpoint-dir", default=None, help="checkpoint folder (default: OUT/checkpoints)")
    p.add_argument("--keep-checkpoints", type=int, default=2, help="how many newest checkpoints to keep")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue from the newest checkpoint in DIR (a run's --out, its checkpoints/ or a step folder)")
    p.add_argument("--log-every", type=int, default=50, help="steps between training-log rows")


def _fail(message: str) -> NoReturn:
    """End the process with one `error: ...` line and exit code 2 (bad input: device, checkpoint)."""
    import sys

    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


class _Method(torch.nn.Module):
    """Calls one method of a model as its forward (what DistributedDataParallel wraps)."""

    def __init__(self, model: torch.nn.Module, method: str) -> None:
        super().__init__()
        self.inner, self.method = model, method

    def forward(self, *args, **kwargs):
        """Run the named method."""
        return getattr(self.inner, self.method)(*args, **kwargs)


class _NullLog:
    def write(self, **row) -> None:
        pass

    def close(self) -> None:
        pass


class Run:
    """The process's device, precision and rank; wraps the model for DDP; writes and restores checkpoints."""

    def __init__(self, args: argparse.Namespace) -> None:
        from kinmo_core.pipeline import resolve_device

        self.args = args
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        try:
            device = resolve_device(getattr(args, "device", "cpu") or "cpu")
        except KinmoInputError as exc:
            _fail(str(exc))
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", self.local_rank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        self.device = device
        self.owns_group = False
        if self.world > 1 and not dist.is_initialized():
            self.owns_group = True
            # nccl moves tensors between GPUs; gloo works on CPU tensors (and everywhere else).
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend)
        self.bf16 = self._choose_bf16(args)
        self.model: torch.nn.Module | None = None  # the unwrapped model
        self.opt: torch.optim.Optimizer | None = None
        self.schedule = None
        self.tracked: dict[str, Any] = {}
        self.resumed_step = 0
        self.trainable_only = False
        out = getattr(args, "out", None)
        ck = getattr(args, "checkpoint_dir", None)
        self.checkpoint_dir = Path(ck) if ck else (Path(out) / "checkpoints" if out else None)

    def _choose_bf16(self, args: argparse.Namespace) -> bool:
        from kinmo_core.text.minilm import native_bf16

        if getattr(args, "no_bf16", True):
            return False
        if self.device.type == "cuda":
            return torch.cuda.is_bf16_supported()
        if self.device.type == "cpu":
            if not native_bf16():
                # Without AVX512-BF16 or AMX, bf16 autocast is emulated: measured 12 s/step instead of 1.1 s (HTMA).
                self.print("note: this CPU has no native bfloat16; training in float32 (KINMO_BF16=1 forces bf16)")
                return False
            return True
        return False  # mps: float32 (bf16 autocast there depends on the macOS version)

    # ------------------------------------------------------------------------------------------------ ranks
    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that logs and saves)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world > 1 and dist.is_initialized()

    def print(self, *a, **kw) -> None:
        """print() on rank 0 only."""
        if self.is_main:
            print(*a, **kw, flush=True)

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.distributed:
            dist.barrier()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (e.g. filling caches), the others after it, reading what it wrote."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def rank_seed(self, seed: int) -> int:
        """The seed of this rank's random batches (rank 0 keeps `seed`, so one process trains as before)."""
        return int(seed) + RANK_SEED_STRIDE * self.rank

    def generator(self, seed: int, on_device: bool = True) -> torch.Generator:
        """A seeded torch.Generator on the training device (or the CPU), the same on every rank."""
        return torch.Generator(device=self.device if on_device else "cpu").manual_seed(int(seed))

    def mean(self, value: float) -> float:
        """The mean of a scalar over ranks (every rank must call it at the same step)."""
        if not self.distributed:
            return float(value)
        t = torch.tensor([float(value)], dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(t)
        return float(t.item()) / self.world

    def broadcast_float(self, value: float) -> float:
        """Rank 0's value of a scalar on every rank."""
        if not self.distributed:
            return float(value)
        t = torch.tensor([float(value)], dtype=torch.float64, device=self._comm_device)
        dist.broadcast(t, 0)
        return float(t.item())

    @property
    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    # ------------------------------------------------------------------------------------------------ compute
    def autocast(self):
        """bf16 autocast on the device where chosen, else a no-op context."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def to(self, obj: Any) -> Any:
        """Move tensors (in dicts, lists and tuples too) to the training device."""
        if isinstance(obj, torch.Tensor):
            return obj.to(self.device, non_blocking=True)
        if isinstance(obj, dict):
            return {k: self.to(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.to(v) for v in obj)
        return obj

    def wrap(self, model: torch.nn.Module, method: str | None = None, broadcast_buffers: bool = True,
             find_unused_parameters: bool = False) -> torch.nn.Module:
        """Move the model to the device and, under torchrun, wrap it in DistributedDataParallel.

        `method` names the model's loss method (e.g. "training_loss"): calling the returned module runs it, so DDP
        sees the forward pass it must synchronise. The unwrapped model is `self.model` (what checkpoints hold).
        """
        model.to(self.device)
        self.model = model
        step: torch.nn.Module = _Method(model, method) if method else model
        if not self.distributed:
            return step
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        options = {} if broadcast_buffers else {"broadcast_buffers": False}
        return DistributedDataParallel(step, device_ids=ids, find_unused_parameters=find_unused_parameters, **options)

    def log(self, path: str | os.PathLike):
        """The training log (rank 0) or a log that writes nothing (other ranks).

        After a resume, rows of steps past the checkpoint (written before the interruption) are dropped first, so
        the log reads as one run's.
        """
        from kinmo_core.fileio import write_atomic
        from training.common import JsonlLog

        if not self.is_main:
            return _NullLog()
        p = Path(path)
        if self.resumed_step and p.is_file():
            import json

            keep = [line for line in p.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", -1) < self.resumed_step]
            write_atomic(p, lambda f: f.write("".join(x + "\n" for x in keep).encode()), overwrite=True)
        return JsonlLog(p)

    def finish(self) -> None:
        """Wait for rank 0's saving and leave the process group (if this run joined it; a caller's group stays)."""
        if self.distributed:
            dist.barrier()
            if self.owns_group:
                dist.destroy_process_group()

    def describe(self) -> dict:
        """What provenance records about how the run was computed."""
        return {"device": self.device.type, "world_size": self.world,
                "precision": "bf16 autocast" if self.bf16 else "float32"}

    # ------------------------------------------------------------------------------------------------ checkpoints
    def track(self, model: torch.nn.Module | None = None, opt: torch.optim.Optimizer | None = None,
              schedule=None, trainable_only: bool = False, **objects: Any) -> None:
        """Name what a checkpoint holds: the (unwrapped) model, optimiser, schedule, and per-rank RNGs / samplers.

        `objects` are torch / numpy / python random generators or objects with state_dict() / load_state_dict()
        (data samplers). `trainable_only` stores only parameters that train (LoRA adapters over a frozen base
        model) plus buffers.
        """
        if model is not None:
            self.model = model
        self.opt = opt if opt is not None else self.opt
        self.schedule = schedule if schedule is not None else self.schedule
        self.trainable_only = trainable_only or self.trainable_only
        self.tracked.update(objects)

    def _rank_state(self) -> dict:
        from training.checkpoint import global_rng_state, rng_state

        out: dict[str, Any] = {"rng": global_rng_state(self.device), "objects": {}}
        for name, obj in self.tracked.items():
            out["objects"][name] = ({"sampler": obj.state_dict()} if hasattr(obj, "load_state_dict")
                                    else rng_state(obj))
        return out

    def _model_state(self) -> dict[str, torch.Tensor]:
        assert self.model is not None
        state = self.model.state_dict()
        if self.trainable_only:
            keep = {n for n, p in self.model.named_parameters() if p.requires_grad}
            keep |= {n for n, _ in self.model.named_buffers()}
            state = {k: v for k, v in state.items() if k in keep}
        return state

    def step_end(self, done: int) -> None:
        """Call after each step with the number of steps done: writes a checkpoint every --checkpoint-every."""
        every = int(getattr(self.args, "checkpoint_every", 0) or 0)
        if every <= 0 or done % every or self.checkpoint_dir is None:
            return
        self.save_checkpoint(done)

    def save_checkpoint(self, done: int) -> Path | None:
        """Write a checkpoint after `done` steps (every rank gathers its RNG and data state to rank 0)."""
        from training.checkpoint import save_checkpoint

        assert self.model is not None and self.opt is not None
        mine = self._rank_state()
        if self.distributed:
            states: list = [None] * self.world
            dist.all_gather_object(states, mine)
        else:
            states = [mine]
        path = None
        if self.is_main:
            state = {"world_size": self.world, "ranks": states,
                     "schedule": self.schedule.state_dict() if self.schedule is not None else {},
                     "args": {k: v for k, v in vars(self.args).items() if isinstance(v, str | int | float | bool)
                              or v is None or isinstance(v, list)}}
            path = save_checkpoint(self.checkpoint_dir, done, self._model_state(), self.opt, state,
                                   keep=int(getattr(self.args, "keep_checkpoints", 2)))
        self.barrier()
        return path

    def restore(self) -> int:
        """With --resume, load the newest checkpoint into what `track` named; return the steps already done."""
        from training.checkpoint import (
            find_checkpoint,
            load_checkpoint,
            optimizer_from_safetensors,
            set_global_rng_state,
            set_rng_state,
        )

        resume = getattr(self.args, "resume", None)
        if not resume:
            return 0
        assert self.model is not None and self.opt is not None
        try:
            path = find_checkpoint(resume)
            model_state, opt_tensors, meta = load_checkpoint(path)
        except KinmoInputError as exc:
            _fail(str(exc))
        own = self.model.state_dict()
        missing = sorted(set(own) - set(model_state)) if not self.trainable_only else []
        extra = sorted(set(model_state) - set(own))
        if missing or extra:
            _fail(f"{path} does not fit this model (missing {missing[:3]}, unexpected {extra[:3]}); "
                             "resume with the same arguments")
        self.model.load_state_dict({k: v.to(own[k].dtype) for k, v in model_state.items()},
                                   strict=not self.trainable_only)
        optimizer_from_safetensors(self.opt, opt_tensors, meta["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(meta.get("schedule", {}))
        ranks = meta["ranks"]
        if len(ranks) != self.world:
            self.print(f"note: {path} was written by {len(ranks)} processes, this run has {self.world}; data order "
                       "and random streams continue per rank modulo the old count")
        mine = ranks[self.rank % len(ranks)]
        for name, obj in self.tracked.items():
            state = mine["objects"].get(name)
            if state is None:
                continue
            if hasattr(obj, "load_state_dict"):
                obj.load_state_dict(state["sampler"])
            else:
                set_rng_state(obj, state)
        # Last: building the model and data above drew random numbers the uninterrupted run did not.
        set_global_rng_state(mine["rng"], self.device)
        self.print(f"resumed from {path} (step {meta['step']})")
        self.resumed_step = int(meta["step"])
        return self.resumed_step


class ShardedBatches:
    """Endless batches of a map-style dataset, this rank's shard of each epoch (torch's DistributedSampler), resumable.

    Each epoch reshuffles with (seed, epoch) and tells the dataset (or a ConcatDataset's parts) the epoch, so random
    crops and captions change. `state_dict()` is the (epoch, batch position) to continue from.
    """

    def __init__(self, dataset, batch_size: int, collate_fn: Callable, run: Run, seed: int = 0,
                 drop_last: bool = True) -> None:
        from torch.utils.data import DistributedSampler

        self.dataset, self.batch_size, self.collate_fn, self.drop_last = dataset, int(batch_size), collate_fn, drop_last
        self.sampler = DistributedSampler(dataset, num_replicas=run.world, rank=run.rank, shuffle=True, seed=seed,
                                          drop_last=False)
        self.epoch = 0
        self.position = 0
        self._batches: list[list[int]] | None = None

    def _epoch_batches(self) -> list[list[int]]:
        self.sampler.set_epoch(self.epoch)
        for obj in (self.dataset, *getattr(self.dataset, "datasets", [])):
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(self.epoch)
        order = list(self.sampler)
        b = self.batch_size
        # A shard smaller than one batch still trains (one short batch per epoch) instead of yielding nothing.
        drop = self.drop_last and len(order) >= b
        return [order[i:i + b] for i in range(0, len(order), b) if not drop or i + b <= len(order)]

    def __iter__(self) -> ShardedBatches:
        return self

    def __next__(self):
        while True:
            if self._batches is None:
                self._batches = self._epoch_batches()
            if self.position < len(self._batches):
                idx = self._batches[self.position]
                self.position += 1
                return self.collate_fn([self.dataset[i] for i in idx])
            self.epoch += 1
            self.position = 0
            self._batches = None

    def state_dict(self) -> dict:
        """Where the stream is: epoch and batches taken in it."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a state_dict()."""
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._batches = None


class RandomBatches:
    """A checkpointable wrapper around a batch source with a numpy `rng` and a `sample(n)` method (TokenBatches)."""

    def __init__(self, source, batch_size: int) -> None:
        self.source, self.batch_size = source, batch_size

    def __next__(self):
        return self.source.sample(self.batch_size)

    def __iter__(self):
        return self

    def state_dict(self) -> dict:
        """The numpy generator's state."""
        return {"rng": self.source.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore the numpy generator's state."""
        self.source.rng.bit_generator.state = state["rng"]
