"""`kinmo edit IN -o DIR --text TEXT [--frames A:B] [--parts ...]`: re-prompt a frame range or body parts of a motion.

Writes DIR/motion.npz, DIR/motion.bvh, DIR/descriptions.json (the descriptions used for the edited range) and,
with --preview, DIR/preview.gif with the edited frames highlighted; with --num K, the same in DIR/000/, DIR/001/, ...
Everything is checked before anything is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MAX_EDIT_VARIANTS: int = 64
"""Most variants one `kinmo edit` makes (they are generated in one batch)."""


def register(subparsers) -> None:
    """Add the `edit` subcommand."""
    p = subparsers.add_parser(
        "edit",
        help="re-prompt a frame range or body parts of a motion (.npz, .bvh, HumanML3D .npy)",
        description="Regenerate frames START:STOP of a motion under a new text, for the whole body or only some "
        "body parts; everything outside the range and the untouched parts stay as they were. Frames are 20 fps "
        "frame indices of the input motion, half-open: 20:60 edits frames 20 to 59 (1 s to 3 s).",
    )
    p.add_argument("input", type=Path, help="motion to edit: .npz (KinMo), .bvh (a known rig) or HumanML3D .npy")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder (created if needed)")
    p.add_argument("--text", required=True, help="what the edited range should show, e.g. 'raises the left hand'")
    p.add_argument("--frames", default=None, metavar="START:STOP",
                   help="half-open range of 20 fps frame indices (default: the whole motion; START or STOP may be "
                   "left out, e.g. 40:)")
    p.add_argument("--parts", default=None,
                   help="comma-separated body parts to re-prompt (torso, neck, left_arm, right_arm, left_leg, "
                   "right_leg), or 'auto': the parts whose descriptions the new text changes (default: whole body)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same edit)")
    p.add_argument("--num", type=int, default=1, help=f"number of variants (1 to {MAX_EDIT_VARIANTS})")
    p.add_argument("--rig", default=None, help="BVH rig mapping (default: detected)")
    p.add_argument("--model", type=Path, default=None, help="pipeline folder (default: the model in the package)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--preview", action="store_true", help="also write preview.gif with the edited frames highlighted")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def write_json(path: Path, obj, overwrite: bool) -> None:
    """Write obj as indented JSON, atomically."""
    from kinmo_core.fileio import write_atomic

    write_atomic(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()), overwrite=overwrite)


def check_outputs(folders: list[Path], names: list[str], overwrite: bool) -> None:
    """KinmoInputError when an output exists (without --overwrite) or a folder is a file."""
    from kinmo_core.errors import KinmoInputError

    for f in folders:
        if f.exists() and not f.is_dir():
            raise KinmoInputError(f"{f}: exists and is not a folder")
    if not overwrite:
        clash = [f / n for f in folders for n in names if (f / n).exists()]
        if clash:
            raise KinmoInputError(f"{clash[0]}: already exists; pass --overwrite to replace it")


def write_motion(folder: Path, motion, descriptions, overwrite: bool, preview: bool,
                 highlight: tuple[int, int] | None) -> None:
    """Write motion.npz, motion.bvh, descriptions.json and optionally preview.gif into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    motion.save(folder / "motion.npz", overwrite=overwrite)
    motion.to_bvh(folder / "motion.bvh", overwrite=overwrite)
    write_json(folder / "descriptions.json", descriptions or {"groups": {}, "interactions": {}}, overwrite)
    if preview:
        from kinmo_core.render import render_motion

        render_motion(motion.joints, folder / "preview.gif", title=motion.text[:80], overwrite=overwrite,
                      progress=False, highlight=highlight)


def run(args: argparse.Namespace) -> int:
    """Edit the motion and write the results."""
    from kinmo_core.cli.printable import warnings_on_one_line
    from kinmo_core.editing.edit import check_frames, check_parts, parse_frames
    from kinmo_core.errors import KinmoInputError
    from kinmo_core.motion.file import load_motion
    from kinmo_core.pipeline import KinMoPipeline, clean_text

    warnings_on_one_line()
    if not 1 <= args.num <= MAX_EDIT_VARIANTS:
        raise KinmoInputError(f"--num must be from 1 to {MAX_EDIT_VARIANTS}, got {args.num}")
    text = clean_text(args.text)
    parts = check_parts(args.parts)
    motion = load_motion(args.input, rig=args.rig)
    frames = check_frames(parse_frames(args.frames, motion.num_frames) if args.frames else None, motion.num_frames)
    out: Path = args.output
    folders = [out] if args.num == 1 else [out / f"{i:03d}" for i in range(args.num)]
    names = ["motion.npz", "motion.bvh", "descriptions.json"] + (["preview.gif"] if args.preview else [])
    check_outputs([out, *folders], names, args.overwrite)
    pipe = KinMoPipeline.from_pretrained(args.model, device=args.device)
    from kinmo_core.editing.edit import edit_motion

    res = edit_motion(pipe, motion, text, frames=frames, parts=parts, seed=args.seed, num=args.num)
    if parts == "auto":
        print(f"parts edited (auto): {', '.join(res.parts)}")
    for folder, m in zip(folders, res.motions, strict=True):
        write_motion(folder, m, res.descriptions, args.overwrite, args.preview, res.frames)
        a, b = res.frames
        print(f"{folder}: frames {a}:{b} ({', '.join(res.parts)}) re-prompted, {m.num_frames} frames")
    return 0
