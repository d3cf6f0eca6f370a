"""`kinmo eval`: evaluation tasks as sub-subcommands (`kinmo eval retrieval`, and those of extension modules).

    kinmo eval retrieval --data DATASET [--split test] [--model NAME=PATH ...] [--descriptions annotations reasoner]
                         [--markdown] [--json OUT]

Each task is registered by a function `register(tasks)` that adds its parser to the `eval` subparsers and sets
`func`. Retrieval lives here; other tasks come from the modules in EXTENSIONS (skipped while absent), e.g. a module
`kinmo_core/cli/eval_generation.py` with `register(tasks)` adds `kinmo eval generation`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path

EXTENSIONS: tuple[str, ...] = ("kinmo_core.cli.eval_generation",)
"""Modules that add further `kinmo eval` tasks through `register(tasks)`."""

ABLATION_RANKS: tuple[int, ...] = (1, 2, 3)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `eval` subcommand and its tasks."""
    p = subparsers.add_parser("eval", help="evaluate models (retrieval, ...)", description=__doc__.split("\n\n")[0])
    tasks = p.add_subparsers(dest="eval_task", metavar="TASK")
    register_retrieval(tasks)
    for name in EXTENSIONS:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(tasks)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def register_retrieval(tasks: argparse._SubParsersAction) -> None:
    """Add `kinmo eval retrieval`."""
    r = tasks.add_parser("retrieval", help="text-motion retrieval: TMR's four protocols, both directions",
                         description="Text-to-motion and motion-to-text retrieval on a dataset split with HTMA "
                                     "models: R@1/2/3/5/10 and median rank under protocols (a) all, (b) all with "
                                     "a caption-similarity threshold, (c) a dissimilar subset of 100, (d) batches "
                                     "of 32. One pair per motion: its first caption and its descriptions.")
    r.add_argument("--data", type=Path, required=True, help="dataset folder in the HumanML3D layout")
    r.add_argument("--split", default="test", help="split to evaluate (default test; 'all' for every motion)")
    r.add_argument("--model", action="append", default=None, metavar="[NAME=]PATH",
                   help="HTMA model folder, repeatable (default: the packaged model)")
    r.add_argument("--descriptions", nargs="+", choices=("annotations", "reasoner"), default=["annotations"],
                   help="where the text side's group and pair descriptions come from (default annotations)")
    r.add_argument("--annotations", type=Path, default=None, help="annotation file (default DATA/annotations.json)")
    r.add_argument("--levels", type=int, choices=(1, 2, 3), default=None, help="levels to use (default: all)")
    r.add_argument("--threshold", type=float, default=None, help="protocol (b) threshold (default 0.8)")
    r.add_argument("--seed", type=int, default=0, help="seed of protocol (d)'s batches")
    r.add_argument("--text-encoder", type=Path, default=None, help="local folder of the models' text encoder")
    r.add_argument("--markdown", action="store_true",
                   help="print Markdown tables (Table 1 layout, and the Table 4 ablation layout) for BENCHMARKS.md")
    r.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file (new file)")
    r.set_defaults(func=run_retrieval)


def _models(specs: list[str] | None) -> list[tuple[str, Path | None]]:
    if not specs:
        return [("HTMA", None)]
    out = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        out.append((name, Path(path)) if sep else (Path(spec).name, Path(spec)))
    return out


def ablation_table(rows: dict[str, dict[str, float]], digits: int = 2) -> str:
    """Return a Markdown table like the paper's Table 4 (protocol (a): R@1-3 and MedR both ways) from {row: metrics}."""
    cols = [f"t2m/R@{k}" for k in ABLATION_RANKS] + ["t2m/MedR"] + [f"m2t/R@{k}" for k in ABLATION_RANKS] + \
        ["m2t/MedR"]
    heads = [c.replace("t2m/", "T2M ").replace("m2t/", "M2T ") for c in cols]
    lines = ["| Model | " + " | ".join(heads) + " |", "|" + "---|" * (len(cols) + 1)]
    for name, m in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{m[c]:.{digits}f}" for c in cols) + " |")
    return "\n".join(lines)


def run_retrieval(args: argparse.Namespace) -> int:
    """Evaluate every model under every description source; print a summary or Markdown tables."""
    from kinmo_core.alignment import HTMAAligner
    from kinmo_core.errors import KinmoInputError
    from kinmo_core.eval.retrieval_eval import evaluate_dataset
    from kinmo_core.eval.retrieval_metrics import format_retrieval_table
    from kinmo_core.reasoner import MemoReasoner

    if args.json is not None and args.json.exists():
        raise KinmoInputError(f"{args.json}: already exists; choose a new file")
    results: dict[str, dict] = {}
    reasoner = MemoReasoner()
    for name, path in _models(args.model):
        aligner = HTMAAligner.from_pretrained(path, text_encoder=args.text_encoder)
        lv = aligner._levels(args.levels)
        sources = args.descriptions if lv > 1 else ["annotations"]
        for source in sources:
            label = name if lv == 1 or len(args.descriptions) == 1 else f"{name} ({source})"
            res = evaluate_dataset(aligner, args.data, args.split, source, args.annotations, lv,
                                   threshold=args.threshold, seed=args.seed, reasoner=reasoner)
            res["model"] = str(path) if path else "default"
            results[label] = res
            if not args.markdown:
                a = res["metrics"]["all"]
                print(f"{label}: {res['pairs']} pairs, levels {lv}, descriptions {res['descriptions']}: "
                      f"T2M R@1 {a['t2m/R@1']:.2f} R@5 {a['t2m/R@5']:.2f} MedR {a['t2m/MedR']:.1f} | "
                      f"M2T R@1 {a['m2t/R@1']:.2f} R@5 {a['m2t/R@5']:.2f} MedR {a['m2t/MedR']:.1f}")
    if args.markdown:
        first = next(iter(results.values()))
        print(f"Retrieval on {args.data} ({args.split} split, {first['pairs']} pairs), TMR's protocols:\n")
        print(format_retrieval_table({k: v["metrics"] for k, v in results.items()}))
        print("\nProtocol (a), the layout of the paper's Table 4:\n")
        print(ablation_table({k: v["metrics"]["all"] for k, v in results.items()}))
    if args.json is not None:
        from kinmo_core.fileio import write_atomic

        text = json.dumps(results, indent=2)
        write_atomic(args.json, lambda f: f.write(text.encode("utf-8")))
    return 0
