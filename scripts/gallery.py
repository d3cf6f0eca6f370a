"""Make the README's gallery: a contact sheet of what the default model generates, and a small GIF per prompt.

    python scripts/gallery.py --out docs/gallery [--model DIR] [--no-gif] [--overwrite]

For each prompt of `PROMPTS` (part control: a named hand, a named leg with both arms, locomotion), generates one motion
with the default pipeline (seed fixed per prompt, so the gallery is the same on every run with the same model) and
writes OUT/contact_sheet.png (one row per prompt: poses over time, front and side view, coloured by body part as
every KinMo preview) and OUT/<name>.gif (three views, every second frame). Prints the files and their total size,
which must stay under 2 MB (exit code 1 otherwise).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPTS: tuple[tuple[str, str, float, int], ...] = (
    ("wave_left", "a person waves the left hand", 4.0, 0),
    ("kick_right", "a person kicks with the right leg while raising both arms", 4.0, 0),
    ("walk", "a person walks forward", 5.0, 0),
    ("run", "a person runs", 4.0, 0),
    ("look_right", "a person looks to the right", 3.0, 0),
)
"""(file name, prompt, seconds, seed) of each gallery motion."""

MAX_BYTES: int = 2 * 1024 * 1024
POSES: int = 7


def _draw_pose(ax, pose: np.ndarray, horizontal: int, colors: list[str]) -> None:
    from kinmo_core.motion.skeleton import PARENTS

    for j in range(1, len(pose)):
        p = PARENTS[j]
        ax.plot([pose[p, horizontal], pose[j, horizontal]], [pose[p, 1], pose[j, 1]], color=colors[j], lw=2.2,
                solid_capstyle="round")


def contact_sheet(motions: list[tuple[str, np.ndarray]], out: Path, overwrite: bool) -> Path:
    """Write a PNG with one row per (title, joints): front and side views of POSES frames spread over the motion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kinmo_core.fileio import atomic_output
    from kinmo_core.motion.kinematic import JOINT_GROUP
    from kinmo_core.render import GROUP_COLORS

    colors = [GROUP_COLORS[JOINT_GROUP[j]] for j in range(22)]
    fig, axes = plt.subplots(len(motions), 2, figsize=(12, 2.3 * len(motions)), dpi=72, squeeze=False)
    for row, (title, joints) in enumerate(motions):
        frames = np.linspace(0, len(joints) - 1, POSES).round().astype(int)
        for col, (horizontal, view) in enumerate(((0, "front"), (2, "side"))):
            ax = axes[row, col]
            root = joints[:, 0, horizontal]
            # Poses side by side in time order, each centred on its own pelvis (the GIFs show the travel).
            for k, t in enumerate(frames):
                pose = joints[t].copy()
                pose[:, horizontal] += k * 0.8 - root[t]
                _draw_pose(ax, pose, horizontal, colors)
            ax.axhline(0.0, color="#999999", lw=0.8)
            ax.set_aspect("equal")
            ax.axis("off")
            ax.set_title(f"{title!r} ({view}, {len(joints) / 20:.1f} s)", fontsize=9)
    fig.tight_layout()
    with atomic_output(out, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    """Generate the gallery motions and write the sheet and the GIFs."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("docs/gallery"))
    ap.add_argument("--model", default=None, help="pipeline folder (default: the model shipped in the package)")
    ap.add_argument("--no-gif", action="store_true", help="only the contact sheet")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    import torch

    from kinmo_core.pipeline import KinMoPipeline
    from kinmo_core.render import render_motion

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    pipe = KinMoPipeline.from_pretrained(args.model)
    motions, written = [], []
    for name, text, seconds, seed in PROMPTS:
        m = pipe(text, seconds=seconds, seed=seed)
        joints = m.joints.astype(np.float64)
        motions.append((text, joints))
        if not args.no_gif:
            written.append(render_motion(joints, args.out / f"{name}.gif", title=text, step=2,
                                         overwrite=args.overwrite, progress=False))
    written.insert(0, contact_sheet(motions, args.out / "contact_sheet.png", args.overwrite))
    total = sum(p.stat().st_size for p in written)
    for p in written:
        print(f"{p}: {p.stat().st_size / 1024:.0f} KiB")
    print(f"total {total / 1024:.0f} KiB (limit {MAX_BYTES // 1024} KiB)")
    return 0 if total <= MAX_BYTES else 1


if __name__ == "__main__":
    raise SystemExit(main())
