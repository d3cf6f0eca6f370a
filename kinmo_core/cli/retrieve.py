"""`kinmo retrieve`: search a dataset's motions by text, or its captions by motion, with HTMA.

    kinmo retrieve --text "a person waves with the left hand" --motions DATASET [--k 5]
    kinmo retrieve --motion clip.npz --texts DATASET [--k 5]

The dataset is indexed once (DATASET/.kinmo_index/ or --index PATH) and the index is reused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kinmo_core.cli.printable import printable, printable_json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `retrieve` subcommand."""
    p = subparsers.add_parser("retrieve", help="find motions matching a text, or texts matching a motion (HTMA)",
                              description=__doc__.split("\n\n")[0])
    q = p.add_mutually_exclusive_group(required=True)
    q.add_argument("--text", help="a text query (expanded into body-part descriptions by the Motion Reasoner)")
    q.add_argument("--motion", type=Path, help="a motion file query (.npz, .bvh, .npy)")
    p.add_argument("--motions", type=Path, help="dataset to search for --text: HumanML3D layout or motion files")
    p.add_argument("--texts", type=Path, help="dataset whose captions are searched for --motion (HumanML3D layout)")
    p.add_argument("--k", type=int, default=5, help="how many results (default 5)")
    p.add_argument("--model", type=Path, default=None, help="HTMA model folder (default: the packaged model)")
    p.add_argument("--text-encoder", type=Path, default=None, help="local folder of the model's text encoder, "
                                                                   "when it is not the bundled MiniLM")
    p.add_argument("--levels", type=int, choices=(1, 2, 3), default=None,
                   help="text levels to compare (default: all the model has; 1 needs no descriptions)")
    p.add_argument("--descriptions", type=Path, default=None,
                   help="JSON file of the query's descriptions {groups, interactions} instead of the Reasoner's")
    p.add_argument("--text-descriptions", choices=("auto", "annotations", "reasoner"), default="auto",
                   help="descriptions of the --texts captions: the dataset's annotations (auto: when present) or "
                        "the Motion Reasoner's")
    p.add_argument("--index", type=Path, default=None, help="index path (default: DATASET/.kinmo_index/...)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the index even if a matching one exists")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=run)


def _read_descriptions(path: Path) -> dict:
    from kinmo_core.alignment import check_descriptions
    from kinmo_core.errors import KinmoInputError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise KinmoInputError(f"cannot read descriptions from {path}: {type(exc).__name__}: {exc}") from None
    return check_descriptions(data, str(path))


def run(args: argparse.Namespace) -> int:
    """Run a query; print the ranked results."""
    from kinmo_core.cli.printable import warnings_on_one_line
    from kinmo_core.errors import KinmoInputError

    warnings_on_one_line()

    if args.k < 1:
        raise KinmoInputError(f"--k must be at least 1, got {args.k}")
    if args.text is not None and args.motions is None:
        raise KinmoInputError("--text needs --motions DATASET to search")
    if args.motion is not None and args.texts is None:
        raise KinmoInputError("--motion needs --texts DATASET to search")
    from kinmo_core.alignment import HTMAAligner, check_query
    from kinmo_core.retrieval import search as retrieval

    text = check_query(args.text) if args.text is not None else None
    aligner = HTMAAligner.from_pretrained(args.model, text_encoder=args.text_encoder)
    levels = aligner._levels(args.levels)
    if text is not None:
        given = _read_descriptions(args.descriptions) if args.descriptions else None
        # Expand first: a missing Reasoner should fail before any indexing work.
        desc = retrieval.query_descriptions(aligner, text, levels, given)
        index, built = retrieval.motion_index(aligner, args.motions, args.index, args.rebuild)
        hits, desc = retrieval.search_text(aligner, index, text, args.k, levels, desc)
        query = {"text": text, "levels": levels, "descriptions": desc}
    else:
        from kinmo_core.motion.file import load_motion

        motion = load_motion(args.motion)
        index, built = retrieval.text_index(aligner, args.texts, args.text_descriptions, index_path=args.index,
                                            rebuild=args.rebuild, levels=levels)
        hits = retrieval.search_motion(aligner, index, motion.features, args.k, levels, index_levels=levels)
        query = {"motion": str(args.motion), "levels": levels}
    if built:
        print(f"indexed {len(index)} {'motions' if text is not None else 'captions'}", file=sys.stderr)
    if args.json:
        rows = [{"rank": r + 1, "id": h.id, "text": h.text, "score": round(h.score, 4)} for r, h in enumerate(hits)]
        print(printable_json({"query": query, "results": rows}, indent=2, ensure_ascii=True))
        return 0
    for r, h in enumerate(hits, 1):
        print(f"{r:>3}  {h.score:6.3f}  {printable(h.id)}  {printable(h.text)}")
    return 0
