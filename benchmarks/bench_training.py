"""Training speed: steps per second of each trainer at its default and full sizes, and DDP scaling 1 -> 2 processes.

Every measurement is the real trainer (`python -m training.train_X`, or `torch.distributed.run` for DDP) on a
random HumanML3D-layout folder (motions of 64-196 frames, captions, annotations); the step rate is read from the
training log (`--log-every 1`), leaving out the first step (warm-up). Run:

    python benchmarks/bench_training.py [--threads 1] [--steps 5] [--only rvq,mask] [--no-ddp]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ACTIONS = ["walks forward", "waves the left hand", "jumps in place", "kicks with the right leg", "sits down"]


def make_data(root: Path, n: int = 48, seed: int = 0) -> Path:
    """A random HumanML3D-layout folder with annotations (only the speed of training is measured on it)."""
    from kinmo_core.motion.kinematic import GROUPS, PAIRS

    rng = np.random.default_rng(seed)
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    ids = [f"{i:06d}" for i in range(n)]
    motions = {}
    for i, mid in enumerate(ids):
        np.save(root / "new_joint_vecs" / f"{mid}.npy",
                rng.standard_normal((int(rng.integers(64, 197)), 263)).astype(np.float32))
        action = ACTIONS[i % len(ACTIONS)]
        caps = [f"a person {action} {i}", f"someone {action} number {i}"]
        (root / "texts" / f"{mid}.txt").write_text("".join(f"{c}#a/DET#0.0#0.0\n" for c in caps))
        motions[mid] = {"captions": caps,
                        "groups": {g: f"the {g.replace('_', ' ')} moves as the person {action}" for g in GROUPS},
                        "interactions": {p: f"{p.replace('|', ' and ')} stay apart as the person {action}"
                                         for p in PAIRS}}
    for split, part in (("train", ids[: n * 3 // 4]), ("val", ids[n * 3 // 4:]), ("test", ids[n * 3 // 4:])):
        (root / f"{split}.txt").write_text("\n".join(part) + "\n")
    np.save(root / "Mean.npy", np.zeros(263, np.float32))
    np.save(root / "Std.npy", np.ones(263, np.float32))
    (root / "annotations.json").write_text(json.dumps(
        {"format_version": 1, "kind": "kinmo-annotations", "dataset": str(root), "complete": True,
         "annotator": {"name": "bench", "version": "0"}, "motions": motions, "failures": {}}))
    return root


def make_rvq(folder: Path, full: bool) -> Path:
    """A random tokenizer of the default or full size (the generators' caches need one)."""
    import torch

    from kinmo_core.models.io import save_pretrained
    from kinmo_core.models.rvq import RVQVAE, RVQConfig

    torch.manual_seed(0)
    cfg = RVQConfig.full() if full else RVQConfig()
    model = RVQVAE(cfg)
    for layer in model.quantizer.layers:
        layer.codebook.normal_(std=0.1)
    save_pretrained(model, cfg, folder)
    np.save(folder / "Mean.npy", np.zeros(263, np.float32))
    np.save(folder / "Std.npy", np.ones(263, np.float32))
    return folder


def steps_per_second(log: Path) -> tuple[float, int]:
    """(steps per second after the first step, steps timed) from a training log with a row per step."""
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    rows = [r for r in rows if "secs" in r and "step" in r]
    t = [r["secs"] for r in rows]
    return (len(t) - 1) / max(t[-1] - t[0], 1e-9), len(t) - 1


def run(cmd: list[str], env: dict) -> None:
    """Run a trainer; raise with its output tail when it fails."""
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(" ".join(cmd) + "\n" + res.stdout[-2000:] + res.stderr[-2000:])


def main() -> int:
    """Print a Markdown table of training speeds."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5, help="steps per measurement (the first is not timed)")
    ap.add_argument("--only", default="rvq,mask,residual,htma,evaluator,length,reasoner")
    ap.add_argument("--no-ddp", action="store_true")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    only = set(args.only.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="kinmo-bench-train-"))
    env["KINMO_CACHE"] = str(tmp / "kcache")
    data = make_data(tmp / "data")
    rvq = {"default": make_rvq(tmp / "rvq-default", False), "full": make_rvq(tmp / "rvq-full", True)}
    py = sys.executable
    common = ["--data", str(data), "--threads", str(args.threads), "--log-every", "1", "--steps", str(args.steps)]
    jobs: list[tuple[str, str, int, list[str]]] = []
    for size in ("default", "full"):
        if "rvq" in only:
            jobs.append(("rvq", size, 64, ["training.train_rvq", "--size", size, "--batch", "64", "--eval-every",
                                           "0"]))
        for kind, module in (("mask", "training.train_generator"), ("residual", "training.train_residual")):
            if kind in only:
                jobs.append((kind, size, 64, [module, "--size", size, "--batch", "64", "--rvq", str(rvq[size]),
                                              "--cond", "sentence", "--eval-every", "0",
                                              "--cache", str(tmp / "cache")]))
        if "htma" in only:
            jobs.append(("htma", size, 32, ["training.train_htma", "--size", size, "--batch", "32", "--eval-every",
                                            "0"]))
    if "evaluator" in only:
        jobs.append(("evaluator", "default (Guo)", 32, ["training.train_evaluator", "--batch", "32", "--eval-every",
                                                        "0", "--cache", str(tmp / "cache")]))
    if "length" in only:
        jobs.append(("length", "default", 128, ["training.train_length", "--batch", "128", "--cache",
                                                str(tmp / "cache")]))
    if "reasoner" in only:
        jobs.append(("reasoner", "default", 192, ["training.train_reasoner", "--batch", "192", "--cache-dir",
                                                  str(tmp / "rcache")]))
    rows = []
    for name, size, batch, cmd in jobs:
        out = tmp / "runs" / f"{name}-{size.split()[0]}"
        t0 = time.time()
        run([py, "-m", *cmd, "--out", str(out), *common], env)
        sps, n = steps_per_second(out / "train_log.jsonl")
        rows.append(f"| {name} | {size} | {batch} | {sps:.3f} | {1 / sps:.2f} | {n} | {time.time() - t0:.0f} |")
        print(rows[-1], flush=True)
    print("\n| trainer | size | batch | steps/s | s/step | steps timed | wall s (incl. start-up) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if not args.no_ddp:
        print("\nDDP (gloo, CPU), RVQ default size, batch 32 per process:\n")
        print("| processes | steps/s | samples/s |")
        print("|---|---|---|")
        for nproc in (1, 2):
            out = tmp / "runs" / f"ddp-{nproc}"
            run([py, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m",
                 "training.train_rvq", "--size", "default", "--batch", "32", "--eval-every", "0", "--out", str(out),
                 *common], env)
            sps, _ = steps_per_second(out / "train_log.jsonl")
            print(f"| {nproc} | {sps:.3f} | {sps * 32 * nproc:.1f} |", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
