"""Speed and memory of text-to-motion generation on this machine (targets from issue 6).

    python benchmarks/bench_generate.py [--model DIR] [--repeats 10] [--threads 2]

Measures, for a 196-frame motion: loading the pipeline (fresh process: imports + weights; and weights alone), one
motion at batch 1 through the whole pipeline (Reasoner when the model has one, three levels, residual layers, RVQ
decoding; with and without building the Motion: joints and rotations), peak resident memory of a process that
loads and generates, and motions per second at batch 32. Every timed batch-1 call gets a prompt it has not seen
(the hand-written Reasoner prompts), so caches of earlier prompts help only as much as they would a user.
Without --model it uses the packaged default model, or, when that is absent, untrained components of the default
sizes (same cost; the table says which).
Targets: batch-1 generation <= 0.5 s, loading <= 3 s, peak memory < 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = "a person waves with the left hand while stepping to the right"
FRAMES = 196

CHILD = r"""
import json, resource, sys, time, warnings
t0 = time.perf_counter()
from kinmo_core.pipeline import KinMoPipeline
import torch
torch.set_num_threads({threads})
pipe = KinMoPipeline.from_pretrained({model!r})
t_load = time.perf_counter() - t0
warnings.simplefilter("ignore")
t1 = time.perf_counter()
pipe({prompt!r}, frames={frames}, seed=0, cleanup={cleanup})
t_first = time.perf_counter() - t1
print(json.dumps({{"load_s": t_load, "first_s": t_first,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _descriptions():
    from kinmo_core.motion.kinematic import GROUPS, PAIRS

    return {"groups": {g: f"the {g.replace('_', ' ')} moves as the prompt says" for g in GROUPS},
            "interactions": {p: "the two parts stay apart" for p in PAIRS}}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a results table."""
    import torch

    from kinmo_core.pipeline import DEFAULT_PATH, PIPELINE_FILE, KinMoPipeline, random_pipeline

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--no-cleanup", action="store_true", help="time the pipeline without its foot/jitter cleanup")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tmp = None
    if args.model:
        model, what = args.model, args.model
    elif (DEFAULT_PATH / PIPELINE_FILE).is_file():
        model, what = str(DEFAULT_PATH), "packaged default model"
    else:
        tmp = tempfile.TemporaryDirectory()
        model = str(Path(tmp.name) / "pipe")
        random_pipeline("default").save_pretrained(model)
        what = "untrained components of the default sizes (default model not installed)"
    child = subprocess.run([sys.executable, "-c", CHILD.format(threads=args.threads, model=model, prompt=PROMPT,
                                                              frames=FRAMES, cleanup=not args.no_cleanup)],
                           cwd=ROOT, capture_output=True, text=True, check=True)
    fresh = json.loads(child.stdout.strip().splitlines()[-1])

    t0 = time.perf_counter()
    pipe = KinMoPipeline.from_pretrained(model)
    load_warm = time.perf_counter() - t0
    desc = None if pipe.has_reasoner else _descriptions()
    for _ in range(2):  # warm-up: first calls pay one-time kernel setup
        pipe(PROMPT, frames=FRAMES, seed=0, descriptions=desc, cleanup=not args.no_cleanup)

    def timed(fn) -> list[float]:
        out = []
        for r in range(args.repeats):
            t = time.perf_counter()
            fn(r)
            out.append(time.perf_counter() - t)
        return out

    from kinmo_core.eval.reasoner_prompts import REASONER_PROMPTS

    fresh_prompts = iter(p.text for p in REASONER_PROMPTS)
    if 4 * args.repeats > len(REASONER_PROMPTS):
        raise SystemExit(f"--repeats at most {len(REASONER_PROMPTS) // 4} (one new prompt per timed call)")
    feats_only = timed(lambda r: pipe.generate_features([next(fresh_prompts)], FRAMES, seed=r,
                                                        descriptions=[desc] if desc else None))
    whole = timed(lambda r: pipe(next(fresh_prompts), frames=FRAMES, seed=r, descriptions=desc,
                                 cleanup=not args.no_cleanup))
    level1 = timed(lambda r: pipe.generate_features([next(fresh_prompts)], FRAMES, seed=r, levels=1))
    reasoner_s = None
    if pipe.has_reasoner:
        reasoner_s = statistics.median(timed(lambda r: pipe.expand([next(fresh_prompts)], seed=r)))
    texts = [f"{PROMPT} {i}" for i in range(args.batch)]
    batch_descs = None if pipe.has_reasoner else [desc] * args.batch
    pipe.generate_features(texts, FRAMES, seed=0, descriptions=batch_descs)
    bt = timed(lambda r: pipe.generate_features(texts, FRAMES, seed=r, descriptions=batch_descs))
    mps = args.batch / statistics.median(bt)

    med = statistics.median
    rows = [
        ("model", what, ""),
        ("torch threads", str(args.threads), ""),
        ("foot-contact and jitter cleanup", "off" if args.no_cleanup else "on", ""),
        ("load, fresh process (imports + weights)", f"{fresh['load_s']:.2f} s", "<= 3 s"),
        ("load, weights only (torch imported)", f"{load_warm:.2f} s", ""),
        ("first motion in a fresh process", f"{fresh['first_s']:.2f} s", ""),
        (f"batch 1, {FRAMES} frames, 3 levels, tokens to features", f"{med(feats_only):.3f} s", "<= 0.5 s"),
        ("  same, 90th percentile", f"{statistics.quantiles(feats_only, n=10)[-1]:.3f} s", ""),
        (f"batch 1, {FRAMES} frames, 3 levels, to a Motion (joints, rotations)", f"{med(whole):.3f} s", "<= 0.5 s"),
        (f"batch 1, {FRAMES} frames, global level only", f"{med(level1):.3f} s", ""),
        ("Motion Reasoner, one prompt", f"{reasoner_s:.3f} s" if reasoner_s is not None else "no reasoner in model",
         ""),
        (f"batch {args.batch}, {FRAMES} frames, 3 levels", f"{mps:.1f} motions/s", ""),
        ("peak memory (fresh process: load + one motion)", f"{fresh['peak_mb']:.0f} MB", "< 1536 MB"),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  {'result':>24}  target")
    for name, value, target in rows:
        print(f"{name:<{w}}  {value:>24}  {target}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
