"""`kinmo reason "CAPTION" ...`: the Motion Reasoner's six group and fifteen interaction descriptions of a caption."""

from __future__ import annotations

import argparse
from pathlib import Path

from kinmo_core.cli.printable import printable, printable_json


def register(subparsers) -> None:
    """Add the `reason` subcommand."""
    p = subparsers.add_parser(
        "reason",
        help="describe what each body part does for a caption",
        description="Run the Motion Reasoner: a global caption in, descriptions of the six body parts and their "
                    "fifteen pairs out.",
    )
    p.add_argument("captions", nargs="+", help="one or more captions (quote each)")
    p.add_argument("--model", type=Path, default=None,
                   help="reasoner folder: KinMo's own or a fine-tuned Hugging Face causal LM (default: bundled)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature; 0 is greedy (default)")
    p.add_argument("--json", action="store_true", help="print JSON (a list with one object per caption)")
    p.add_argument("--groups-only", action="store_true", help="print only the six group descriptions")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the descriptions of args.captions."""
    import logging
    import sys
    import warnings

    from kinmo_core.errors import KinmoInputError
    from kinmo_core.motion.kinematic import GROUP_TITLES
    from kinmo_core.reasoner import MotionReasoner

    if args.temperature < 0:
        raise KinmoInputError(f"--temperature must be >= 0, got {args.temperature}")
    reasoner = MotionReasoner.from_pretrained(args.model)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = reasoner.reason(args.captions, seed=args.seed, temperature=args.temperature)
    for w in caught:
        print(f"warning: {printable(w.message)}", file=sys.stderr)
    if args.json:
        items = [{"text": t, **({"groups": r["groups"]} if args.groups_only else r)}
                 for t, r in zip(args.captions, results, strict=True)]
        print(printable_json(items, indent=2))
        return 0
    blocks = []
    for text, r in zip(args.captions, results, strict=True):
        lines = [f"caption: {printable(text)}"]
        lines += [f"  {GROUP_TITLES[g] + ':':<11} {printable(d)}" for g, d in r["groups"].items()]
        if not args.groups_only:
            lines.append("  interactions:")
            lines += [f"    {p.replace('|', ' + ') + ':':<22} {printable(d)}" for p, d in r["interactions"].items()]
        blocks.append("\n".join(lines))
    print("\n\n".join(blocks))
    return 0
