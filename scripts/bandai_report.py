"""Convert every Bandai-Namco-Research-Motiondataset-1 BVH clip to KinMo's 22 joints and report how well it went.

For each clip: frames and frame rate in/out, bone-length error of the mapped source (vs its own mean lengths) and
of the output (vs the target skeleton), pose error of the retarget (vs the source scaled to the target's leg length,
root-aligned), IK error (forward kinematics of the recovered rotations with the clip's own offsets vs the mapped
source) and the largest frame-to-frame change of a joint rotation. Prints the table and a summary; `--out` also
writes the table as CSV (never over an existing file unless --overwrite). Exit code 1 if any clip fails.

The data are CC BY-NC 4.0, (c) Bandai Namco Research Inc.; nothing from them is copied into the repository.
Run: `python scripts/bandai_report.py [--data DIR] [--out report.csv]`.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kinmo_core.errors import KinmoInputError  # noqa: E402
from kinmo_core.fileio import atomic_output  # noqa: E402
from kinmo_core.motion.bvh import read_bvh  # noqa: E402
from kinmo_core.motion.rigs import bvh_to_smpl22  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bandai-namco-1" / "data"
COLUMNS = ("clip", "frames_in", "fps_in", "frames_out", "fps_out", "bone_err_src_mm", "bone_err_out_mm",
           "pose_err_cm", "ik_mpjpe_mm", "max_step_deg", "seconds", "error")


def convert_all(files: list[Path]) -> list[dict]:
    """Convert each clip; return one row per clip (with 'error' set where it failed)."""
    rows = []
    for path in tqdm(files, desc="bandai clips", unit="clip"):
        start = time.perf_counter()
        row = {"clip": path.stem, "error": ""}
        try:
            _, rep = bvh_to_smpl22(read_bvh(path))
            row.update(
                frames_in=rep.frames_in, fps_in=rep.fps_in, frames_out=rep.frames_out, fps_out=rep.fps_out,
                bone_err_src_mm=rep.bone_error_source * 1e3, bone_err_out_mm=rep.bone_error_output * 1e3,
                pose_err_cm=rep.pose_error * 1e2, ik_mpjpe_mm=rep.ik_error * 1e3, max_step_deg=rep.max_rotation_step,
            )
        except KinmoInputError as exc:
            row["error"] = str(exc)
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Return the per-clip table as aligned text."""
    head = ("clip", "in", "fps", "out", "fps", "bone src mm", "bone out mm", "pose cm", "IK mm", "step deg", "s")
    lines = [f"{head[0]:<44} {head[1]:>5} {head[2]:>4} {head[3]:>5} {head[4]:>4} {head[5]:>11} {head[6]:>11} "
             f"{head[7]:>7} {head[8]:>9} {head[9]:>8} {head[10]:>5}"]
    for r in rows:
        if r["error"]:
            lines.append(f"{r['clip']:<44} FAILED: {r['error']}")
            continue
        lines.append(
            f"{r['clip']:<44} {r['frames_in']:>5} {r['fps_in']:>4.0f} {r['frames_out']:>5} {r['fps_out']:>4.0f} "
            f"{r['bone_err_src_mm']:>11.2e} {r['bone_err_out_mm']:>11.2e} {r['pose_err_cm']:>7.2f} "
            f"{r['ik_mpjpe_mm']:>9.2e} {r['max_step_deg']:>8.1f} {r['seconds']:>5.2f}"
        )
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """Return a few lines summarising the conversion."""
    ok = [r for r in rows if not r["error"]]
    lines = [f"clips: {len(rows)}, converted: {len(ok)}, failed: {len(rows) - len(ok)}"]
    if ok:
        def stat(key: str) -> str:
            v = np.array([r[key] for r in ok], dtype=np.float64)
            return f"mean {v.mean():.3g}, max {v.max():.3g}"

        lines += [
            f"frames in: {sum(r['frames_in'] for r in ok)} at {sorted({r['fps_in'] for r in ok})} fps; "
            f"frames out: {sum(r['frames_out'] for r in ok)} at {sorted({r['fps_out'] for r in ok})} fps",
            f"bone-length error of the mapped source (mm): {stat('bone_err_src_mm')}",
            f"bone-length error of the output vs target (mm): {stat('bone_err_out_mm')}",
            f"pose error of the retarget vs scaled source (cm): {stat('pose_err_cm')}",
            f"IK MPJPE, FK(rotations, own offsets) vs source (mm): {stat('ik_mpjpe_mm')}",
            f"largest frame-to-frame joint rotation change (deg): {stat('max_step_deg')}",
            f"conversion time (s): total {sum(r['seconds'] for r in rows):.1f}, per clip {stat('seconds')}",
        ]
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict], overwrite: bool) -> None:
    """Write the rows as CSV atomically; refuse to replace an existing file unless overwrite."""
    if path.exists() and not overwrite:
        raise KinmoInputError(f"{path} already exists (pass --overwrite to replace it)")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k, "") for k in COLUMNS})
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(buf.getvalue().encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    """Convert all clips, print the table and summary; return 0 when every clip converted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the Bandai BVH files")
    parser.add_argument("--out", type=Path, help="also write the per-clip table as CSV here")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--limit", type=int, default=0, help="convert only the first N clips (0: all)")
    args = parser.parse_args(argv)
    try:
        files = sorted(args.data.glob("*.bvh")) if args.data.is_dir() else []
        if not files:
            raise KinmoInputError(f"no .bvh files in {args.data}")
        if args.out is not None and not args.out.parent.is_dir():
            raise KinmoInputError(f"folder does not exist: {args.out.parent}")
        if args.out is not None and args.out.exists() and not args.overwrite:
            raise KinmoInputError(f"{args.out} already exists (pass --overwrite to replace it)")
        if args.limit > 0:
            files = files[: args.limit]
        rows = convert_all(files)
        print(format_table(rows))
        print()
        print(summary(rows))
        if args.out is not None:
            write_csv(args.out, rows, args.overwrite)
            print(f"table written to {args.out}")
    except KinmoInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if all(not r["error"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
