"""`kinmo render IN -o OUT`: an animated stick-figure preview (.gif/.mp4) or a summary sheet (.png) of a motion."""

from __future__ import annotations

import argparse
from pathlib import Path

VIEWS = ("three", "orbit")


def register(subparsers) -> None:
    """Add the `render` subcommand."""
    p = subparsers.add_parser(
        "render",
        help="render a stick-figure preview (.gif, .mp4) or summary sheet (.png)",
        description="Render a motion as a stick figure coloured by body part: .gif or .mp4 animations, "
        "or a .png sheet of poses and joint curves.",
    )
    p.add_argument("input", type=Path, help="motion file (.npz, .bvh or .npy)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .gif, .mp4 or .png")
    p.add_argument("--view", choices=VIEWS, default="three", help="three orthographic views or an orbiting camera")
    p.add_argument("--step", type=int, default=1, help="render every STEP-th frame (faster, smaller files)")
    p.add_argument("--title", default=None, help="title shown above the figure (default: the motion's text)")
    p.add_argument("--rig", default=None, help="rig preset for a .bvh input (default: detect from joint names)")
    p.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render args.input to args.output."""
    from kinmo_core.errors import KinmoInputError
    from kinmo_core.fileio import check_output_file
    from kinmo_core.motion.file import load_motion
    from kinmo_core.render import VIDEO_EXTENSIONS, plot_motion_summary, render_motion

    out: Path = args.output
    ext = out.suffix.lower()
    if ext not in (*VIDEO_EXTENSIONS, ".png"):
        raise KinmoInputError(f"{out}: unknown extension {out.suffix or '(none)'!r}; use .gif, .mp4 or .png")
    check_output_file(out, args.overwrite)  # the same check the atomic write makes, before any work
    motion = load_motion(args.input, rig=args.rig)
    title = args.title if args.title is not None else motion.text
    if ext == ".png":
        plot_motion_summary(motion.joints, out, title=title or None, overwrite=args.overwrite)
    else:
        render_motion(
            motion.joints,
            out,
            views=args.view,
            title=title,
            step=args.step,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    print(f"{out}: {motion.num_frames} frames ({motion.seconds:.2f} s)")
    return 0
