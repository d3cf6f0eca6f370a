"""Retrieval and sides (issue 21): for prompts that name a side, how often the top-1 retrieved motion has the other
side's action (target: at most 5% of queries).

The 216 left/right part-following prompts (`kinmo_core.eval.part_prompts`; the 18 up/down looks have no side) are
searched with HTMA text-to-motion retrieval, the code `kinmo retrieve --text ... --motions DIR` runs, with the Motion
Reasoner's descriptions of the query as a user's query gets them, over a gallery of the test splits of the given
folders (originals and mirrors), encoded once in memory. Each retrieved motion is judged on its joints with the
prompt's check and its mirror check (`kinmo_core.eval.retrieval_side`); figures for the top-1 motion and the share
of the top k, overall and per check.

Run: `python benchmarks/bench_retrieval_side.py --threads 1 [--htma runs/v2/htma] [--reasoner DIR] [--json OUT]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kinmo_core.eval.retrieval_side import (  # noqa: E402
    gallery_figures,
    htma_rankings,
    judge_rankings,
    load_gallery,
    side_prompts,
)

DATA = ROOT / "data"
DEFAULT_FOLDERS = [DATA / "synth20k", DATA / "bandai", DATA / "bandai2", DATA / "synthknee"]  # `make data` builds them
TARGET = 0.05


def _row(name: str, n: int, r: dict) -> str:
    t1, tk = r["top1"], r["topk"]
    pairs = r.get("mirror_pairs")
    pair = f"{pairs['picked_followed']:.0%} of {pairs['decisive_pairs']}" if pairs and pairs["decisive_pairs"] else "-"
    return (f"| {name} | {n} | {t1['other_side_acts']:.1%} | {t1['other_side_only']:.1%} / {t1['both_sides_act']:.1%} "
            f"| {t1['named_side_acts']:.1%} | {t1['followed']:.1%} | {tk['other_side_acts']:.1%} | "
            f"{tk['named_side_acts']:.1%} | {tk['followed']:.1%} | {pair} |")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--htma", type=Path, default=None, help="HTMA folder (default: the shipped model)")
    parser.add_argument("--reasoner", type=Path, default=None, help="Motion Reasoner folder (default: shipped)")
    parser.add_argument("--data", type=Path, nargs="+", default=DEFAULT_FOLDERS,
                        help="gallery folders, HumanML3D layout (default: data/synth20k data/bandai data/bandai2 "
                             "data/synthknee, those present)")
    parser.add_argument("--split", nargs="+", default=["test"], help="split of each folder (one for all, or one "
                                                                      "per folder; 'all' for every motion)")
    parser.add_argument("--k", type=int, default=5, help="how many motions are judged per query (default 5)")
    parser.add_argument("--limit", type=int, default=None, help="first N sided prompts only")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write the figures and every query's results here")
    args = parser.parse_args(argv)
    import torch

    from kinmo_core.alignment import HTMAAligner
    from kinmo_core.reasoner import load_reasoner

    torch.set_num_threads(args.threads)
    present = [d for d in args.data if d.is_dir()]
    for d in args.data:
        if not d.is_dir():
            print(f"skipped {d}: no such folder (import it with `kinmo corpus synth` / `kinmo corpus import-bvh`)")
    if not present:
        print("no gallery folder found: pass --data FOLDER ...", file=sys.stderr)
        return 2
    if len(args.split) == len(args.data) > 1:
        args.split = [s for d, s in zip(args.data, args.split, strict=True) if d.is_dir()]
    args.data = present
    t0 = time.perf_counter()
    c0 = time.process_time()
    aligner = HTMAAligner.from_pretrained(args.htma)
    reasoner = load_reasoner(args.reasoner) if aligner.levels > 1 else None
    prompts = side_prompts()[: args.limit]
    gallery = load_gallery(args.data, args.split)
    rankings, descriptions = htma_rankings(aligner, gallery, [p.text for p in prompts], args.k, reasoner)
    report = judge_rankings(prompts, rankings, gallery.joints, args.k, progress=True, counterpart=gallery.counterpart)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    # the ceiling: how many gallery motions follow each check, per side (not part of the timing)
    available = gallery_figures(gallery.ids, gallery.joints, prompts, progress=True)
    k = report["k"]
    per_folder = Counter(i.split("/")[0] for i in gallery.ids)
    print(f"{len(prompts)} sided prompts, gallery {len(gallery.ids)} motions "
          f"({', '.join(f'{n} {c}' for n, c in per_folder.items())}; split {' '.join(args.split)}), "
          f"HTMA {args.htma or 'shipped'} ({aligner.levels} levels), Reasoner {args.reasoner or 'shipped'}")
    print(f"| check | prompts | top-1: other side acts (target <= {TARGET:.0%}) | top-1: other side only / both "
          f"| top-1: named side acts | top-1: followed | top-{k}: other side acts | top-{k}: named side acts | "
          f"top-{k}: followed | mirror pairs: followed one ranked first |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(_row("**all**", report["count"], report))
    for name, r in report["per_check"].items():
        print(_row(name, r["prompts"], r))
    print("\n| check | gallery motions followed, left / right (of all) |\n|---|---|")
    for name, c in available.items():
        print(f"| {name} | {c['left']} / {c['right']} (of {c['motions']}) |")
    verdict = "meets" if report["top1"]["other_side_acts"] <= TARGET else "misses"
    print(f"\n{verdict} the target; {seconds:.0f} s wall, {cpu:.0f} s CPU, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")
    if args.json:
        for q, d in zip(report["queries"], descriptions, strict=False):
            q["descriptions"] = d
        report.update({"htma": str(args.htma or "shipped"), "reasoner": str(args.reasoner or "shipped"),
                       "gallery": {"folders": [str(d) for d in args.data], "splits": args.split,
                                   "motions": len(gallery.ids), "per_folder": dict(per_folder)},
                       "gallery_followed": available, "seconds": seconds, "cpu_seconds": cpu,
                       "threads": torch.get_num_threads()})
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, allow_nan=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
