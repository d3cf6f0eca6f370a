"""Throughput of HumanML3D feature extraction and recovery, per clip and batched.

Clips are cut from the reference fixtures (random start, random yaw, translation and actor size), so the
extraction also exercises retargeting. Run: `python benchmarks/bench_features.py [--clips 1000]`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from kinmo_core.motion import rotations as R
from kinmo_core.motion.features import features_to_joints, joints_to_features

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def make_clips(n: int, frames: int, seed: int) -> np.ndarray:
    """Return n clips (n, frames, 22, 3) cut from the fixtures and moved, turned and scaled at random."""
    rng = np.random.default_rng(seed)
    sources = [np.load(FIXTURES / "012314_new_joints.npy").astype(np.float64)]
    sources.append(features_to_joints(np.load(FIXTURES / "000612_new_joint_vecs.npy").astype(np.float64)))
    sources = [s for s in sources if len(s) >= frames]
    if not sources:
        raise SystemExit(f"--frames must be at most {max(170, 199)}")
    out = np.empty((n, frames, 22, 3))
    for i in range(n):
        src = sources[rng.integers(len(sources))]
        start = rng.integers(0, len(src) - frames + 1)
        q = R.y_rotation(np.array(rng.uniform(-np.pi, np.pi)))
        out[i] = R.qrot(q, src[start:start + frames]) * rng.uniform(0.8, 1.2) + rng.normal(0, 2, 3) * [1, 0, 1]
    return out


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    """Run the benchmark and print a results table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    clips = make_clips(args.clips, args.frames, args.seed)
    feats = joints_to_features(clips[:1])  # warm-up
    rows = []

    def per_clip_extract():
        for c in tqdm(clips, desc="extract per clip", leave=False):
            joints_to_features(c)

    def batched_extract(kind):
        out = []
        for s in range(0, len(clips), args.batch):
            x = clips[s:s + args.batch]
            if kind != "numpy":
                x = torch.from_numpy(x).to(kind)
            out.append(joints_to_features(x))
        return out

    feats = np.concatenate(batched_extract("numpy"))
    n_in = args.clips * args.frames
    n_out = args.clips * (args.frames - 1)

    rows.append(("extract", "per clip", "numpy f64", n_in, timed(per_clip_extract)))
    rows.append(("extract", f"batch {args.batch}", "numpy f64", n_in, timed(lambda: batched_extract("numpy"))))
    rows.append(("extract", f"batch {args.batch}", "torch f32", n_in, timed(lambda: batched_extract(torch.float32))))

    def per_clip_recover():
        for f in tqdm(feats, desc="recover per clip", leave=False):
            features_to_joints(f)

    def batched_recover(kind):
        for s in range(0, len(feats), args.batch):
            x = feats[s:s + args.batch]
            if kind != "numpy":
                x = torch.from_numpy(x).to(kind)
            features_to_joints(x)

    rows.append(("recover", "per clip", "numpy f64", n_out, timed(per_clip_recover)))
    rows.append(("recover", f"batch {args.batch}", "numpy f64", n_out, timed(lambda: batched_recover("numpy"))))
    rows.append(("recover", f"batch {args.batch}", "torch f32", n_out, timed(lambda: batched_recover(torch.float32))))

    print(f"{args.clips} clips x {args.frames} frames, torch threads {torch.get_num_threads()}")
    print(f"{'op':8s} {'mode':10s} {'dtype':10s} {'frames':>8s} {'seconds':>8s} {'frames/s':>10s} {'clips/s':>8s}")
    for op, mode, kind, frames, sec in rows:
        print(f"{op:8s} {mode:10s} {kind:10s} {frames:8d} {sec:8.2f} {frames / sec:10.0f} {args.clips / sec:8.0f}")


if __name__ == "__main__":
    main()
