"""`kinmo compose TIMELINE.json -o DIR`: a timeline of whole-body segments and part tracks, longer than 10 s.

TIMELINE.json: {"segments": [{"text", "start", "end"}, ...], "tracks": [{"text", "parts", "start", "end"}, ...]},
times in seconds (see README). Writes DIR/motion.npz, DIR/motion.bvh, DIR/timeline.json (the checked timeline, the
descriptions used per text and the seam frames) and, with --preview, DIR/preview.gif.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    """Add the `compose` subcommand."""
    p = subparsers.add_parser(
        "compose",
        help="generate a timeline longer than 10 s: whole-body segments joined by transitions, plus part tracks",
        description="Generate one motion from a timeline JSON: whole-body segments in time order (a gap between two "
        "is filled by a generated transition) and per-part tracks applied as part edits. Segments last 1 to 10 s "
        "and must not overlap; the timeline lasts at most 10 minutes.",
    )
    p.add_argument("timeline", type=Path, help='timeline .json: {"segments": [...], "tracks": [...]}')
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder (created if needed)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same motion)")
    p.add_argument("--model", type=Path, default=None, help="pipeline folder (default: the model in the package)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--preview", action="store_true", help="also write a stick-figure preview.gif")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compose the timeline and write the results."""
    from dataclasses import asdict

    from kinmo_core.cli.edit import check_outputs, write_json
    from kinmo_core.cli.printable import warnings_on_one_line
    from kinmo_core.editing.timeline import compose, load_timeline
    from kinmo_core.pipeline import KinMoPipeline

    warnings_on_one_line()
    parsed = load_timeline(args.timeline)
    out: Path = args.output
    names = ["motion.npz", "motion.bvh", "timeline.json"] + (["preview.gif"] if args.preview else [])
    check_outputs([out], names, args.overwrite)
    pipe = KinMoPipeline.from_pretrained(args.model, device=args.device)
    res = compose(pipe, parsed, seed=args.seed, progress=True)
    out.mkdir(parents=True, exist_ok=True)
    res.motion.save(out / "motion.npz", overwrite=args.overwrite)
    res.motion.to_bvh(out / "motion.bvh", overwrite=args.overwrite)
    write_json(out / "timeline.json", {"segments": [asdict(s) for s in res.segments],
                                       "tracks": [{**asdict(t), "parts": list(t.parts)} for t in res.tracks],
                                       "descriptions": res.descriptions,
                                       "seam_frames": sorted({f for f, _ in res.seams})}, args.overwrite)
    if args.preview:
        from kinmo_core.render import render_motion

        render_motion(res.motion.joints, out / "preview.gif", title=f"timeline ({res.motion.seconds:g} s)",
                      overwrite=args.overwrite)
    print(f"{out}: {res.motion.num_frames} frames ({res.motion.seconds:g} s), {len(res.segments)} segments, "
          f"{len(res.tracks)} tracks")
    return 0
