"""Query latency of the retrieval index over 100,000 motions (target: below 20 ms per query after text encoding).

Embeddings are random unit vectors of the HTMA retrieval size (3 levels x 256 = 768), Guo's evaluator size (512)
and one HTMA level (256).
Each query is one already-encoded text vector; the time covers normalising it, scoring every motion (a float16 scan,
then float32 rescoring of its best candidates: see `kinmo_core.retrieval.index`), the top-k
partition and building the result list. Run: `python benchmarks/bench_retrieval_index.py [--motions 100000]`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kinmo_core.retrieval.index import RetrievalIndex

TARGET_MS = 20.0


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_dim(dim: int, args: argparse.Namespace, rng: np.random.Generator) -> tuple:
    """Build, query, save and load an index of `dim`-d embeddings; return the row of figures."""
    emb = rng.standard_normal((args.motions, dim), dtype=np.float32)
    ids = [f"m{i:06d}" for i in range(args.motions)]
    t0 = time.perf_counter()
    index = RetrievalIndex.build(emb, ids, ids, model_version="bench")
    build_s = time.perf_counter() - t0
    del emb
    queries = rng.standard_normal((args.queries, dim), dtype=np.float32)
    for q in queries[:5]:  # warm-up: page the matrix in, start BLAS threads
        index.query(q, args.k)
    lat = np.array([timed(lambda q=q: index.query(q, args.k))
                    for q in tqdm(queries, desc=f"queries D={dim}", leave=False)]) * 1000
    batch_s = timed(lambda: index.search(queries, args.k))
    with tempfile.TemporaryDirectory() as tmp:
        save_s = timed(lambda: index.save(Path(tmp) / "index"))
        load_s = timed(lambda: RetrievalIndex.load(Path(tmp) / "index", expected_version="bench"))
    return (dim, build_s, np.median(lat), np.percentile(lat, 95), lat.max(), 1000 * batch_s / len(queries),
            save_s, load_s)


def main() -> None:
    """Run the benchmark and print a results table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--motions", type=int, default=100_000)
    ap.add_argument("--dims", type=int, nargs="+", default=[768, 512, 256])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    rows = [bench_dim(dim, args, rng) for dim in args.dims]

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"retrieval index: {args.motions} motions, k={args.k}, {args.queries} queries, {os.cpu_count()} CPUs "
          f"(load average {load}), target p95 < {TARGET_MS:.0f} ms per query")
    print(f"{'dim':>5} {'build s':>8} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'batched ms/q':>13} "
          f"{'save s':>7} {'load s':>7}  target")
    for dim, build_s, med, p95, mx, per_q, save_s, load_s in rows:
        ok = "met" if p95 < TARGET_MS else "MISSED"
        print(f"{dim:>5} {build_s:>8.2f} {med:>10.2f} {p95:>8.2f} {mx:>8.2f} {per_q:>13.2f} {save_s:>7.2f} "
              f"{load_s:>7.2f}  {ok}")


if __name__ == "__main__":
    main()
