"""`kinmo` picks its torch thread count before torch loads: KINMO_THREADS, else OMP_NUM_THREADS, else 1."""

from __future__ import annotations

import os
import subprocess
import sys

from kinmo_core.cli.main import main


def _threads(env: dict) -> str:
    code = ("import os, sys; from kinmo_core.cli.main import torch_threads; torch_threads(); import torch; "
            "print(torch.get_num_threads())")
    full = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "KINMO_THREADS")} | env
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_default_is_one_thread_and_the_user_decides() -> None:
    assert _threads({}) == "1"
    assert _threads({"OMP_NUM_THREADS": "2"}) == "2"
    assert _threads({"KINMO_THREADS": "2", "OMP_NUM_THREADS": "1"}) == "2"


def test_bad_kinmo_threads_is_one_line_exit_2(monkeypatch, capsys) -> None:
    monkeypatch.setenv("KINMO_THREADS", "lots")
    assert main(["info", "x.npz"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "KINMO_THREADS" in err[0]
