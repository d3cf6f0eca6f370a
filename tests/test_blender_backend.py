"""The add-on's worker client (blender_addon/backend.py) against real `kinmo worker` processes (no Blender needed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the add-on folder is not an installed package
from blender_addon import backend  # noqa: E402
from blender_addon.retarget.source import load_motion_npz, motion_from_fields  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# A worker with two extra test methods, registered the way the generation issue will add its own.
SLOW_WORKER = textwrap.dedent(
    """
    import sys, time
    from kinmo_core.cli import worker

    @worker.method("count")
    def count(params, ctx):
        for i in range(params["n"]):
            ctx.progress(i / params["n"], f"step {i}")
            time.sleep(params.get("sleep", 0.05))
        return {"counted": params["n"]}

    @worker.method("hang")
    def hang(params, ctx):
        time.sleep(60)  # never checks for cancels
        return {}

    sys.exit(worker.serve(sys.stdin, sys.stdout, sys.stderr))
    """
)


@pytest.fixture
def client():
    c = backend.WorkerClient(backend.worker_command(sys.executable))
    yield c
    c.stop()


@pytest.fixture
def slow_client():
    c = backend.WorkerClient([sys.executable, "-c", SLOW_WORKER])
    yield c
    c.stop()


def test_ping_and_ready_message(client):
    result = client.request("ping", {"echo": 7}, timeout=60)
    assert result["pong"] is True and result["echo"] == 7
    assert client.info["protocol"] == 1 and {"ping", "load_motion"} <= set(client.info["methods"])


def test_load_motion_converts_npy_to_an_npz_the_addon_reads(client, tmp_path):
    progress = []
    out = tmp_path / "converted.npz"
    result = client.request(
        "load_motion", {"path": str(FIXTURES / "012314_new_joints.npy"), "out": str(out)}, timeout=120,
        on_progress=lambda f, m: progress.append(f),
    )  # fmt: skip
    assert result["path"] == str(out) and result["frames"] > 100 and progress
    motion = load_motion_npz(result["path"])
    assert motion.joints.shape == (result["frames"], 22, 3)
    # The worker never overwrites a user's file.
    with pytest.raises(backend.WorkerError, match="exists") as err:
        client.request("load_motion", {"path": str(FIXTURES / "012314_new_joints.npy"), "out": str(out)}, timeout=60)
    assert err.value.kind == "input"


def test_load_motion_as_fields(client):
    result = client.request("load_motion", {"path": str(FIXTURES / "012314_new_joints.npy"), "as": "fields"}, 120)
    motion = motion_from_fields(result["fields"])
    assert motion.joints.shape[0] == result["frames"]
    assert np.allclose(np.linalg.norm(motion.rotations, axis=-1), 1.0, atol=1e-3)


def test_errors_are_one_line_replies_and_the_worker_survives(client, tmp_path):
    with pytest.raises(backend.WorkerError, match="unknown method") as err:
        client.request("no_such_method", {}, timeout=30)
    assert err.value.kind == "unknown_method"
    with pytest.raises(backend.WorkerError, match="'text'") as err:
        client.request("generate", {}, timeout=30)
    assert err.value.kind == "input"
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(backend.WorkerError) as err:
        client.request("load_motion", {"path": str(bad)}, timeout=30)
    assert err.value.kind == "input" and "\n" not in str(err.value)
    assert client.request("ping", timeout=30)["pong"]
    assert client.restarts == 0


def test_progress_and_cancel(slow_client):
    seen = []
    job = slow_client.submit("count", {"n": 200, "sleep": 0.02}, on_progress=lambda f, m: seen.append(m))
    deadline = time.time() + 30
    while not seen and time.time() < deadline:
        time.sleep(0.01)
    assert slow_client.cancel(job.id) == 1
    assert job.wait(10)
    with pytest.raises(backend.WorkerError) as err:
        job.get()
    assert err.value.kind == "cancelled" and seen[0] == "step 0"
    assert slow_client.request("count", {"n": 2, "sleep": 0}, timeout=30) == {"counted": 2}


def test_timeout_kills_a_stuck_worker_and_the_next_request_restarts_it(slow_client):
    with pytest.raises(backend.WorkerError) as err:
        slow_client.request("hang", timeout=0.5)
    assert err.value.kind == "timeout" and not slow_client.alive()
    assert slow_client.request("count", {"n": 1, "sleep": 0}, timeout=30) == {"counted": 1}
    assert slow_client.restarts == 1


def test_dead_worker_fails_pending_requests_and_restarts(slow_client):
    job = slow_client.submit("count", {"n": 1000, "sleep": 0.05})
    slow_client._proc.kill()
    assert job.wait(10)
    with pytest.raises(backend.WorkerError) as err:
        job.get()
    assert err.value.kind == "died"
    assert slow_client.request("count", {"n": 1, "sleep": 0}, timeout=30) == {"counted": 1}
    assert slow_client.restarts == 1


def test_broken_environments_give_clear_errors(tmp_path):
    with pytest.raises(backend.WorkerError, match="does not exist") as err:
        backend.python_from_setting(str(tmp_path / "nowhere" / "python"))
    assert err.value.kind == "environment"
    with pytest.raises(backend.WorkerError, match="no Python interpreter"):
        backend.python_from_setting(str(tmp_path))
    # A real environment without KinMo's dependencies: the worker cannot start and says why.
    env_dir = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = backend.python_from_setting(str(env_dir))
    bare = backend.WorkerClient(backend.worker_command(python), start_timeout=30)
    with pytest.raises(backend.WorkerError, match="No module named") as err:
        bare.request("ping", timeout=10)
    assert err.value.kind in ("start", "environment")  # kinmo_core itself may be importable from the working folder
    bare.stop()
    missing = backend.WorkerClient([str(tmp_path / "no-python")])
    with pytest.raises(backend.WorkerError, match="cannot start") as err:
        missing.request("ping", timeout=5)
    assert err.value.kind == "start"
