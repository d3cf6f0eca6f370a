"""`kinmo info FILE`: length, source, text, skeleton check, foot contacts, bounding box and per-group motion energy."""

from __future__ import annotations

import argparse
from pathlib import Path

from kinmo_core.cli.printable import printable, printable_json


def register(subparsers) -> None:
    """Add the `info` subcommand."""
    p = subparsers.add_parser(
        "info",
        help="describe a motion file",
        description="Print a summary of a motion (.npz, .bvh or .npy) after conversion to KinMo's skeleton.",
    )
    p.add_argument("input", type=Path, help="motion file (.npz, .bvh or .npy)")
    p.add_argument("--rig", default=None, help="rig preset for a .bvh input (default: detect from joint names)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the summary of args.input."""
    from kinmo_core.motion.file import load_motion, motion_stats
    from kinmo_core.motion.kinematic import GROUP_TITLES, GROUPS

    motion = load_motion(args.input, rig=args.rig)
    stats = motion_stats(motion)
    if args.json:
        print(printable_json({"file": str(args.input), **stats}, indent=2, ensure_ascii=True))
        return 0
    feet = stats["foot_contact_share"]
    box = stats["bounding_box_m"]
    lines = [
        f"file:          {printable(args.input)}",
        f"source:        {printable(stats['source'])}",
        f"frames:        {stats['frames']} ({stats['seconds']:.2f} s at {stats['fps']} fps)",
        f"text:          {printable(stats['text']) or '(none)'}",
        f"descriptions:  {'yes' if stats['has_descriptions'] else 'no'}",
        f"bone lengths:  max deviation {stats['max_bone_length_error_m'] * 1000:.2f} mm from the target skeleton",
        f"foot contact:  left {feet['left']:.0%}, right {feet['right']:.0%}, both {feet['both']:.0%}, "
        f"none {feet['none']:.0%} of frames",
        "bounding box:  min "
        + ", ".join(f"{v:+.2f}" for v in box["min"])
        + "  max "
        + ", ".join(f"{v:+.2f}" for v in box["max"])
        + " (x, y, z metres)",
        f"root travel:   {stats['root_distance_m']:.2f} m on the ground",
        "group energy (mean squared joint speed, m^2/s^2):",
    ]
    total = sum(stats["group_energy"].values()) or 1.0
    for g in GROUPS:
        e = stats["group_energy"][g]
        lines.append(f"  {GROUP_TITLES[g]:<10} {e:8.3f}  {'#' * round(30 * e / total):<30} {e / total:5.1%}")
    # The file's text and name are user data: no escape sequence may reach the terminal.
    print(printable("\n".join(lines), keep_newlines=True))
    return 0
