"""The add-on's only way to KinMo's Python side: a persistent `kinmo worker` subprocess spoken to in JSON lines.

Blender's Python has no torch, so everything that needs kinmo_core runs in the worker, started with the Python
interpreter (or environment folder) set in the add-on's preferences or found by `detect_python`. This module is
plain Python (no bpy) so it is testable anywhere. See `kinmo_core/cli/worker.py` for the protocol.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

START_TIMEOUT_S = 60.0
"""How long a starting worker may take to say it is ready (importing numpy and kinmo_core)."""


class WorkerError(RuntimeError):
    """A request that failed: `kind` is the worker's error type or one of start, died, timeout, environment."""

    def __init__(self, message: str, kind: str = "internal", python: str = "") -> None:
        text = " ".join(str(message).split())
        # Anything but a complaint about the request itself names the interpreter, so a wrong setting shows.
        if python and kind not in _REQUEST_KINDS and python not in text:
            text += f" (KinMo Python: {python})"
        super().__init__(text)
        self.kind = kind
        self.python = python


_REQUEST_KINDS = ("input", "cancelled")
"""Error kinds about the request, not the worker: their messages do not name the interpreter."""


class Job:
    """One request in flight: its result or error once `done` is set, and the latest progress."""

    def __init__(self, job_id: int, method: str, on_progress: Callable[[float, str], None] | None) -> None:
        self.id = job_id
        self.method = method
        self.on_progress = on_progress
        self.done = threading.Event()
        self.result: dict | None = None
        self.error: WorkerError | None = None
        self.progress = 0.0
        self.message = ""

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the reply arrives; return False on timeout."""
        return self.done.wait(timeout)

    def get(self) -> dict:
        """Return the result, or raise the WorkerError the request ended with."""
        if self.error is not None:
            raise self.error
        return self.result or {}


def python_from_setting(setting: str) -> str:
    """Turn the preference value (a Python executable or an environment folder) into an executable path."""
    path = Path(os.path.expanduser(setting.strip()))
    if path.is_dir():
        for candidate in (path / "bin" / "python", path / "bin" / "python3", path / "Scripts" / "python.exe"):
            if candidate.is_file():
                return str(candidate)
        raise WorkerError(f"no Python interpreter in the environment folder {path}", kind="environment")
    if not path.is_file():
        raise WorkerError(f"the KinMo Python {path} does not exist; set it in the add-on preferences", "environment")
    return str(path)


def python_candidates() -> list[str]:
    """Interpreters worth trying, in order: $KINMO_PYTHON, a .venv beside this add-on's checkout, `kinmo` on PATH."""
    candidates = []
    if os.environ.get("KINMO_PYTHON"):
        candidates.append(os.environ["KINMO_PYTHON"])
    here = Path(__file__).resolve().parent
    for root in (here.parent, here.parent.parent):
        candidates += [str(root / ".venv" / "bin" / "python"), str(root / ".venv" / "Scripts" / "python.exe")]
    kinmo = shutil.which("kinmo")
    if kinmo:
        candidates += [str(Path(kinmo).parent / "python"), str(Path(kinmo).parent / "python.exe")]
    return list(dict.fromkeys(c for c in candidates if Path(c).is_file()))


_HAS_KINMO: dict[str, bool] = {}


def has_kinmo(python: str, timeout: float = 30.0) -> bool:
    """True when `python` can import kinmo_core (checked once per interpreter, in a short child process)."""
    if python not in _HAS_KINMO:
        probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('kinmo_core') else 3)"
        try:
            done = subprocess.run([python, "-c", probe], capture_output=True, timeout=timeout)
            _HAS_KINMO[python] = done.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _HAS_KINMO[python] = False
    return _HAS_KINMO[python]


def detect_python() -> str | None:
    """The first of `python_candidates()` that has KinMo (a bare environment, e.g. `make addon`'s .venv, is skipped)."""
    return next((c for c in python_candidates() if has_kinmo(c)), None)


def no_python_message() -> str:
    """Why detection found nothing: the interpreters it tried."""
    tried = python_candidates()
    where = f" (tried {', '.join(tried)}: none can import kinmo_core)" if tried else ""
    return f"no Python with KinMo found{where}; set the KinMo Python (or environment folder) in the add-on preferences"


def worker_command(python: str, allow_dirs: list[str] | None = None) -> list[str]:
    """The command line that starts a worker with the given Python, allowed to write only into `allow_dirs`.

    The add-on never names an output: the worker writes into new temporary folders, so by default it may write only
    into the system temporary folder.
    """
    dirs = [tempfile.gettempdir()] if allow_dirs is None else allow_dirs
    return [python, "-m", "kinmo_core.cli.main", "worker", *(a for d in dirs for a in ("--allow-dir", str(d)))]


class WorkerClient:
    """A persistent worker process: start, request/response by id, progress, cancel, timeout and restart."""

    def __init__(self, command: list[str], env: dict | None = None, start_timeout: float = START_TIMEOUT_S) -> None:
        self.command = list(command)
        self.python = self.command[0] if self.command else ""
        self.env = env
        self.start_timeout = start_timeout
        self.info: dict = {}
        self.restarts = 0
        self._proc: subprocess.Popen | None = None
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._start_lock = threading.Lock()  # a background warm-up and an operator may start it at the same time
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)

    # ------------------------------------------------------------------------------------------------ lifecycle
    def alive(self) -> bool:
        """True while the worker process runs."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the worker (if it is not running) and wait until it reports ready."""
        with self._start_lock:
            self._start()

    def _start(self) -> None:
        if self.alive():
            return
        if self._proc is not None:
            self.restarts += 1
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("HF_HUB_OFFLINE", "1")  # the worker never downloads anything
        self._ready.clear()
        self._stderr.clear()
        try:
            self._proc = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                encoding="utf-8", bufsize=1, env=env,
            )  # fmt: skip
        except OSError as e:
            self._proc = None
            reason = e.strerror or e
            raise WorkerError(f"cannot start the KinMo worker ({self.command[0]}): {reason}", "start",
                              self.python) from None
        proc = self._proc
        threading.Thread(target=self._read_stdout, args=(proc,), daemon=True, name="kinmo-client-out").start()
        threading.Thread(target=self._read_stderr, args=(proc,), daemon=True, name="kinmo-client-err").start()
        deadline = time.monotonic() + self.start_timeout
        while not self._ready.wait(0.05):
            if proc.poll() is not None or time.monotonic() > deadline:  # it died, or never got ready
                break
        if not self._ready.is_set() or not self.alive():
            self.stop()
            raise WorkerError(f"the KinMo worker did not start: {self._stderr_tail()}", "start", self.python)

    def stop(self) -> None:
        """Stop the worker: ask politely, then kill it. Pending requests fail with kind 'died'."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                self._write({"method": "shutdown"})
                proc.wait(timeout=2)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait(timeout=5)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
        self._fail_all("the KinMo worker was stopped", "died")

    # ------------------------------------------------------------------------------------------------ requests
    def submit(self, method: str, params: dict | None = None, on_progress=None) -> Job:
        """Send a request (starting or restarting the worker when needed) and return its Job at once."""
        self.start()
        job = Job(next(self._ids), method, on_progress)
        with self._lock:
            self._jobs[job.id] = job
        try:
            self._write({"id": job.id, "method": method, "params": params or {}})
        except (OSError, ValueError):
            with self._lock:
                self._jobs.pop(job.id, None)
            raise WorkerError(f"the KinMo worker stopped: {self._stderr_tail()}", "died", self.python) from None
        return job

    def request(self, method: str, params: dict | None = None, timeout: float | None = None, on_progress=None) -> dict:
        """Send a request and wait for its result; raise WorkerError on an error reply, a dead worker or a timeout."""
        job = self.submit(method, params, on_progress)
        if not job.wait(timeout):
            self.cancel(job.id)
            if not job.wait(2.0):
                # A worker that ignores a cancel is stuck: kill it; the next request starts a fresh one.
                self.stop()
                raise WorkerError(f"the KinMo worker took longer than {timeout:g} s for {method}", "timeout",
                                  self.python)
        return job.get()

    def cancel(self, job_id: int | None = None) -> int:
        """Ask the worker to cancel one request (or every pending one); return how many cancels were sent."""
        with self._lock:
            ids = [job_id] if job_id is not None else list(self._jobs)
        sent = 0
        for i in ids:
            try:
                self._write({"method": "cancel", "params": {"id": i}})
                sent += 1
            except (OSError, ValueError):
                break
        return sent

    def pending(self) -> list[Job]:
        """Requests sent and not yet answered."""
        with self._lock:
            return list(self._jobs.values())

    # ------------------------------------------------------------------------------------------------ plumbing
    def _write(self, obj: dict) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise OSError("no worker")
        with self._lock:
            proc.stdin.write(json.dumps(obj, separators=(",", ":")) + "\n")
            proc.stdin.flush()

    def _read_stdout(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                self._stderr.append(line.rstrip())  # stray output: keep it for error messages
                continue
            if msg.get("event") == "ready":
                self.info = msg
                self._ready.set()
                continue
            with self._lock:
                job = self._jobs.get(msg.get("id"))
            if job is None:
                continue
            if "progress" in msg:
                job.progress = float(msg["progress"])
                job.message = str(msg.get("message", ""))
                if job.on_progress:
                    job.on_progress(job.progress, job.message)
                continue
            if "error" in msg:
                err = msg["error"] or {}
                job.error = WorkerError(err.get("message", "error"), err.get("type", "internal"), self.python)
            else:
                job.result = msg.get("result") or {}
            with self._lock:
                self._jobs.pop(job.id, None)
            job.done.set()
        if self._proc is proc:
            self._fail_all(f"the KinMo worker stopped unexpectedly: {self._stderr_tail()}", "died")

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.strip():
                self._stderr.append(line.rstrip())

    def _stderr_tail(self) -> str:
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        lines = [ln for ln in self._stderr if ln.strip()]
        if lines:
            return lines[-1].strip()
        if proc is not None and proc.poll() is not None:
            return f"exit code {proc.returncode}"
        return "no answer"

    def _fail_all(self, message: str, kind: str) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for job in jobs:
            job.error = WorkerError(message, kind, self.python)
            job.done.set()


_CLIENT: WorkerClient | None = None


def get_client(python_setting: str = "") -> WorkerClient:
    """The add-on's shared worker for the Python in the preferences (detected when empty); one per session."""
    global _CLIENT
    python = python_from_setting(python_setting) if python_setting.strip() else detect_python()
    if python is None:
        raise WorkerError(no_python_message(), kind="environment")
    command = worker_command(python)
    if _CLIENT is None or _CLIENT.command != command:
        if _CLIENT is not None:
            _CLIENT.stop()
        _CLIENT = WorkerClient(command)
    return _CLIENT


def shutdown() -> None:
    """Stop the shared worker (add-on unregister, Blender exit)."""
    global _CLIENT
    if _CLIENT is not None:
        _CLIENT.stop()
        _CLIENT = None


def current_client() -> WorkerClient | None:
    """The shared worker if one was made, without starting anything."""
    return _CLIENT

