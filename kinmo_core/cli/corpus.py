"""`kinmo corpus synth | import-bvh | import-kit | stats`: build motion-text corpora (HumanML3D layout); describe."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kinmo_core.cli.printable import printable
from kinmo_core.errors import KinmoInputError

EXIT_PARTIAL = 1
"""Exit code of an import where some files failed (the others were imported)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `corpus` subcommand and its actions."""
    p = subparsers.add_parser(
        "corpus",
        help="build and inspect motion-text corpora (HumanML3D layout)",
        description="Synthesise a procedural text-motion corpus, import BVH motion capture or a KIT-ML folder, "
                    "or describe a corpus.",
    )
    sub = p.add_subparsers(dest="corpus_command", metavar="ACTION")
    s = sub.add_parser("synth", help="synthesise a corpus of procedural motions with captions",
                       description="Write N synthetic motions (plus mirrors), captions, splits, Mean/Std and the "
                                   "hidden ground truth. Same seed, same bytes, for any number of workers.")
    s.add_argument("-n", "--num", type=int, required=True, help="number of motions (mirrors come on top)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("-o", "--out", type=Path, required=True, help="output folder (new or empty)")
    s.add_argument("--workers", type=int, default=max(1, min(os.cpu_count() or 1, 8)),
                   help="processes to use (default: the CPU count, at most 8)")
    s.add_argument("--leg-weight", action="append", default=None, metavar="ACTION=W",
                   help="sampling weight of a leg activity (repeatable), e.g. knee_lift=1.0 to add single knee raises "
                        "(weight 0 by default); the others keep theirs (see kinmo_core.data.synth.LEG_CHOICES)")
    s.add_argument("--overwrite", action="store_true", help="write into a non-empty folder, replacing files")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=run_synth)

    i = sub.add_parser("import-bvh", help="convert a folder (or a Bandai-Namco archive) of BVH files into a corpus",
                       description="Convert every BVH file under SRC to KinMo's skeleton and write a HumanML3D-layout "
                                   "corpus. Captions come from --labels, the Bandai-Namco label files (detected), or "
                                   "--pattern. SRC may also be a Bandai-Namco .tar.xz/.tar.gz/.tar archive, read "
                                   "member by member without unpacking. Files that fail are listed at the end (exit "
                                   "code 1).")
    i.add_argument("src", type=Path, help="folder of .bvh files (searched recursively) or a Bandai-Namco tar archive")
    i.add_argument("-o", "--out", type=Path, required=True, help="output folder (new or empty)")
    i.add_argument("--labels", type=Path, default=None,
                   help="captions file: JSON {file: caption or [captions]} or CSV/TSV lines 'file,caption'")
    i.add_argument("--pattern", default=None,
                   help="filename pattern with fields, e.g. 'dataset-1_{content}_{style}_{take}'")
    i.add_argument("--include", action="append", default=None, metavar="GLOB",
                   help="import only clips whose name matches GLOB (repeatable), e.g. 'dataset-2_wave-*'")
    i.add_argument("--limit", type=int, default=None,
                   help="import at most N clips, evenly spaced over the sorted names (a quick subset)")
    i.add_argument("--seed", type=int, default=0, help="seed of the split and caption choices (default 0)")
    i.add_argument("--workers", type=int, default=1, help="processes to use (default 1)")
    i.add_argument("--overwrite", action="store_true", help="write into a non-empty folder, replacing files")
    i.add_argument("--quiet", action="store_true", help="no progress bar")
    i.set_defaults(func=run_import)

    k = sub.add_parser("import-kit", help="convert a KIT-ML folder (as HumanML3D processes it) for KinMo's trainers",
                       description="Map each KIT-ML clip's 21 joints (new_joints/, 12.5 fps) onto KinMo's 22-joint "
                                   "skeleton at 20 fps and write a HumanML3D-layout folder with 263-d features; "
                                   "captions and splits are kept, Mean/Std recomputed. Train with --data OUT. Clips "
                                   "that fail are listed at the end (exit code 1).")
    k.add_argument("src", type=Path, help="KIT-ML folder (new_joints/, texts/, train.txt, val.txt, test.txt)")
    k.add_argument("-o", "--out", type=Path, required=True, help="output folder (new or empty)")
    k.add_argument("--workers", type=int, default=1, help="processes to use (default 1)")
    k.add_argument("--overwrite", action="store_true", help="write into a non-empty folder, replacing files")
    k.add_argument("--quiet", action="store_true", help="no progress bar")
    k.set_defaults(func=run_import_kit)

    t = sub.add_parser("stats", help="counts, lengths, action histograms, plausibility and a preview sheet",
                       description="Describe a corpus folder; write a PNG sheet of sample previews.")
    t.add_argument("dir", type=Path, help="corpus folder in the HumanML3D layout")
    t.add_argument("--png", type=Path, default=None, help="preview sheet to write (default DIR/stats_preview.png)")
    t.add_argument("--no-png", action="store_true", help="skip the preview sheet")
    t.add_argument("--max-check", type=int, default=2000,
                   help="check plausibility on at most this many motions (default 2000; 0 = all)")
    t.add_argument("--json", action="store_true", help="print the statistics as JSON")
    t.add_argument("--overwrite", action="store_true", help="replace an existing --png file")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run_stats)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run_synth(args: argparse.Namespace) -> int:
    """Synthesise a corpus."""
    import time

    from kinmo_core.data.corpus import synth_corpus

    weights: dict[str, float] = {}
    for item in args.leg_weight or []:
        name, eq, value = item.partition("=")
        try:
            if not eq:
                raise ValueError
            weights[name.strip()] = float(value)
        except ValueError:
            raise KinmoInputError(f"--leg-weight expects ACTION=WEIGHT, got {item!r}") from None
    t0 = time.perf_counter()
    summary = synth_corpus(args.num, args.seed, args.out, workers=args.workers, overwrite=args.overwrite,
                           progress=not args.quiet, leg_weights=weights or None)
    dt = time.perf_counter() - t0
    sp = summary["splits"]
    print(f"wrote {summary['motions']} motions + {summary['motions']} mirrors to {args.out} in {dt:.1f} s "
          f"({summary['frames'] / 20 / 3600:.2f} h of motion; train {sp['train']}, val {sp['val']}, test {sp['test']})")
    return 0


def run_import(args: argparse.Namespace) -> int:
    """Import a folder of BVH files."""
    import time

    from kinmo_core.data.mocap import import_bvh_folder

    t0 = time.perf_counter()
    summary = import_bvh_folder(args.src, args.out, labels=args.labels, pattern=args.pattern, workers=args.workers,
                                seed=args.seed, overwrite=args.overwrite, progress=not args.quiet,
                                include=args.include, limit=args.limit)
    sp = summary["splits"]
    print(f"imported {summary['imported']} of {summary['files']} BVH files into {args.out} in "
          f"{time.perf_counter() - t0:.1f} s (+ mirrors; captions from {summary['captions']}; train {sp['train']}, "
          f"val {sp['val']}, test {sp['test']})")
    return _report_failures(summary["failed"], "file")


def run_import_kit(args: argparse.Namespace) -> int:
    """Convert a KIT-ML folder."""
    import time

    from kinmo_core.data.kit import import_kit_folder
    from kinmo_core.motion.skeleton import FPS

    t0 = time.perf_counter()
    summary = import_kit_folder(args.src, args.out, workers=args.workers, overwrite=args.overwrite,
                                progress=not args.quiet)
    sp = summary["splits"]
    print(f"imported {summary['imported']} of {summary['clips']} KIT-ML clips into {args.out} in "
          f"{time.perf_counter() - t0:.1f} s ({summary['frames'] / FPS / 3600:.2f} h at {FPS} fps; "
          + ", ".join(f"{s} {n}" for s, n in sp.items()) + ")")
    suspect = summary["sides_suspect"]
    if len(suspect) > summary["imported"] // 2:
        print(f"warning: in {len(suspect)} clips the toes point backwards for KIT-ML's usual left/right joints; "
              "check that the folder is HumanML3D's KIT-ML (ids in corpus.json)", file=sys.stderr)
    return _report_failures(summary["failed"], "clip")


def _report_failures(failed: list[dict], what: str) -> int:
    """Print one line per failed item and a count; return EXIT_PARTIAL when any failed, else 0."""
    for f in failed:
        print(printable(f"error: {f['path']}: {f['error']}"), file=sys.stderr)
    if failed:
        print(f"{len(failed)} {what}(s) failed; the others were imported", file=sys.stderr)
        return EXIT_PARTIAL
    return 0


def _table(stats: dict) -> str:
    lines = [
        f"folder:      {stats['folder']}",
        f"motions:     {stats['motions']} ({stats['originals']} originals, {stats['mirrors']} mirrors), "
        f"{stats['hours']:.2f} h",
        "splits:      " + ", ".join(f"{k} {v}" for k, v in stats["splits"].items()),
        f"length:      {stats['length_frames']['min']}-{stats['length_frames']['max']} frames "
        f"(mean {stats['length_frames']['mean']:.1f})",
        f"captions:    {stats['captions']['count']} ({stats['captions']['mean_words']:.1f} words on average, "
        f"{stats['captions']['vocabulary']} distinct words)",
    ]
    if "leg_activities" in stats:
        lines.append("segments:    " + ", ".join(f"{k}: {v}" for k, v in stats["segments_per_motion"].items()))
        lines.append("leg activity per segment: " + ", ".join(f"{k} {v}" for k, v in stats["leg_activities"].items()))
        lines.append("actions per group (spans / seconds):")
        for g, acts in stats["actions"].items():
            counts = ", ".join(f"{a} {v['spans']}/{v['frames'] / 20:.0f}s" for a, v in acts.items())
            lines.append(f"  {g:<10} {counts}")
    for key, hist in stats.get("labels", {}).items():
        lines.append(f"{key + ':':<12} " + ", ".join(f"{k} {v}" for k, v in hist.items()))
    if "plausibility" in stats:
        p = stats["plausibility"]
        lines += [
            f"plausibility ({p['motions_checked']} motions, stored new_joints, HumanML3D contact labels):",
            f"  foot skate per contact phase: max {p['skate_max_m'] * 100:.2f} cm, "
            f"{p['contact_phases_over_2cm']} of {p['contact_phases']} phases over 2 cm",
            f"  lowest foot joint {p['min_foot_height_m'] * 100:+.2f} cm, "
            f"lowest joint {p['min_joint_height_m'] * 100:+.2f} cm (floor = 0)",
            f"  bone length drift max {p['bone_length_drift_max_m'] * 1000:.3f} mm",
            f"  knee flexion max {p['knee_flexion_max_deg']:.0f} deg, elbow {p['elbow_flexion_max_deg']:.0f} deg, "
            f"spine bend {p['spine_bend_max_deg']:.0f} deg, neck {p['neck_bend_max_deg']:.0f} deg; "
            f"{p['joint_limit_violation_frames']} frames over a limit",
            f"  largest joint acceleration {p['max_joint_accel_m_per_frame2']:.3f} m/frame^2",
            "  (stored joints are recovered from the features: where a body turns past 180 degrees from its start,",
            "  HumanML3D's root-rotation velocity flips sign for a frame (HumanML3D issue #156), which reads as skate)",
        ]
    return "\n".join(lines)


def run_stats(args: argparse.Namespace) -> int:
    """Print corpus statistics and write the preview sheet."""
    from kinmo_core.data.corpus import corpus_stats, preview_sheet

    stats = corpus_stats(args.dir, max_plausibility=args.max_check or None, progress=not args.quiet)
    if not args.no_png:
        png = args.png or (args.dir / "stats_preview.png")
        # The default sheet lives inside the corpus folder and is refreshed on every run; a path the user names is
        # only replaced with --overwrite.
        preview_sheet(args.dir, png, overwrite=args.overwrite or args.png is None)
        stats["preview_png"] = str(png)
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print(_table(stats))
        if "preview_png" in stats:
            print(f"preview:     {stats['preview_png']}")
    return 0
