"""`kinmo annotate`: group- and interaction-level descriptions of a dataset, review sheets, agreement, evaluation.

Forms:
    kinmo annotate DATASET -o annotations.json [--annotator rules|openai|hf] [--workers N] [--threshold X]
    kinmo annotate sample annotations.json -n 20 -o review.csv
    kinmo annotate agreement A.csv B.csv
    kinmo annotate evaluate DATASET annotations.json [--split test]
    kinmo annotate labels annotations.json      (content labels from ids, e.g. Bandai clips, against descriptions)
(A dataset folder literally named like a sub-command can be given as ./NAME.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kinmo_core.cli.printable import printable

SUBCOMMANDS: tuple[str, ...] = ("sample", "agreement", "evaluate", "labels")

USAGE = """kinmo annotate DATASET -o OUT.json [options]
       kinmo annotate sample ANNOTATIONS.json -n N -o REVIEW.csv
       kinmo annotate agreement A.csv B.csv
       kinmo annotate evaluate DATASET ANNOTATIONS.json [--split SPLIT]
       kinmo annotate labels ANNOTATIONS.json [--pattern REGEX]"""


def _dataset_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kinmo annotate",
        description="Annotate a dataset (HumanML3D layout) with "
        "six group-level and fifteen interaction-level descriptions per motion.",
    )
    p.add_argument("dataset", type=Path,
                   help="dataset folder with new_joints/*.npy or new_joint_vecs/*.npy (and texts/*.txt)")
    p.add_argument("-o", "--output", type=Path, required=True, help="annotation JSON file (resumed if it exists)")
    p.add_argument("--annotator", choices=("rules", "openai", "hf"), default="rules")
    p.add_argument("--workers", type=int, default=1, help="motions annotated concurrently (default 1)")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="keyframe cosine-similarity threshold (default 0.85, about one keyframe per second)",
    )
    p.add_argument(
        "--embedding",
        choices=("groups", "posecodes", "whole"),
        default="groups",
        help="keyframes compare each group sentence (default), each posecode phrase, or whole frame texts",
    )
    p.add_argument("--split", default=None, help="annotate only the ids of SPLIT.txt (e.g. test)")
    p.add_argument("--limit", type=int, default=None, help="annotate at most this many motions")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if OUT exists with other settings")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("openai annotator (also from KINMO_OPENAI_BASE_URL, KINMO_OPENAI_MODEL, OPENAI_API_KEY)")
    g.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--model", default=None, help="model name sent to the endpoint")
    g.add_argument("--api-key", default=None, help="API key (prefer the environment variable)")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    g.add_argument("--retries", type=int, default=3, help="retries per request (exponential backoff)")
    g.add_argument("--cache-dir", type=Path, default=None, help="cache of answers keyed by motion and prompt version")
    h = p.add_argument_group("hf annotator")
    h.add_argument("--hf-model", type=Path, default=None, help="local Hugging Face causal LM folder")
    h.add_argument("--max-new-tokens", type=int, default=768)
    return p


def _sample_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kinmo annotate sample",
        description="Draw a review sheet (CSV: id, field, "
        "verdict, text, captions) of random annotations for human reviewers.",
    )
    p.add_argument("annotations", type=Path)
    p.add_argument("-n", type=int, default=20, help="rows to draw (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fields", choices=("all", "groups", "interactions"), default="all")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--overwrite", action="store_true")
    return p


def _agreement_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kinmo annotate agreement",
        description="Cohen's kappa between two reviewers' "
        "verdicts (CSV with columns id, field, verdict) on the rows both judged.",
    )
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--json", action="store_true")
    return p


def _evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kinmo annotate evaluate",
        description="Score annotations against a synthetic "
        "corpus's hidden ground truth (ground_truth/<id>.json): does each group's "
        "description name the action (and side) the group performs?",
    )
    p.add_argument("dataset", type=Path)
    p.add_argument("annotations", type=Path)
    p.add_argument("--split", default=None, help="score only the ids of SPLIT.txt")
    p.add_argument("--json", action="store_true")
    p.add_argument("-o", "--output", type=Path, default=None, help="also write the report as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report file")
    return p


def _labels_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kinmo annotate labels",
        description="Tabulate content labels parsed from motion "
        "ids (default: Bandai-Namco clip names) against the actions each group's description "
        "names.",
    )
    p.add_argument("annotations", type=Path)
    p.add_argument("--pattern", default=None, help="regular expression with a (?P<label>...) group over motion ids")
    p.add_argument("--top", type=int, default=2, help="actions shown per cell (default 2)")
    p.add_argument("--json", action="store_true")
    return p


def register(subparsers) -> None:
    """Add the `annotate` subcommand."""
    # The forms parse their own arguments (run()), so --help shows the dataset form's options here.
    dataset_help = _dataset_parser().format_help()
    p = subparsers.add_parser(
        "annotate",
        help="describe each body part and pair of parts of a dataset's motions",
        usage=USAGE,
        description=__doc__,
        epilog="kinmo annotate DATASET " + dataset_help[dataset_help.index("options:"):].replace(
            "  -h, --help            show this help message and exit\n", "")
        + "\nThe other forms list their options with --help, e.g. `kinmo annotate sample --help`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def _run_dataset(args: argparse.Namespace) -> int:
    from kinmo_core.annotate.annotations import annotate_dataset, make_annotator
    from kinmo_core.annotate.keyframes import DEFAULT_THRESHOLD

    options: dict = {}
    if args.annotator == "openai":
        options = {
            "base_url": args.base_url,
            "model": args.model,
            "api_key": args.api_key,
            "timeout": args.timeout,
            "max_retries": args.retries,
            "max_concurrency": max(1, args.workers),
            "cache_dir": args.cache_dir,
        }
    elif args.annotator == "hf":
        options = {"model_path": args.hf_model, "max_new_tokens": args.max_new_tokens}
    annotator = make_annotator(args.annotator, **options)
    summary = annotate_dataset(
        args.dataset,
        args.output,
        annotator,
        workers=args.workers,
        threshold=DEFAULT_THRESHOLD if args.threshold is None else args.threshold,
        mode=args.embedding,
        split=args.split,
        limit=args.limit,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    print(
        f"annotated {summary.done} motions ({summary.skipped} already done), {len(summary.failures)} failed, "
        f"{summary.keyframes_per_second:.2f} keyframes/s, {summary.seconds:.1f} s -> {summary.output}"
    )
    for mid, reason in list(summary.failures.items())[:20]:
        print(printable(f"failed {mid}: {reason}"), file=sys.stderr)
    if len(summary.failures) > 20:
        print(f"... and {len(summary.failures) - 20} more (see 'failures' in {summary.output})", file=sys.stderr)
    return summary.exit_code


def _run_sample(args: argparse.Namespace) -> int:
    from kinmo_core.annotate.agreement import sample_rows, write_review_sheet
    from kinmo_core.annotate.annotations import read_annotations

    rows = sample_rows(read_annotations(args.annotations), args.n, args.seed, args.fields)
    path = write_review_sheet(rows, args.output, overwrite=args.overwrite)
    print(f"wrote {len(rows)} rows to {path}; fill in the 'verdict' column (e.g. correct / partly / wrong)")
    return 0


def _run_agreement(args: argparse.Namespace) -> int:
    from kinmo_core.annotate.agreement import agreement

    res = agreement(args.a, args.b)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(
        f"Cohen's kappa: {res['kappa']:.3f} over {res['items']} rows judged by both "
        f"(observed agreement {res['observed']:.3f}, chance {res['expected']:.3f})"
    )
    width = max(len(lab) for lab in res["labels"])
    print("A \\ B".ljust(width) + "  " + "  ".join(lab.rjust(width) for lab in res["labels"]))
    for lab, row in zip(res["labels"], res["table"], strict=True):
        print(lab.ljust(width) + "  " + "  ".join(str(v).rjust(width) for v in row))
    if res["only_in_a"] or res["only_in_b"]:
        print(f"rows judged by one reviewer only: A {res['only_in_a']}, B {res['only_in_b']}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from kinmo_core.annotate.annotations import read_annotations, write_json_atomic
    from kinmo_core.annotate.evaluate import evaluate_annotations, format_report
    from kinmo_core.errors import KinmoInputError

    if args.output is not None and args.output.exists() and not args.overwrite:
        raise KinmoInputError(f"{args.output}: already exists; pass --overwrite to replace it")
    report = evaluate_annotations(args.dataset, read_annotations(args.annotations), split=args.split)
    if args.output is not None:
        write_json_atomic(args.output, report)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _run_labels(args: argparse.Namespace) -> int:
    from kinmo_core.annotate.annotations import read_annotations
    from kinmo_core.annotate.evaluate import BANDAI_LABEL_PATTERN, format_label_table, label_table

    table = label_table(read_annotations(args.annotations), args.pattern or BANDAI_LABEL_PATTERN)
    print(json.dumps(table, indent=2) if args.json else format_label_table(table, args.top))
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch to annotating a dataset or to one of the review/evaluation sub-commands."""
    argv = list(args.argv)
    if not argv:
        print("usage: " + USAGE, file=sys.stderr)
        return 2
    name = argv[0]
    table = {
        "sample": (_sample_parser, _run_sample),
        "agreement": (_agreement_parser, _run_agreement),
        "evaluate": (_evaluate_parser, _run_evaluate),
        "labels": (_labels_parser, _run_labels),
    }
    make, func = table.get(name, (_dataset_parser, _run_dataset))
    rest = argv[1:] if name in table else argv
    try:
        sub = make().parse_args(rest)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    if getattr(args, "debug", False):
        sub.debug = True
    return func(sub)
