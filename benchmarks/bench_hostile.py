"""Hostile-input run: every case of tests/hostile.py (the quick test leaves the slow ones out) plus real-process
cases (closed pipes, a file-size limit, racing writers, hostile bytes on the worker's pipe), each in its own process.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_hostile.py [--timeout 120] [--mem-limit-gb 2] [-k TEXT]
        [--code-root OTHER_CHECKOUT]   # the same catalogue against other code, e.g. before these fixes

Each catalogue case runs in a forked child (the libraries are imported once, so a case costs its own work only)
under an address-space limit of --mem-limit-gb above the parent's, so a case that tries to allocate without bound
fails inside the child instead of taking the machine down. Prints a table: kinds tried, clean outcomes, tracebacks,
hangs, files lost or clobbered, and the peak memory of the worst case (resident memory above the warm parent).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# --code-root DIR: judge another checkout's kinmo_core (e.g. the code before these fixes) with this catalogue.
CODE = Path(sys.argv[sys.argv.index("--code-root") + 1]).resolve() if "--code-root" in sys.argv else ROOT
sys.path[:0] = [str(CODE), str(ROOT / "tests")]

import hostile  # noqa: E402  (the catalogue lives with the tests)


@dataclass
class Outcome:
    """What happened to one kind."""

    kind: str
    group: str
    problems: list[str] = field(default_factory=list)
    traceback: bool = False
    hang: bool = False
    files: bool = False
    peak_mb: float = 0.0  # peak of the case's own Python/numpy allocations (tracemalloc)
    rss_mb: float = 0.0  # peak resident size of the process running it (libraries included)
    seconds: float = 0.0


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _child(spec: hostile.Cli | hostile.Worker, folder: Path, out: Path, err: Path, mem_limit: int) -> None:
    """Run in the forked child: run the case, exit with its code (99: an exception escaped).

    Memory is measured two ways and written to OUT.mem: the peak of Python and numpy allocations made by the case
    (tracemalloc; numpy reports its buffers to it) and the process's peak resident size (VmHWM, which includes the
    libraries loaded before the fork).
    """
    import tracemalloc

    code = 99
    try:
        resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))
        tracemalloc.start()
        fo = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        fe = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fo, 1)
        os.dup2(fe, 2)
        if isinstance(spec, hostile.Cli):
            from kinmo_core.cli.main import main

            code = main(spec.argv)
        else:
            from kinmo_core.cli.worker import serve

            src = folder / "stdin.bin"
            src.write_bytes(hostile.worker_input(spec))
            import inspect

            confined = "allowed_dirs" in inspect.signature(serve).parameters  # older workers had no such option
            with open(src, encoding="utf-8", errors="replace") as stdin:
                code = serve(stdin, sys.stdout, sys.stderr, **({"allowed_dirs": [folder / "allowed"]} if confined
                                                                else {}))
            src.unlink()
        code = int(code)
    except BaseException:  # noqa: BLE001  (anything escaping is the failure this run looks for)
        traceback.print_exc()
        code = 99
    try:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        Path(str(out) + ".mem").write_text(f"{peak} {_hwm_mb()}")
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def run_case(c: hostile.Case, timeout: float, mem_limit: int) -> Outcome:
    """Build one catalogue case here, run it in a forked child, and judge it."""
    folder = Path(tempfile.mkdtemp(prefix="kinmo-hostile-"))
    out, err = folder.parent / f"{folder.name}.out", folder.parent / f"{folder.name}.err"
    result = Outcome(c.kind, c.group)
    (folder / "allowed").mkdir()
    spec = c.build(folder)  # built here, so the file checks look at the folder the child works in
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        _child(spec, folder, out, err, mem_limit)
    status, usage = 0, None
    while True:
        got, status, usage = os.wait4(pid, os.WNOHANG)
        if got:
            break
        if time.perf_counter() - start > timeout:
            os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            result.hang = True
            break
        time.sleep(0.005)
    result.seconds = time.perf_counter() - start
    mem = Path(str(out) + ".mem")
    if mem.exists():
        peak, hwm = mem.read_text().split()
        result.peak_mb, result.rss_mb = float(peak), float(hwm)
        mem.unlink()
    else:
        result.rss_mb = usage.ru_maxrss / 1024 if usage else 0.0
    code = os.waitstatus_to_exitcode(status)
    stdout = out.read_text(errors="replace") if out.exists() else ""
    stderr = err.read_text(errors="replace") if err.exists() else ""
    if result.hang:
        result.problems.append(f"hang (killed after {timeout:g} s)")
    elif code == 99 or code < 0:
        result.problems.append(f"died: exit {code}: {stderr.strip().splitlines()[-1:]}")
    elif isinstance(spec, hostile.Cli):
        result.problems += hostile.judge_cli(spec, code, stdout, stderr, folder)
    else:
        result.problems += hostile.judge_worker(spec, stdout, code, folder)
    result.traceback = "Traceback" in stderr and "--debug" not in getattr(spec, "argv", [])
    result.files = any(w in p for p in result.problems for w in ("lost", "replaced", "written", "created"))
    shutil.rmtree(folder, ignore_errors=True)
    out.unlink(missing_ok=True)
    err.unlink(missing_ok=True)
    return result


# ---------------------------------------------------------------------------------------- real processes
def _proc_cases(tmp: Path) -> list[tuple[str, Callable[[], list[str]]]]:
    env = {**os.environ, "PYTHONPATH": str(CODE)}
    py = sys.executable
    src = tmp / "in.npz"
    src.write_bytes(hostile.base_npz())

    def sh(cmd: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp)

    def closed_pipe(command: str) -> Callable[[], list[str]]:
        # `head -c 0` exits before the command writes: its first write meets a closed pipe.
        def run() -> list[str]:
            r = sh(f"{py} -m kinmo_core.cli.main {command} | head -c 0; echo code=${{PIPESTATUS[0]}}")
            ok = r.stderr == "" and r.stdout.strip() in ("code=141", "code=0")
            return [] if ok else [f"{r.stdout.strip()} stderr {r.stderr[-150:]!r}"]

        return run

    info_head = closed_pipe(f"info {src}")
    info_json_head = closed_pipe(f"info {src} --json")
    reason_head = closed_pipe("reason 'a person waves' --json")

    def efbig() -> list[str]:
        script = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
                  "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)); "
                  "from kinmo_core.cli.main import main; sys.exit(main(sys.argv[1:]))")
        r = subprocess.run([py, "-c", script, "convert", str(src), "-o", str(tmp / "big.bvh")], capture_output=True,
                           text=True, timeout=180, env=env, cwd=tmp)
        ok = r.returncode == 1 and r.stderr.count("\n") == 1 and not (tmp / "big.bvh").exists()
        return [] if ok else [f"exit {r.returncode} {r.stderr[-200:]!r}"]

    def race() -> list[str]:
        dst = tmp / "race.bvh"
        procs = [subprocess.Popen([py, "-m", "kinmo_core.cli.main", "convert", str(src), "-o", str(dst)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp)
                 for _ in range(4)]
        codes = [p.wait(timeout=180) for p in procs]
        errs = [p.stderr.read() for p in procs]
        ok = sorted(codes) == [0, 2, 2, 2] and all("already exists" in e for e, c in zip(errs, codes, strict=True) if c)
        return [] if ok else [f"codes {codes}: files clobbered? {errs}"]

    def seed_fast() -> list[str]:
        t = time.perf_counter()
        r = sh(f"{py} -m kinmo_core.cli.main generate 'a person walks' -o {tmp / 'g'} --seed {2**70}")
        dt = time.perf_counter() - t
        return [] if r.returncode == 2 and dt < 20 and r.stderr.count("\n") == 1 else [f"{r.returncode} {dt:.1f}s"]

    def worker_pipe() -> list[str]:
        data = b"\xff\xfe\n" + b"{" * 200_000 + b"\n" + b'{"id": [1], "method": "ping"}\n' + \
            b'{"method": "cancel", "params": "x"}\n' + b'{"id": 9, "method": "ping"}\n'
        r = subprocess.run([py, "-m", "kinmo_core.cli.main", "worker", "--allow-dir", str(tmp)], input=data,
                           capture_output=True, timeout=180, env=env, cwd=tmp)
        ok = r.returncode == 0 and b'"id":9,"result"' in r.stdout and b"Traceback" not in r.stderr
        return [] if ok else [f"exit {r.returncode} {r.stderr[-200:]!r}"]

    def worker_eof_mid_line() -> list[str]:
        r = subprocess.run([py, "-m", "kinmo_core.cli.main", "worker"], input=b'{"id": 1, "method": "pi',
                           capture_output=True, timeout=180, env=env, cwd=tmp)
        return [] if r.returncode == 0 and b"Traceback" not in r.stderr else [f"exit {r.returncode}"]

    def worker_stdout_closed() -> list[str]:
        r = sh(f"(echo '{{\"id\": 1, \"method\": \"ping\"}}'; sleep 1; echo '{{\"id\": 2, \"method\": \"ping\"}}') | "
               f"{py} -m kinmo_core.cli.main worker | head -c 1 >/dev/null")
        return [] if "Traceback" not in r.stderr else [f"stderr {r.stderr[-200:]!r}"]

    return [("process: kinmo info | head -c 0", info_head), ("process: kinmo info --json | head -c 0", info_json_head),
            ("process: kinmo reason --json | head -c 0", reason_head), ("process: file-size limit (EFBIG)", efbig),
            ("process: 4 converts racing to one output", race), ("process: --seed 2**70 fails fast", seed_fast),
            ("process: worker pipe with hostile bytes", worker_pipe),
            ("process: worker input ends mid-line", worker_eof_mid_line),
            ("process: worker stdout closed", worker_stdout_closed)]


def main() -> int:
    """Run every kind and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before a case counts as a hang")
    ap.add_argument("--mem-limit-gb", type=float, default=2.0, help="address space a case may add (GiB)")
    ap.add_argument("-k", default="", help="only kinds containing this text")
    ap.add_argument("--no-processes", action="store_true", help="leave out the real-process cases")
    ap.add_argument("--code-root", default=str(ROOT), help="checkout whose kinmo_core is tested (default: this one)")
    args = ap.parse_args()

    import kinmo_core.cli.main  # noqa: F401  (warm imports, shared by every forked child)
    import kinmo_core.cli.worker  # noqa: F401
    import kinmo_core.motion  # noqa: F401

    hostile.base_bvh()
    hostile.base_npz()
    mem_limit = _vm_bytes() + int(args.mem_limit_gb * 2**30)
    cases = [c for c in hostile.CASES if args.k in c.kind]
    outcomes: list[Outcome] = []
    t0 = time.perf_counter()
    for i, c in enumerate(cases):
        o = run_case(c, args.timeout, mem_limit)
        outcomes.append(o)
        mark = "ok " if not o.problems else "BAD"
        print(f"[{i + 1:3d}/{len(cases)}] {mark} {o.seconds:6.2f}s {o.peak_mb:7.1f} MB {o.rss_mb:6.0f} MB  {c.kind}"
              + (f"  -> {o.problems}" if o.problems else ""), file=sys.stderr)
    if not args.no_processes:
        tmp = Path(tempfile.mkdtemp(prefix="kinmo-hostile-proc-"))
        for kind, fn in _proc_cases(tmp):
            if args.k not in kind:
                continue
            start = time.perf_counter()
            o = Outcome(kind, "process")
            try:
                o.problems = fn()
            except subprocess.TimeoutExpired:
                o.hang, o.problems = True, ["hang"]
            except Exception as e:  # noqa: BLE001
                o.problems = [f"{type(e).__name__}: {e}"]
            o.traceback = any("Traceback" in p or "Error: " in p for p in o.problems)
            o.files = any("clobbered" in p for p in o.problems)
            o.seconds = time.perf_counter() - start
            outcomes.append(o)
            print(f"[proc] {'ok ' if not o.problems else 'BAD'} {o.seconds:6.2f}s  {kind}"
                  + (f"  -> {o.problems}" if o.problems else ""), file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.perf_counter() - t0

    worst = max(outcomes, key=lambda o: o.peak_mb)
    groups = sorted({o.group for o in outcomes})
    print("\n| group | kinds tried | clean | tracebacks | hangs | files lost or clobbered | worst case: peak "
          "allocations (peak RSS) |")
    print("|---|---|---|---|---|---|---|")
    for g in [*groups, "all"]:
        sel = [o for o in outcomes if g in ("all", o.group)]
        w = max(sel, key=lambda o: o.peak_mb)
        mem = f"{w.peak_mb:.1f} MB ({w.rss_mb:.0f} MB), {w.kind}" if w.rss_mb else "- (separate processes)"
        print(f"| {g} | {len(sel)} | {sum(not o.problems for o in sel)} | {sum(o.traceback for o in sel)} | "
              f"{sum(o.hang for o in sel)} | {sum(o.files for o in sel)} | {mem} |")
    print(f"\ncode: {CODE}")
    print(f"{len(outcomes)} kinds in {wall:.0f} s; worst case {worst.kind!r}: {worst.peak_mb:.1f} MB allocated at "
          f"peak, {worst.rss_mb:.0f} MB peak RSS; largest peak RSS of a case's process: "
          f"{max(o.rss_mb for o in outcomes):.0f} MB; slowest: {max(outcomes, key=lambda o: o.seconds).kind!r} "
          f"({max(o.seconds for o in outcomes):.1f} s)")
    bad = [o for o in outcomes if o.problems]
    for o in bad:
        print(f"NOT CLEAN: {o.kind}: {o.problems}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
