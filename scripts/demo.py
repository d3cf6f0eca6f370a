"""The README's main job: turn a real motion into KinMo's motion file, a BVH, a GIF preview and a summary sheet.

Uses a Bandai-Namco mocap clip from ../shared when it is there (set KINMO_SHARED to point elsewhere), else the
HumanML3D reference motion in tests/fixtures. Writes into out/demo/ (the demo's own folder; re-running replaces it)
and prints the paths. Text-to-motion generation will replace the input once the models are trained.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kinmo_core.errors import KinmoInputError, KinmoModelError  # noqa: E402

# A clip with every body part moving, then fallbacks; any Bandai clip works.
PREFERRED_CLIPS = ("dataset-1_walk_happy_001.bvh", "dataset-1_byebye_normal_001.bvh")


def find_input() -> tuple[Path, str]:
    """Return the motion to convert and a one-line credit for it."""
    shared = Path(os.environ.get("KINMO_SHARED", ROOT.parent / "shared"))
    bandai = shared / "data" / "bandai-namco-1" / "data"
    if bandai.is_dir():
        clips = [bandai / n for n in PREFERRED_CLIPS if (bandai / n).is_file()] or sorted(bandai.glob("*.bvh"))
        if clips:
            return clips[
                0
            ], "motion capture: Bandai-Namco-Research-Motiondataset-1, Bandai Namco Research Inc. (CC BY-NC 4.0)"
    fixture = ROOT / "tests" / "fixtures" / "012314_new_joint_vecs.npy"
    return fixture, "motion: HumanML3D reference features (research use; see tests/fixtures/README.md)"


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=None, help="a .bvh, .npz or .npy motion instead of the default")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "demo", help="output folder (default out/demo)")
    parser.add_argument("--view", choices=("three", "orbit"), default="three")
    args = parser.parse_args(argv)
    from kinmo_core.motion import load_motion, motion_stats, save_motion
    from kinmo_core.render import plot_motion_summary, render_motion

    src, credit = (args.input, "your motion") if args.input else find_input()
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        motion = load_motion(src)
        if not motion.text:
            motion.text = src.stem
        name = src.stem
        paths = {
            "motion file": save_motion(motion, out / f"{name}.npz", overwrite=True),
            "BVH": save_motion(motion, out / f"{name}.bvh", overwrite=True),
            "GIF preview": render_motion(
                motion.joints, out / f"{name}.gif", views=args.view, title=name, overwrite=True
            ),
            "summary sheet": plot_motion_summary(
                motion.joints, out / f"{name}_summary.png", title=name, overwrite=True
            ),
        }
    except (KinmoInputError, KinmoModelError, OSError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    stats = motion_stats(motion)
    print(f"input:  {src}")
    print(f"        {credit}")
    print(
        f"        {stats['frames']} frames, {stats['seconds']:.2f} s at {stats['fps']} fps, "
        f"root travel {stats['root_distance_m']:.2f} m"
    )
    for label, path in paths.items():
        print(f"{label + ':':<15}{path}")
    print(f"done in {time.perf_counter() - start:.1f} s; inspect with: kinmo info {paths['motion file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
