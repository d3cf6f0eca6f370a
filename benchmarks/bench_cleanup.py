"""Cost of the pipeline's foot-contact and jitter cleanup (issue 21: the default pipeline must not get slower).

    python benchmarks/bench_cleanup.py [--model DIR] [--prompts 24] [--frames 196] [--threads 1]

One process generates `--prompts` fresh prompts (the hand-written Reasoner prompts) at batch 1, each once with the
cleanup and once without, in alternating order (so the first call on a prompt, which embeds its descriptions, is
shared fairly), and times the cleanup (`motion.cleanup.clean_features`) alone on each result. Reports CPU seconds
(`time.process_time`), which a machine loaded by other jobs changes far less than wall time, and wall seconds.
Without --model it uses the packaged default model, or untrained components of the default sizes when it is absent.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the medians."""
    import torch

    from kinmo_core.eval.reasoner_prompts import REASONER_PROMPTS
    from kinmo_core.motion.cleanup import clean_features
    from kinmo_core.pipeline import DEFAULT_PATH, PIPELINE_FILE, KinMoPipeline, random_pipeline

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--prompts", type=int, default=24)
    p.add_argument("--frames", type=int, default=196)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    if args.model or (DEFAULT_PATH / PIPELINE_FILE).is_file():
        pipe, what = KinMoPipeline.from_pretrained(args.model), args.model or "packaged default model"
    else:
        pipe, what = random_pipeline("default"), "untrained components of the default sizes"
    for _ in range(2):  # warm-up: one-time kernel setup
        pipe("a person waves with the left hand while stepping to the right", frames=args.frames, seed=0)
    texts = [q.text for q in REASONER_PROMPTS][: args.prompts]
    cpu = {True: [], False: []}
    wall = {True: [], False: []}
    alone = []
    for i, text in enumerate(texts):
        for cleanup in ((False, True) if i % 2 == 0 else (True, False)):
            c, w = time.process_time(), time.perf_counter()
            m = pipe(text, frames=args.frames, seed=i, cleanup=cleanup)
            cpu[cleanup].append(time.process_time() - c)
            wall[cleanup].append(time.perf_counter() - w)
        c = time.process_time()
        clean_features(m.features)
        alone.append(time.process_time() - c)
    med = statistics.median
    print(f"model: {what}; {len(texts)} prompts, {args.frames} frames, batch 1, {args.threads} torch thread(s)")
    print("| measure | cleanup off | cleanup on |\n|---|---|---|")
    print(f"| whole pipeline, CPU s (median) | {med(cpu[False]):.3f} | {med(cpu[True]):.3f} |")
    print(f"| whole pipeline, wall s (median) | {med(wall[False]):.3f} | {med(wall[True]):.3f} |")
    print(f"| the cleanup alone, CPU ms (median) | - | {1000 * med(alone):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
