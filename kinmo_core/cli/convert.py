"""`kinmo convert IN -o OUT`: convert between KinMo .npz, BVH and HumanML3D .npy; export glTF (.glb) and FBX."""

from __future__ import annotations

import argparse
from pathlib import Path

from kinmo_core.cli.printable import printable

LAYOUTS = ("features", "joints")


def register(subparsers) -> None:
    """Add the `convert` subcommand."""
    p = subparsers.add_parser(
        "convert",
        help="convert a motion between .npz, .bvh and HumanML3D .npy; export .glb and .fbx",
        description="Convert a motion between KinMo .npz, BVH (any known rig) and HumanML3D .npy, or export it as "
        "glTF 2.0 (.glb: a skinned skeleton and its animation) or FBX (.fbx: needs Blender's bpy module). "
        "Every motion passes through KinMo's skeleton at 20 fps.",
    )
    p.add_argument("input", type=Path, help="input motion (.npz, .bvh or .npy)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output motion (.npz, .bvh, .npy, .glb or .fbx)")
    p.add_argument(
        "--as", dest="layout", choices=LAYOUTS, default="features", help="layout of a .npy output (default features)"
    )
    p.add_argument("--rig", default=None, help="rig preset for a .bvh input (default: detect from joint names)")
    p.add_argument("--text", default=None, help="text to store with a .npz output (replaces the input's)")
    p.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Convert args.input to args.output."""
    from kinmo_core.errors import KinmoInputError
    from kinmo_core.fileio import check_output_file
    from kinmo_core.motion.file import MOTION_EXTENSIONS, load_motion, save_motion
    from kinmo_core.motion.gltf import EXPORT_EXTENSIONS, check_fbx_writer, export_motion

    out: Path = args.output
    ext = out.suffix.lower()
    # Check the output before the (slow) conversion so a refused run costs nothing.
    if ext not in MOTION_EXTENSIONS + EXPORT_EXTENSIONS:
        raise KinmoInputError(f"{out}: unknown extension {out.suffix or '(none)'!r}; expected one of "
                              f"{', '.join(MOTION_EXTENSIONS + EXPORT_EXTENSIONS)}")
    check_output_file(out, args.overwrite)  # the same check the atomic write makes, before any work
    if ext == ".fbx":
        check_fbx_writer(out)
    motion = load_motion(args.input, rig=args.rig)
    if args.text is not None:
        motion.text = args.text
    if ext in EXPORT_EXTENSIONS:
        export_motion(motion, out, overwrite=args.overwrite)
    else:
        save_motion(motion, out, as_=args.layout, overwrite=args.overwrite)
    summary = f"{motion.num_frames} frames ({motion.seconds:.2f} s at {motion.fps} fps)"
    print(printable(f"{out}: {summary} from {args.input}"))
    return 0
