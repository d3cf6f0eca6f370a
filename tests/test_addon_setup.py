"""Setting the add-on up: detection skips environments without KinMo, errors name the interpreter, the zip's mode.

Plain Python (no bpy): `blender_addon.backend` and `blender_addon.build` do not import Blender.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from blender_addon import backend, build  # noqa: E402


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory) -> Path:
    """A virtual environment without KinMo, like the .venv that `make addon` creates."""
    env = tmp_path_factory.mktemp("bare") / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    return env / "bin" / "python"


def test_detection_skips_an_environment_without_kinmo(bare_venv, monkeypatch):
    monkeypatch.setattr(backend, "_HAS_KINMO", {})
    monkeypatch.chdir(bare_venv.parents[2])  # not the checkout: kinmo_core must come from the environment itself
    monkeypatch.delenv("PYTHONPATH", raising=False)
    assert not backend.has_kinmo(str(bare_venv))
    assert backend.has_kinmo(sys.executable)  # the test environment has KinMo installed (editable)
    monkeypatch.setattr(backend, "python_candidates", lambda: [str(bare_venv), sys.executable])
    assert backend.detect_python() == sys.executable
    monkeypatch.setattr(backend, "python_candidates", lambda: [str(bare_venv)])
    assert backend.detect_python() is None
    monkeypatch.setattr(backend, "_CLIENT", None)
    with pytest.raises(backend.WorkerError) as err:
        backend.get_client("")
    assert err.value.kind == "environment" and str(bare_venv) in str(err.value)


def test_every_worker_error_names_the_interpreter(bare_venv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    bare = backend.WorkerClient(backend.worker_command(str(bare_venv)), start_timeout=30)
    with pytest.raises(backend.WorkerError) as err:
        bare.request("ping", timeout=10)
    assert err.value.kind == "start" and str(bare_venv) in str(err.value) and "No module named" in str(err.value)
    missing = backend.WorkerClient([str(tmp_path / "no-python"), "-m", "kinmo_core.cli.main", "worker"])
    with pytest.raises(backend.WorkerError) as err:
        missing.request("ping", timeout=5)
    assert str(tmp_path / "no-python") in str(err.value)


def test_error_replies_name_the_interpreter_unless_about_the_request():
    assert "KinMo Python: /x/python" in str(backend.WorkerError("boom", "internal", "/x/python"))
    assert "KinMo Python: /x/python" in str(backend.WorkerError("lacks torch", "environment", "/x/python"))
    assert "KinMo Python" not in str(backend.WorkerError("the prompt is empty", "input", "/x/python"))


def test_addon_zip_is_readable_by_others(tmp_path):
    path = build.build(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    with zipfile.ZipFile(path) as zf:
        modes = {stat.S_IMODE(i.external_attr >> 16) for i in zf.infolist()}
    assert modes == {0o644}
