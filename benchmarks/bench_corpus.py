"""Speed of `kinmo corpus synth`: motions per second for several worker counts, extrapolated to 20,000 motions.

Run: python benchmarks/bench_corpus.py [--n 500] [--workers 1 2] [--target 20000]
The target is 20,000 motions (plus mirrors) in under 10 minutes on a 2-core machine. Measured on a smaller N and
extrapolated linearly (each motion is independent, so time grows linearly with N); on a shared machine the figures
depend on what else runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kinmo_core.data.corpus import synth_corpus  # noqa: E402


def _stages(n: int) -> dict[str, float]:
    import torch

    from kinmo_core.data import layout
    from kinmo_core.data.synth import synthesize

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    motions = [synthesize(0, i) for i in range(n)]
    t1 = time.perf_counter()
    pairs = [layout.motion_pair(m.joints) for m in motions]
    t2 = time.perf_counter()
    del pairs
    return {"synthesis ms/motion": (t1 - t0) / n * 1000, "features (+mirror) ms/motion": (t2 - t1) / n * 1000}


def plausibility_table(n: int, seed: int = 0) -> None:
    """Print the plausibility figures of the synthesiser's own joints for motions 0..n-1 of a seed.

    Contacts are the HumanML3D labels stored in the features; the joints are the synthesised ones (the stored
    new_joints add HumanML3D's recovery glitch on turns past 180 degrees, see `kinmo corpus stats`).
    """
    import numpy as np
    import torch

    from kinmo_core.data.synth import synthesize
    from kinmo_core.motion.features import FEATURE_SLICES, joints_to_features
    from kinmo_core.motion.plausibility import JOINT_LIMITS, plausibility

    torch.set_num_threads(1)
    rows = []
    for i in range(n):
        j = synthesize(seed, i).joints.astype(np.float64)
        c = joints_to_features(j)[:, FEATURE_SLICES["contacts"]]
        rows.append(plausibility(j[:-1], c[:-1]))

    def col(k: str) -> np.ndarray:
        return np.array([r[k] for r in rows])

    print(f"plausibility of {n} synthesised motions (seed {seed}):")
    print(f"  contact phases {int(col('contact_phases').sum())}, over 2 cm {int(col('skate_phases_over_2cm').sum())}, "
          f"largest skate {col('skate_max').max() * 100:.2f} cm, mean skate {col('skate_mean').mean() * 100:.3f} cm")
    print(f"  lowest foot joint {col('min_foot_height').min() * 100:+.3f} cm, lowest joint "
          f"{col('min_joint_height').min() * 100:+.3f} cm; bone length drift {col('bone_length_drift').max():.1e} m")
    for k, (lo, hi) in JOINT_LIMITS.items():
        print(f"  {k:<14} max {col(k + '_max').max():6.1f} deg (limit {lo:.0f}-{hi:.0f}), "
              f"frames over: {int(col(k + '_violations').sum())}")
    print(f"  knee behind the hip-ankle line: max {col('knee_backward').max() * 100:+.2f} cm; "
          f"largest joint acceleration {col('max_accel').max():.3f} m/frame^2")


def main() -> None:
    """Print a results table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--target", type=int, default=20000)
    ap.add_argument("--plausibility", type=int, default=0, metavar="N",
                    help="also print plausibility figures of N synthesised motions")
    args = ap.parse_args()
    if args.plausibility:
        plausibility_table(args.plausibility)
    print(f"cpu count: {os.cpu_count()}; N = {args.n} motions (+ {args.n} mirrors) per run")
    for k, v in _stages(min(args.n, 200)).items():
        print(f"  {k:<32} {v:8.2f}")
    print(f"{'workers':>8} {'seconds':>9} {'motions/s':>10} {'ms/motion':>10} {f'extrapolated {args.target}':>22}")
    for w in args.workers:
        tmp = Path(tempfile.mkdtemp(prefix="kinmo_bench_"))
        try:
            t0 = time.perf_counter()
            synth_corpus(args.n, 0, tmp / "c", workers=w, progress=False)
            dt = time.perf_counter() - t0
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        est = dt / args.n * args.target
        verdict = "under 10 min" if est < 600 else "OVER 10 min"
        print(f"{w:>8} {dt:>9.1f} {args.n / dt:>10.1f} {dt / args.n * 1000:>10.1f} {est / 60:>13.1f} min ({verdict})")


if __name__ == "__main__":
    main()
