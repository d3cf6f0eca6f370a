"""Throughput of the `rules` annotator (target: at least 50 motions per second on a 2-core machine).

Usage: python benchmarks/bench_annotate.py [--n 500] [--seed 7] [--dataset DIR] [--workers 1 2]

Without --dataset it synthesises N motions with the corpus synthesiser into a temporary
HumanML3D-layout folder first (not timed). It reports, per worker count, the motions per
second of the whole `annotate_dataset` run (loading .npy files, posecodes, keyframes with the
MiniLM encoder, temporal analysis, descriptions, checkpointing the JSON) with the encoder
already loaded but its string cache empty ("cold") and with a warm cache (a second run),
plus the one-off encoder load time and the mean keyframes per second.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _make_dataset(root: Path, n: int, seed: int) -> Path:
    from kinmo_core.data.synth import synthesize

    (root / "new_joints").mkdir(parents=True)
    for i in range(n):
        np.save(root / "new_joints" / f"{i:06d}.npy", synthesize(seed, i).joints)
    return root


def main() -> int:
    """Run the benchmark and print a results table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dataset", type=Path, default=None)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()

    from kinmo_core.annotate.annotations import RulesAnnotator, annotate_dataset, dataset_ids
    from kinmo_core.text import SentenceEncoder

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        ds = args.dataset or _make_dataset(tmp_path / "ds", args.n, args.seed)
        n = min(len(dataset_ids(ds)), args.n)
        rows = []
        t0 = time.perf_counter()
        probe = SentenceEncoder()
        probe.encode(["load the model"])
        load_s = time.perf_counter() - t0
        for workers in args.workers:
            enc = SentenceEncoder()
            enc._model = probe._model  # same loaded model, empty string cache
            for phase in ("cold", "warm"):
                out = tmp_path / f"ann_{workers}_{phase}.json"
                t = time.perf_counter()
                summary = annotate_dataset(
                    ds, out, RulesAnnotator(), workers=workers, limit=n, progress=False, encoder=enc
                )
                dt = time.perf_counter() - t
                rows.append(
                    (
                        workers,
                        phase,
                        summary.done,
                        dt,
                        summary.done / dt,
                        summary.keyframes_per_second,
                        enc.cache_size(),
                    )
                )
                os.unlink(out)
    print(
        f"rules annotator, {n} motions, {os.cpu_count()} CPUs, torch threads {_threads()}; "
        f"encoder load (once per process): {load_s:.1f} s"
    )
    print(
        f"{'workers':>7} {'cache':>5} {'motions':>7} {'seconds':>8} {'motions/s':>10} {'keyframes/s':>11} "
        f"{'cached strings':>14}"
    )
    for w, phase, done, dt, rate, kps, cached in rows:
        print(f"{w:>7} {phase:>5} {done:>7} {dt:>8.2f} {rate:>10.1f} {kps:>11.2f} {cached:>14}")
    return 0


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
