"""The options of a generation evaluation (`kinmo eval generation`, `python -m kinmo_core.eval.generation_eval`).

Only argparse here: the CLI builds its parser from this module without importing torch.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of a generation evaluation to `p`."""
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
