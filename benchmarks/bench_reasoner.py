"""Speed of the Motion Reasoner: latency per caption at batch 1 and throughput at batch 32.

End to end (`MotionReasoner.reason`: token features, decoding, validation) with the default model or `--model PATH`
when one is there; always also the bare decoder at the default training sizes with randomly initialised weights,
forced to write every field to the full length (the worst case: a trained model stops each field at its EOS).
Run: `python benchmarks/bench_reasoner.py [--model PATH] [--threads N]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kinmo_core.models.description_decoder import EOS, ReasonerConfig, ReasonerModel  # noqa: E402

CAPTIONS = [
    "a person walks forward and waves with the left hand",
    "someone jogs in place while clapping",
    "the man kicks with his right leg",
    "a woman squats down, then raises both arms",
    "a person hops on the left foot while shaking the head",
    "someone bows and then looks to the right",
    "a figure marches with the hands on the hips",
    "a person kneels on the right knee and points forward with the left hand",
]


CPU: list[float] = []
"""Process CPU seconds of each timed call: on a shared machine, CPU time per thread estimates the idle wall time."""


def _time(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        out.append(time.perf_counter() - t)
        CPU.append((time.process_time() - c) / torch.get_num_threads())
    return out


def _cpu_note(n: int) -> str:
    cpu = statistics.median(CPU[-n:])
    return f" (CPU time / threads {cpu * 1000:.1f} ms)"


def bench_end_to_end(path: str | None, repeats: int) -> list[tuple[str, str]]:
    """Rows for MotionReasoner.reason at batch 1 and 32, or a note when no trained model is available."""
    from kinmo_core.errors import KinmoModelError
    from kinmo_core.reasoner import MotionReasoner

    try:
        reasoner = MotionReasoner.from_pretrained(path)
    except KinmoModelError as exc:
        return [("end to end", f"skipped: {exc}")]
    lat = []
    start = len(CPU)
    for cap in CAPTIONS:
        lat += _time(lambda c=cap: reasoner.reason([c]), max(1, repeats // 2))
    lat_cpu = _cpu_note(len(CPU) - start)
    batch = (CAPTIONS * 4)[:32]
    thr = _time(lambda: reasoner.reason(batch), max(1, repeats // 3))
    return [
        ("end to end, batch 1: median latency", f"{statistics.median(lat) * 1000:.1f} ms per caption" + lat_cpu),
        ("end to end, batch 1: p90 latency", f"{sorted(lat)[int(0.9 * (len(lat) - 1))] * 1000:.1f} ms"),
        ("end to end, batch 32: throughput", f"{32 / statistics.median(thr):.1f} captions/s "
                                             f"({statistics.median(thr) * 1000:.0f} ms per batch)"),
    ]


def bench_decoder(repeats: int) -> list[tuple[str, str]]:
    """Rows for the bare decoder at the default sizes, every field written to max_len."""
    torch.manual_seed(0)
    cfg = ReasonerConfig(vocab_size=340, d_model=192, n_layers=3, n_heads=4, max_len=72)
    model = ReasonerModel(cfg).eval()
    with torch.no_grad():
        model.tok.weight[EOS] = 0.0  # zero logit: with random weights EOS then almost never wins
    text, mask = torch.randn(1, 14, 384), torch.ones(1, 14, dtype=torch.bool)
    one = _time(lambda: model.generate(text, mask), repeats)
    one_cpu = _cpu_note(repeats)
    t32, m32 = text.repeat(32, 1, 1), mask.repeat(32, 1)
    many = _time(lambda: model.generate(t32, m32), max(1, repeats // 3))
    steps = model.generate(text, mask).shape[-1]
    return [
        (f"decoder only (d=192, 3 layers, {steps} steps x 21 fields), batch 1",
         f"{statistics.median(one) * 1000:.1f} ms per caption" + one_cpu),
        ("decoder only, worst case, batch 32", f"{32 / statistics.median(many):.1f} captions/s"),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="reasoner folder (default: the bundled default model)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = bench_end_to_end(args.model, args.repeats) + bench_decoder(args.repeats)
    width = max(len(r[0]) for r in rows)
    print(f"Motion Reasoner speed (torch {torch.__version__}, {torch.get_num_threads()} threads)")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
