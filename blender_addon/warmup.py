"""Start the KinMo worker and load the model in the background, so the first Generate does not wait 40-60 s.

When: as the add-on is enabled or when the KinMo panel is first drawn (the "Load model" preference; or never).
A background thread starts the worker (`backend.get_client`) and sends it `load_model`; its progress is kept here
for the panel ("Loading KinMo model ... 40%"), and a timer redraws the sidebar while it runs. Requests sent meanwhile
(Generate, Expand) queue behind it in the worker and find the model loaded. Plain Python apart from the redraw.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from . import backend

LOAD_TIMEOUT_S = 600.0


@dataclass
class WarmupState:
    """What the background load is doing: idle, starting, loading, ready or failed."""

    state: str = "idle"
    progress: float = 0.0
    message: str = ""
    error: str = ""
    key: tuple = ()
    started: float = 0.0
    seconds: float = 0.0
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def busy(self) -> bool:
        """True while the worker starts or the model loads."""
        return self.state in ("starting", "loading")

    def label(self) -> str:
        """One line for the panel."""
        if self.state == "starting":
            return "Starting the KinMo worker..."
        if self.state == "loading":
            return f"Loading KinMo model... {100 * self.progress:.0f}%"
        if self.state == "ready":
            return f"KinMo model ready ({self.seconds:.0f} s)"
        if self.state == "failed":
            return f"KinMo could not load: {self.error}"
        return ""


STATE = WarmupState()


def _run(python: str, model: str, state: WarmupState) -> None:
    try:
        client = backend.get_client(python)
        state.state = "starting"
        client.start()
        state.state = "loading"

        def progress(fraction: float, message: str) -> None:
            state.progress, state.message = fraction, message

        client.request("load_model", {"model": model} if model else {}, timeout=LOAD_TIMEOUT_S, on_progress=progress)
        state.state, state.progress = "ready", 1.0
    except backend.WorkerError as e:
        state.state, state.error = "failed", str(e)
    except Exception as e:  # noqa: BLE001 - a background thread must report, never raise into Blender
        state.state, state.error = "failed", f"{type(e).__name__}: {e}"
    finally:
        state.seconds = time.monotonic() - state.started


def start(python: str = "", model: str = "", force: bool = False) -> WarmupState:
    """Load the model in the background once per (Python, model) setting; return the state (not waiting)."""
    global STATE
    key = (python, model)
    if not force and STATE.key == key and STATE.state != "idle":
        return STATE
    if STATE.busy:
        return STATE  # one load at a time; a changed setting loads on the next call
    state = WarmupState(state="starting", key=key, started=time.monotonic())
    state.thread = threading.Thread(target=_run, args=(python, model, state), name="kinmo-warmup", daemon=True)
    STATE = state
    state.thread.start()
    _redraw_while_busy()
    return state


def wait(timeout: float | None = None) -> bool:
    """Block until the current load finishes (tests, benchmarks, background mode); True when it is done."""
    thread = STATE.thread
    if thread is not None:
        thread.join(timeout)
    return not STATE.busy


def reset() -> None:
    """Forget the load state (the worker was stopped or the add-on disabled)."""
    global STATE
    STATE = WarmupState()


def _redraw_while_busy() -> None:
    """Tag the sidebar for redraw every half second while loading (no-op without Blender or in background mode)."""
    try:
        import bpy
    except ImportError:
        return
    if bpy.app.background:
        return

    def tick() -> float | None:
        for window in bpy.context.window_manager.windows:
            for area in window.screen.areas:
                if area.type == "VIEW_3D":
                    area.tag_redraw()
        return 0.5 if STATE.busy else None

    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=0.5)


def maybe_start(context, when: str) -> WarmupState | None:
    """Start the background load if the "Load model" preference is `when` ("ENABLE" or "PANEL"); else None."""
    from .operators import model_setting
    from .props import preferences

    prefs = preferences(context)
    if prefs is None or prefs.preload != when:
        return None
    return start(prefs.python_path, model_setting(context))
