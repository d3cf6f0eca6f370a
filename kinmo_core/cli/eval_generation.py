"""`kinmo eval generation`: the paper's Table 2 metrics, plausibility and part following for generator pipelines.

    kinmo eval generation --data data/synth20k --evaluator kinmo_core/assets/evaluator \\
        --row "KinMo=kinmo_core/assets/default:3" --repeats 20 --out results.json --markdown results.md
    kinmo eval generation --merge a.json b.json --markdown table.md     # rows evaluated in separate processes

Each repeat generates one motion per test item from one of its captions (same length as the real crop) and scores
real and generated motion with the frozen evaluator; means and 95% intervals over the repeats form the table.
The same command as `python -m kinmo_core.eval.generation_eval` (see that module for the full protocol).
"""

from __future__ import annotations

import argparse
import sys


def register(tasks: argparse._SubParsersAction) -> None:
    """Add `kinmo eval generation` to the `kinmo eval` tasks."""
    # The protocol lives in kinmo_core.eval.generation_eval, which imports torch: `kinmo --help` must stay light.
    p = tasks.add_parser("generation", help="text-to-motion generation: FID, R-precision, MM-Dist, Diversity, "
                                            "MultiModality, plausibility, part following",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=_run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of a generation evaluation (shared by `kinmo eval generation` and generation_eval.main)."""
    p.add_argument("--data", help="dataset folder (HumanML3D layout) with the test split")
    p.add_argument("--annotations", default=None, help="annotations.json (default: DATA/annotations.json)")
    p.add_argument("--evaluator", help="trained evaluator folder")
    p.add_argument("--row", action="append", default=[], help="NAME=PIPELINE_DIR[:LEVELS] (repeatable)")
    p.add_argument("--descriptions", choices=("annotations", "reasoner", "none"), default="annotations")
    p.add_argument("--no-real", action="store_true", help="leave out the real-motion row")
    p.add_argument("--repeats", type=int, default=20, help="Table 2 repeats (0: part following only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mm-texts", type=int, default=100)
    p.add_argument("--mm-samples", type=int, default=30)
    p.add_argument("--no-part", action="store_true", help="skip part following")
    p.add_argument("--part-repeats", type=int, default=1,
                   help="samples per part prompt (seeds SEED, SEED+1, ...): pooled rate with a 95%% interval")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--limit", type=int, default=None, help="a fixed random subset of N test items (all by default)")
    p.add_argument("--merge", nargs="+", default=None, metavar="RESULTS.json",
                   help="join the rows of earlier result files (same settings) into one table instead of evaluating")
    p.add_argument("--first", type=int, default=None, metavar="N",
                   help="with --merge: keep each row's first N repeats (rows run with more repeats join a table of N)")
    p.add_argument("--out", default=None, help="results .json (required unless --merge)")
    p.add_argument("--markdown", default=None, help="also write the tables as Markdown")
    p.add_argument("--overwrite", action="store_true")


def _run(args: argparse.Namespace) -> int:
    import shlex

    from kinmo_core.eval.generation_eval import run

    return run(args, shlex.join(["kinmo", *sys.argv[1:]]))
