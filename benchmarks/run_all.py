"""Run every benchmarks/bench_*.py in its own process, show its output, then a table of status and wall time."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks (all, or those whose name contains one of the given words); return 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help="run only benchmarks whose file name contains one of these words")
    args = parser.parse_args(argv)
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not args.only or any(w in p.name for w in args.only))
    if not scripts:
        print("no benchmarks found" + (f" matching {args.only}" if args.only else ""), file=sys.stderr)
        return 1
    rows = []
    for script in scripts:
        print(f"=== {script.name}", flush=True)
        start = time.perf_counter()
        code = subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode
        rows.append((script.name, "ok" if code == 0 else f"FAILED ({code})", time.perf_counter() - start))
        print(flush=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'status':<12}  wall (s)")
    for name, status, seconds in rows:
        print(f"{name:<{width}}  {status:<12}  {seconds:8.1f}")
    return 0 if all(r[1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
