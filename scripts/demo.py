"""The README's main job: text to 3D motion with KinMo's default model (offline, on the CPU).

    python scripts/demo.py ["a person walks forward and waves with the left hand"] [--seconds 5] [--seed 0]

Writes into out/demo/ (the demo's own folder; re-running replaces its files): motion.npz (KinMo's motion file),
motion.bvh (for Blender, Maya, MotionBuilder), descriptions.json (what the Motion Reasoner wrote for each body part;
edit it and pass it back with `kinmo generate --descriptions`), preview.gif (stick figures, coloured by body part)
and summary.png (poses over time, joint heights, speed per body part).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = "a person walks forward and waves with the left hand"


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", default=PROMPT, help=f"the prompt (default: {PROMPT!r})")
    parser.add_argument("--seconds", type=float, default=5.0, help="length in seconds, 1 to 10 (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "demo", help="output folder (default out/demo)")
    args = parser.parse_args(argv)
    from kinmo_core.cli.main import main as kinmo
    from kinmo_core.errors import KinmoInputError, KinmoModelError
    from kinmo_core.motion.file import load_motion
    from kinmo_core.render import plot_motion_summary

    start = time.perf_counter()
    rc = kinmo(["generate", args.text, "--seconds", str(args.seconds), "--seed", str(args.seed), "--preview",
                "--overwrite", "-o", str(args.out)])
    if rc != 0:
        return rc
    try:
        motion = load_motion(args.out / "motion.npz")
        sheet = plot_motion_summary(motion.joints, args.out / "summary.png", title=args.text, overwrite=True)
    except (KinmoInputError, KinmoModelError, OSError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print(f"summary sheet: {sheet}")
    print(f"done in {time.perf_counter() - start:.1f} s; look at {args.out / 'preview.gif'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
