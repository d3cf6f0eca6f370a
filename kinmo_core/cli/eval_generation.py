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

from kinmo_core.eval.generation_options import add_arguments


def register(tasks: argparse._SubParsersAction) -> None:
    """Add `kinmo eval generation` to the `kinmo eval` tasks."""
    # The protocol lives in kinmo_core.eval.generation_eval, which imports torch: `kinmo --help` must stay light.
    p = tasks.add_parser("generation", help="text-to-motion generation: FID, R-precision, MM-Dist, Diversity, "
                                            "MultiModality, plausibility, part following",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import shlex

    from kinmo_core.eval.generation_eval import run

    return run(args, shlex.join(["kinmo", *sys.argv[1:]]))
