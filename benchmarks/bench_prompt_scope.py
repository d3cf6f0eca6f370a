"""Benchmark: out-of-distribution prompt warnings of the default model on 100 in-scope and 100 out-of-scope prompts.

Targets: warning rate below 5% on benchmarks/fixtures/prompts_in_scope.txt and above 80% on prompts_out_of_scope.txt
(lists written by hand, kept apart from the calibration prompts). Run: `python benchmarks/bench_prompt_scope.py`.
Prints the rates, the score distribution of each list, the prompts on the wrong side and the time per prompt.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "benchmarks" / "fixtures"
IN_TARGET, OUT_TARGET = 0.05, 0.80


def read_prompts(path: Path) -> list[str]:
    """Prompts of a list file (one a line, # comments)."""
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and ln[0] != "#"]


def main() -> int:
    """Score both lists; exit 1 if a target is missed."""
    import torch

    from kinmo_core.conditioning import get_minilm
    from kinmo_core.pipeline import DEFAULT_PATH, minilm_encode
    from kinmo_core.text.scope import PromptScope

    torch.set_num_threads(1)
    scope = PromptScope.load(DEFAULT_PATH, encode=minilm_encode)
    if scope is None:
        print(f"error: {DEFAULT_PATH} has no prompt scope; run scripts/build_prompt_scope.py", file=sys.stderr)
        return 2
    ins, outs = read_prompts(FIXTURES / "prompts_in_scope.txt"), read_prompts(FIXTURES / "prompts_out_of_scope.txt")
    get_minilm().encode(["warm up"])
    t0 = time.perf_counter()
    s_in = scope.scores(ins)
    s_out = scope.scores(outs)
    per_prompt = (time.perf_counter() - t0) / (len(ins) + len(outs))
    t1 = time.perf_counter()
    scope.scores(["a person plays the violin"])
    single = time.perf_counter() - t1
    thr = scope.threshold
    rate_in, rate_out = float((s_in < thr).mean()), float((s_out < thr).mean())
    print(f"prompt scope of {DEFAULT_PATH.name}: {len(scope.embeddings)} stored captions "
          f"({scope.meta.get('distinct', '?')} distinct, cover {scope.meta.get('cover_similarity', '?')}), "
          f"threshold {thr:.3f}")  # fmt: skip
    for name, s, rate, target, ok in (("in-scope", s_in, rate_in, f"< {IN_TARGET:.0%}", rate_in < IN_TARGET),
                                      ("out-of-scope", s_out, rate_out, f"> {OUT_TARGET:.0%}", rate_out > OUT_TARGET)):
        q = np.percentile(s, [0, 10, 50, 90, 100])
        print(f"{name:>13}: {len(s)} prompts, warned {rate:.0%} (target {target}: {'ok' if ok else 'MISS'}); "
              f"similarity min {q[0]:.3f} p10 {q[1]:.3f} median {q[2]:.3f} p90 {q[3]:.3f} max {q[4]:.3f}")
    for text, s in zip(ins, s_in, strict=True):
        if s < thr:
            print(f"  in-scope but warned   {s:.3f}  {text}")
    for text, s in zip(outs, s_out, strict=True):
        if s >= thr:
            print(f"  out-of-scope, no warning {s:.3f}  {text}")
    print(f"time: {1000 * per_prompt:.1f} ms per prompt in a batch of {len(ins) + len(outs)}, "
          f"{1000 * single:.1f} ms for one prompt (encoder loaded)")
    return 0 if rate_in < IN_TARGET and rate_out > OUT_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
