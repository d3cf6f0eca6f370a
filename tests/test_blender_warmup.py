"""The first Generate without the wait: the worker starts and loads the model in the background (bpy 5.0.1).

One tiny random pipeline; the add-on is enabled for the module with its worker on this Python.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import addon_utils  # noqa: E402
from test_blender_generate import _draw  # noqa: E402

from blender_addon import backend, ui, warmup  # noqa: E402

pytestmark = pytest.mark.blender


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from kinmo_core.pipeline import random_pipeline

    return random_pipeline("tiny", seed=4).save_pretrained(tmp_path_factory.mktemp("warm") / "pipeline")


@pytest.fixture
def prefs(model):
    """The add-on enabled on an empty scene, no worker running, the load state forgotten."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert addon_utils.enable("blender_addon", default_set=True, handle_error=None) is not None
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.python_path = sys.executable
    bpy.context.scene.kinmo.model_folder = str(model)
    bpy.context.scene.kinmo.seconds = 1.0
    bpy.context.scene.kinmo.levels = "GLOBAL"
    bpy.context.scene.kinmo.prompt = "a person walks"
    warmup.reset()
    backend.shutdown()
    yield prefs
    warmup.wait(60)
    backend.shutdown()
    warmup.reset()
    addon_utils.disable("blender_addon", default_set=True)


def _labels(context) -> list[str]:
    return [kw.get("text", "") for name, _, kw in _draw(ui.KINMO_PT_generate, context) if name == "label"]


def test_first_panel_draw_loads_the_model_in_the_background(prefs):
    prefs.preload = "PANEL"
    t0 = time.monotonic()
    labels = _labels(bpy.context)
    assert time.monotonic() - t0 < 1.0  # drawing never waits for the worker
    assert any(t.startswith(("Starting the KinMo worker", "Loading KinMo model")) for t in labels), labels
    assert warmup.STATE.busy
    assert warmup.wait(120) and warmup.STATE.state == "ready", warmup.STATE.error
    assert not any("KinMo" in t for t in _labels(bpy.context))  # ready: the panel shows nothing more
    first = warmup.STATE
    _labels(bpy.context)
    assert warmup.STATE is first  # drawn again: no second load
    client = backend.current_client()
    assert client is not None and client.alive()
    assert client.request("load_model", {"model": str(bpy.context.scene.kinmo.model_folder)}, timeout=30)["cached"]
    # Generate now finds the worker running and the model loaded.
    assert bpy.ops.kinmo.generate() == {"FINISHED"}
    assert client.restarts == 0 and backend.current_client() is client


def test_on_enable_and_never(prefs):
    prefs.preload = "NEVER"
    _labels(bpy.context)
    assert warmup.maybe_start(bpy.context, "ENABLE") is None and warmup.STATE.state == "idle"
    assert backend.current_client() is None
    prefs.preload = "ENABLE"
    assert warmup.maybe_start(bpy.context, "PANEL") is None
    state = warmup.maybe_start(bpy.context, "ENABLE")  # what the add-on's enable timer calls
    assert state is not None and warmup.wait(120) and state.state == "ready", state.error


def test_a_failed_load_shows_in_the_panel_with_the_interpreter(prefs, tmp_path):
    prefs.preload = "PANEL"
    prefs.python_path = "/bin/false"
    _labels(bpy.context)
    assert warmup.wait(60) and warmup.STATE.state == "failed"
    labels = _labels(bpy.context)
    assert any(t.startswith("KinMo could not load") and "/bin/false" in t for t in labels), labels
