"""Make the README's spatial-control example: a 3 m circle walked in 8 s, its motion, GIF and top view.

    python scripts/control_circle.py --out docs/control [--method ik] [--overwrite]

Writes OUT/circle.json (the control file), OUT/circle.npz, OUT/circle.gif (every 4th frame) and OUT/circle_top.png
(the pelvis and feet seen from above against the asked-for circle), and prints the path error and foot slides.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def circle_points(diameter: float = 3.0, n: int = 65) -> list[list[float]]:
    """Return a closed circle of ground points starting at the origin heading +Z (centre at x = diameter / 2)."""
    th = np.linspace(0.0, 2 * np.pi, n)
    r = diameter / 2
    return np.round(np.stack([r - r * np.cos(th), r * np.sin(th)], -1), 4).tolist()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("docs/control"))
    ap.add_argument("--method", default=None)
    ap.add_argument("--text", default="a person walks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from kinmo_core.control import load_control
    from kinmo_core.control.generate import generate_controlled
    from kinmo_core.fileio import write_atomic
    from kinmo_core.motion.contacts import skate_per_phase
    from kinmo_core.motion.skeleton import JOINT_INDEX
    from kinmo_core.pipeline import KinMoPipeline
    from kinmo_core.render import render_motion

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    control = {"constraints": [{"kind": "path", "joint": "pelvis", "points": circle_points(), "seconds": 8}]}
    cfile = args.out / "circle.json"
    write_atomic(cfile, lambda f: f.write((json.dumps(control) + "\n").encode()), overwrite=args.overwrite)
    pipe = KinMoPipeline.from_pretrained()
    (m,), (report,) = generate_controlled(pipe, [args.text], load_control(cfile), seed=args.seed,
                                          method=args.method)
    m.save(args.out / "circle.npz", overwrite=args.overwrite)
    j = m.joints.astype(np.float64)
    # The path was placed to start at the origin along +Z (its first segment): put its centre where it went.
    yaw, off = np.radians(report["placement"]["yaw_degrees"]), np.array(report["placement"]["offset"])
    rot = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])
    centre = rot @ (np.array([1.5, 0.0]) - off)
    ring = np.abs(np.linalg.norm(j[:, 0, [0, 2]] - centre, axis=-1) - 1.5)
    slides = skate_per_phase(j)
    print(f"{report['method']}: {m.num_frames} frames; pelvis off the circle {100 * ring.mean():.2f} cm on average "
          f"({100 * ring.max():.2f} cm at most); largest foot slide per contact phase {100 * slides.max():.2f} cm")
    render_motion(j, args.out / "circle.gif", title=f'"{args.text}" along a 3 m circle in 8 s', step=4,
                  overwrite=args.overwrite, progress=False)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=90)
    th = np.linspace(0, 2 * np.pi, 200)
    ax.plot(centre[0] + 1.5 * np.cos(th), centre[1] + 1.5 * np.sin(th), color="0.7", lw=6, label="path asked for")
    ax.plot(j[:, 0, 0], j[:, 0, 2], color="k", lw=1.5, label="pelvis")
    for name, color in (("left_foot", "tab:cyan"), ("right_foot", "tab:orange")):
        p = j[:, JOINT_INDEX[name]]
        ax.plot(p[:, 0], p[:, 2], ".", ms=2, color=color, label=name.replace("_", " "))
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("z (m)")
    ax.legend(loc="center", fontsize=7, frameon=False)
    ax.set_title("seen from above", fontsize=9)
    fig.tight_layout()
    top = args.out / "circle_top.png"
    if top.exists() and not args.overwrite:
        raise SystemExit(f"error: {top}: already exists; pass --overwrite")
    fig.savefig(top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
