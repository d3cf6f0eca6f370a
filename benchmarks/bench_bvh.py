"""Speed of BVH import, rig mapping + retargeting, positions-to-rotations and BVH export.

Uses the Bandai-Namco set in ../shared when present (174 clips, 30 fps), else synthetic 22-joint BVH files written
from the HumanML3D fixture motion. Prints a results table. Run: `python benchmarks/bench_bvh.py [--synthetic]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kinmo_core.motion import ik  # noqa: E402
from kinmo_core.motion.bvh import read_bvh, write_bvh  # noqa: E402
from kinmo_core.motion.rigs import bvh_to_smpl22  # noqa: E402

BANDAI = ROOT.parent / "shared" / "data" / "bandai-namco-1" / "data"
FIXTURE = ROOT / "tests" / "fixtures" / "012314_new_joints.npy"


def synthetic_files(folder: Path, count: int) -> list[Path]:
    """Write `count` 22-joint BVH files (the fixture motion, 170 frames) and return their paths."""
    joints = np.load(FIXTURE).astype(np.float64)
    q = ik.positions_to_rotations(joints)
    own = ik.estimate_offsets(joints)
    return [write_bvh(folder / f"clip{i:03d}.bvh", q, joints[:, 0], offsets=own, scale=100.0) for i in range(count)]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", action="store_true", help="use synthetic files even if Bandai is present")
    parser.add_argument("--count", type=int, default=50, help="number of synthetic files")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if BANDAI.is_dir() and not args.synthetic:
            files, source = sorted(BANDAI.glob("*.bvh")), "Bandai-Namco-1"
        else:
            files, source = synthetic_files(Path(tmp), args.count), "synthetic 22-joint"
        start = time.perf_counter()
        clips = [read_bvh(f) for f in files]
        t_read = time.perf_counter() - start
        frames = sum(c.num_frames for c in clips)
        rows.append(("read_bvh", f"{len(files)} clips", len(files) / t_read, frames / t_read, t_read))

        start = time.perf_counter()
        out_frames = sum(len(bvh_to_smpl22(c)[0]) for c in clips)
        t_map = time.perf_counter() - start
        rows.append(("map + IK + resample + retarget", f"{len(files)} clips", len(files) / t_map, frames / t_map,
                     t_map))

        joints = np.load(FIXTURE).astype(np.float64)
        reps = 20
        start = time.perf_counter()
        for _ in range(reps):
            q = ik.positions_to_rotations(joints)
        t_ik = time.perf_counter() - start
        rows.append(("positions_to_rotations (numpy)", f"{reps} x 170 frames", reps / t_ik, reps * len(joints) / t_ik,
                     t_ik))
        batch = torch.from_numpy(np.stack([joints] * 32)).float()
        start = time.perf_counter()
        ik.positions_to_rotations(batch)
        t_b = time.perf_counter() - start
        rows.append(("positions_to_rotations (torch)", "batch 32 x 170", 32 / t_b, 32 * len(joints) / t_b, t_b))
        start = time.perf_counter()
        for _ in range(reps):
            ik.forward_kinematics(q, joints[:, 0])
        t_fk = time.perf_counter() - start
        rows.append(("forward_kinematics (numpy)", f"{reps} x 170 frames", reps / t_fk, reps * len(joints) / t_fk,
                     t_fk))
        start = time.perf_counter()
        for i in range(reps):
            write_bvh(Path(tmp) / f"w{i}.bvh", q, joints[:, 0])
        t_w = time.perf_counter() - start
        rows.append(("write_bvh", f"{reps} x 170 frames", reps / t_w, reps * len(joints) / t_w, t_w))

    print(f"BVH benchmark on {source} files ({frames} source frames -> {out_frames} output frames at 20 fps), "
          f"torch threads 1")
    print(f"{'step':<34} {'work':<18} {'clips/s':>9} {'frames/s':>10} {'seconds':>8}")
    for name, work, cps, fps, sec in rows:
        print(f"{name:<34} {work:<18} {cps:>9.1f} {fps:>10.0f} {sec:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
