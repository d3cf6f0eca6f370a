"""Kill -9 a training mid-run, resume it, and end with the same weights as a run that was never interrupted.

Checkpoints are safetensors + JSON written into a temporary folder and renamed into place, so every step-* folder
seen at any moment loads completely.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from humanml3d_fake import make_humanml3d
from safetensors.torch import load_file

from training.checkpoint import find_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
       "TQDM_DISABLE": "1"}


def command(data: Path, out: Path, *extra: str) -> list[str]:
    """A tiny RVQ training run of 120 steps with a checkpoint every 10."""
    return [sys.executable, "-m", "training.train_rvq", "--data", str(data), "--out", str(out), "--size", "tiny",
            "--steps", "120", "--batch", "4", "--window", "40", "--lr", "1e-3", "--eval-every", "0", "--threads", "1",
            "--checkpoint-every", "10", "--log-every", "10", *extra]


def test_killed_run_resumes_to_the_same_weights(tmp_path) -> None:
    data = make_humanml3d(tmp_path / "data")
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    subprocess.run(command(data, whole), cwd=ROOT, env=ENV, check=True, capture_output=True, timeout=300)

    proc = subprocess.Popen(command(data, broken), cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    seen: set[str] = set()
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            for ck in list_checkpoints(broken / "checkpoints"):
                if ck.name in seen:
                    continue
                try:
                    load_checkpoint(ck)  # any complete-looking checkpoint must load, at any moment
                except Exception:
                    if ck.exists():  # pruned between listing and reading: fine; present and unreadable: not
                        raise
                seen.add(ck.name)
            if len(seen) >= 2:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (broken / "config.json").exists()
    newest = find_checkpoint(broken)
    step = int(newest.name.split("-")[1])
    assert 0 < step < 120
    for ck in list_checkpoints(broken / "checkpoints"):
        load_checkpoint(ck)

    subprocess.run(command(data, broken, "--resume", str(broken)), cwd=ROOT, env=ENV, check=True,
                   capture_output=True, timeout=300)
    a = load_file(str(whole / "model.safetensors"))
    b = load_file(str(broken / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The log reads as one run's: rows written after the checkpoint and before the kill were dropped on resume.
    logs = [[(r["step"], r["loss"]) for r in map(json.loads, (f / "train_log.jsonl").read_text().splitlines())]
            for f in (whole, broken)]
    assert logs[0] == logs[1]


def test_a_checkpoint_that_fails_mid_write_leaves_the_previous_one(tmp_path, monkeypatch) -> None:
    import training.checkpoint as ckpt

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path, 1, model.state_dict(), opt, {"ranks": []})
    calls = []

    def failing(path, data):
        calls.append(path.name)
        if path.name == "optim.safetensors":
            raise OSError("disk full")
        return real(path, data)

    real = ckpt._write
    monkeypatch.setattr(ckpt, "_write", failing)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path, 2, model.state_dict(), opt, {"ranks": []})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000001"]
    state, optim, meta = load_checkpoint(find_checkpoint(tmp_path))
    assert meta["step"] == 1 and torch.equal(state["weight"], model.state_dict()["weight"])
    assert set(optim) == {"0.step", "0.exp_avg", "0.exp_avg_sq", "1.step", "1.exp_avg", "1.exp_avg_sq"}
