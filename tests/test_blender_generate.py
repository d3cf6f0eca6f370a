"""Text to motion in Blender (`bpy==5.0.1`, background mode): Expand, Generate, the modal wait, bad input, the batch.

One tiny random pipeline (with a tiny random Motion Reasoner, whose nonsense is replaced by neutral descriptions) and
one worker serve the whole module; the batch script runs as its own process, as users run it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the add-on folder is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parent))
import addon_utils  # noqa: E402
from test_blender_addon import build_armature, select_only, snapshot  # noqa: E402
from test_blender_math import MIXAMO_BONES  # noqa: E402

from blender_addon import backend, operators, props, ui  # noqa: E402
from blender_addon.core import kinematic, skeleton  # noqa: E402

pytestmark = pytest.mark.blender
BATCH = ROOT / "scripts" / "blender_batch.py"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A tiny random pipeline folder with a tiny random reasoner (so Expand works; its text is neutral)."""
    import torch

    from kinmo_core.models.description_decoder import NUM_SPECIAL, ReasonerConfig, ReasonerModel
    from kinmo_core.models.io import save_pretrained
    from kinmo_core.pipeline import random_pipeline
    from kinmo_core.reasoner import FIELDS, VOCAB_NAME

    root = tmp_path_factory.mktemp("kinmo-model")
    reasoner = root / "reasoner"
    torch.manual_seed(0)
    words = list(range(2000, 2040))  # any MiniLM word-piece ids: the random model writes nonsense from them
    cfg = ReasonerConfig(vocab_size=NUM_SPECIAL + len(words), d_model=16, n_layers=1, n_heads=2, max_len=6,
                         dropout=0.0)  # fmt: skip
    save_pretrained(ReasonerModel(cfg).eval(), cfg, reasoner, extra_meta={"fields": list(FIELDS)})
    (reasoner / VOCAB_NAME).write_text(json.dumps({"wordpiece_ids": words}))
    return random_pipeline("tiny", seed=4).save_pretrained(root / "pipeline", reasoner_from=str(reasoner))


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory) -> Path:
    """The same tiny pipeline without a reasoner: nothing writes descriptions unless they are sent (and fast)."""
    from kinmo_core.pipeline import random_pipeline

    return random_pipeline("tiny", seed=4).save_pretrained(tmp_path_factory.mktemp("kinmo-plain") / "pipeline")


@pytest.fixture(scope="module")
def addon():
    """The add-on enabled once for the module, its worker on this Python (kept running between tests)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert addon_utils.enable("blender_addon", default_set=True, handle_error=None) is not None
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.python_path = sys.executable
    yield prefs
    backend.shutdown()
    addon_utils.disable("blender_addon", default_set=True)


@pytest.fixture
def scene(addon, model):
    """An empty scene (the add-on stays enabled, the worker keeps running) set up to generate with the tiny model."""
    bpy.ops.wm.read_homefile(use_empty=True)
    addon.python_path = sys.executable
    settings = bpy.context.scene.kinmo
    settings.model_folder = str(model)
    settings.seconds = 2.0
    settings.levels = "GROUPS"
    yield bpy.context.scene
    operators._ACTIVE.clear()
    operators._CANCEL_REQUESTED.clear()


def channel_keys(action) -> list:
    """Every key of an action, to check it is left exactly as it was."""
    bag = action.layers[0].strips[0].channelbags[0]
    return [(fc.data_path, fc.array_index, tuple(k.co)) for fc in bag.fcurves for k in fc.keyframe_points]


def own_descriptions(word: str) -> dict:
    return {"groups": {g: f"The {g.replace('_', ' ')} {word}." for g in kinematic.GROUPS},
            "interactions": {p: f"{p} {word}." for p in kinematic.PAIRS}}  # fmt: skip


# ------------------------------------------------------------------------------------------------ expand


def test_expand_stores_six_editable_group_descriptions(scene):
    settings = scene.kinmo
    settings.prompt = "  a person waves  "
    before = snapshot()
    assert bpy.ops.kinmo.expand() == {"FINISHED"}
    assert snapshot() == before  # nothing but the descriptions changes
    keys = [item.key for item in settings.descriptions]
    assert keys == list(kinematic.GROUPS + kinematic.PAIRS)
    assert all(item.text.strip() for item in settings.descriptions)
    assert settings.expanded_prompt == "a person waves" and not props.descriptions_stale(settings)
    settings.descriptions[2].text = "The left arm waves above the head."
    sent = props.edited_descriptions(settings)
    assert list(sent["groups"]) == list(kinematic.GROUPS) and len(sent["interactions"]) == 15
    assert sent["groups"]["left_arm"] == "The left arm waves above the head."
    assert bpy.ops.kinmo.clear_descriptions() == {"FINISHED"}
    assert len(settings.descriptions) == 0 and props.edited_descriptions(settings) is None


def test_expand_needs_a_prompt(scene):
    with pytest.raises(RuntimeError, match="type a prompt first"):
        bpy.ops.kinmo.expand()
    assert len(scene.kinmo.descriptions) == 0


# ------------------------------------------------------------------------------------------------ generate


def test_generate_bakes_a_new_action_on_a_new_smpl_armature_with_the_edited_descriptions(scene):
    settings = scene.kinmo
    settings.prompt = "a person waves"
    settings.seed = 3
    props.store_descriptions(settings, own_descriptions("moves slowly"), settings.prompt)
    settings.descriptions[2].text = "The left arm waves above the head."
    assert bpy.ops.kinmo.generate() == {"FINISHED"}
    obj = bpy.data.objects["KinMo SMPL-22"]
    assert sorted(b.name for b in obj.data.bones) == sorted(skeleton.JOINT_NAMES)
    action = obj.animation_data.action
    assert action.name == "KinMo a person waves" and list(bpy.data.actions) == [action]
    frames = 1 + int((2.0 * 20 - 1) * scene.render.fps / 20 + 1e-6)  # 40 frames at 20 fps, resampled
    bag = action.layers[0].strips[0].channelbag(action.slots[0])
    assert len(bag.fcurves) == 22 * 4 + 3 and all(len(fc.keyframe_points) == frames for fc in bag.fcurves)
    used = json.loads(action["kinmo_descriptions"])
    assert used["groups"]["left_arm"] == "The left arm waves above the head."
    assert used["groups"]["torso"] == "The torso moves slowly."
    assert (action["kinmo_prompt"], action["kinmo_seed"], action["kinmo_levels"]) == ("a person waves", 3, 2)
    assert Path(settings.motion_path).suffix == ".npz" and Path(settings.motion_path).is_file()


def test_stale_descriptions_are_shown_as_such_and_not_sent(scene, plain_model):
    settings = scene.kinmo
    settings.model_folder = str(plain_model)
    settings.prompt = "a person waves"
    props.store_descriptions(settings, own_descriptions("moves slowly"), settings.prompt)
    settings.prompt = "a person jumps"
    assert props.descriptions_stale(settings) and props.edited_descriptions(settings) is None
    params = operators.generate_request(settings.prompt, 2.0, 0, 2, props.edited_descriptions(settings))
    assert "descriptions" not in params
    assert bpy.ops.kinmo.generate() == {"FINISHED"}
    action = bpy.data.actions["KinMo a person jumps"]
    assert action["kinmo_descriptions"] == ""  # none sent (and this model writes none itself)
    settings.prompt = "a person waves"
    assert bpy.ops.kinmo.generate() == {"FINISHED"}  # the same descriptions, fresh again, are sent
    assert "moves slowly" in bpy.data.actions["KinMo a person waves"]["kinmo_descriptions"]


def test_generate_onto_a_mixamo_rig_keeps_its_action_and_keys(scene):
    rig = build_armature("Mixamo", MIXAMO_BONES, scale=0.01)
    pb = rig.pose.bones["mixamorig:LeftForeArm"]
    pb.rotation_quaternion = (0.9, 0.4, 0.0, 0.0)
    pb.keyframe_insert("rotation_quaternion", frame=5)
    users = rig.animation_data.action
    keys = channel_keys(users)
    select_only(rig)
    scene.kinmo.prompt = "a person kicks"
    scene.kinmo.levels = "GLOBAL"
    assert bpy.ops.kinmo.generate() == {"FINISHED"}
    new = rig.animation_data.action  # plays at once; the user's action is kept (fake user) and untouched
    assert new.name == "KinMo a person kicks" and rig.animation_data.action_slot == new.slots[0]
    assert channel_keys(users) == keys and users.use_fake_user
    assert "KinMo SMPL-22" not in bpy.data.objects
    paths = {fc.data_path for fc in new.layers[0].strips[0].channelbag(new.slots[0]).fcurves}
    assert 'pose.bones["mixamorig:LeftArm"].rotation_quaternion' in paths
    assert len(rig.kinmo_bone_map) == 22


def test_empty_prompt_and_unusable_rig_are_refused_and_the_scene_is_untouched(scene):
    before = snapshot()
    scene.kinmo.prompt = "   "
    with pytest.raises(RuntimeError, match="type a prompt first"):
        bpy.ops.kinmo.generate()
    assert snapshot() == before
    prop = build_armature("Prop", [("a", None, (0, 0, 0), (0, 0, 1)), ("b", "a", (0, 0, 1), (0, 0, 2))])
    select_only(prop)
    before = snapshot()
    scene.kinmo.prompt = "a person waves"
    with pytest.raises(RuntimeError, match="no bone of 'Prop' maps to a SMPL-22 joint"):
        bpy.ops.kinmo.generate()
    assert snapshot() == before and len(prop.kinmo_bone_map) == 0


def test_lengths_the_worker_refuses_are_one_line_errors(scene):
    pipeline = pytest.importorskip("kinmo_core.pipeline")
    rna = scene.kinmo.bl_rna.properties["seconds"]
    assert (rna.hard_min, rna.hard_max) == (pipeline.MIN_SECONDS, pipeline.MAX_SECONDS)  # the panel offers no others
    params = operators.generate_request("a person jumps", 30.0, 0, 1, model=scene.kinmo.model_folder)
    job = operators.submit_request(sys.executable, "generate", params)
    with pytest.raises(operators.KinmoUserError, match="between 1 and 10 seconds, got 30"):
        operators.wait_for(job, 120)


def test_worker_errors_leave_the_scene_untouched(scene, tmp_path):
    scene.kinmo.prompt = "a person waves"
    scene.kinmo.model_folder = str(tmp_path)  # no pipeline there: the worker says so
    before = snapshot()
    with pytest.raises(RuntimeError, match="KinMo worker: .*not a KinMo pipeline folder"):
        bpy.ops.kinmo.generate()
    with pytest.raises(RuntimeError, match="KinMo worker: .*not a KinMo pipeline folder"):
        bpy.ops.kinmo.expand()
    assert snapshot() == before and len(scene.kinmo.descriptions) == 0


def test_missing_or_broken_worker_python(scene, tmp_path, addon):
    scene.kinmo.prompt = "a person waves"
    before = snapshot()
    addon.python_path = str(tmp_path / "no" / "python")
    with pytest.raises(RuntimeError, match="KinMo worker: the KinMo Python .* does not exist"):
        bpy.ops.kinmo.generate()
    addon.python_path = "/bin/false"  # runs, but is no KinMo Python
    with pytest.raises(RuntimeError, match="KinMo worker: the KinMo worker did not start"):
        bpy.ops.kinmo.generate()
    with pytest.raises(RuntimeError, match="KinMo worker: the KinMo worker did not start"):
        bpy.ops.kinmo.expand()
    assert snapshot() == before


# ------------------------------------------------------------------------------------------------ the modal wait


class _Recorder:
    """Stands in for the window manager, workspace and client: records calls."""

    def __init__(self, pending=()) -> None:
        self.calls: list = []
        self._pending = list(pending)

    def event_timer_add(self, step, window=None):
        self.calls.append(("timer_add", step))
        return "timer"

    def event_timer_remove(self, timer):
        self.calls.append(("timer_remove", timer))

    def modal_handler_add(self, op):
        self.calls.append(("modal_handler_add",))
        return True

    def progress_begin(self, lo, hi):
        self.calls.append(("progress_begin", lo, hi))

    def progress_update(self, value):
        self.calls.append(("progress", value))

    def progress_end(self):
        self.calls.append(("progress_end",))

    def status_text_set(self, text):
        self.calls.append(("status", text))

    def cancel(self, job_id=None):
        self.calls.append(("cancel", job_id))
        return 1

    def stop(self):
        self.calls.append(("stop",))

    def pending(self):
        return self._pending


class _Task(operators._WorkerTask):
    bl_idname = "kinmo.test_task"
    busy_text = "testing"

    def __init__(self) -> None:
        self.reports: list = []
        self.replies: list = []

    def report(self, kind, message):
        self.reports.append((next(iter(kind)), message))

    def task_done(self, context, reply):
        self.replies.append(reply)
        return {"FINISHED"}


def _event(kind: str, value: str = "NOTHING"):
    return SimpleNamespace(type=kind, value=value)


@pytest.fixture
def modal(scene, monkeypatch):
    """A task waiting modally (as in the UI) for a job the test controls, with a recording client."""
    job = backend.Job(77, "generate", None)
    client = _Recorder(pending=[job])
    wm, ws = _Recorder(), _Recorder()
    monkeypatch.setattr(operators, "interactive", lambda context: True)
    monkeypatch.setattr(operators, "submit_request", lambda python, method, params: job)
    monkeypatch.setattr(backend, "current_client", lambda: client)
    context = SimpleNamespace(window=object(), window_manager=wm, workspace=ws, screen=None, scene=scene,
                              preferences=bpy.context.preferences)  # fmt: skip
    task = _Task()
    assert task.run_task(context, "generate", {"text": "x"}) == {"RUNNING_MODAL"}
    assert ("modal_handler_add",) in wm.calls and ("progress_begin", 0, 100) in wm.calls
    assert operators.running_job() is job
    return SimpleNamespace(task=task, job=job, client=client, wm=wm, context=context)


def test_modal_shows_progress_passes_events_through_and_finishes(modal):
    m = modal
    assert m.task.modal(m.context, _event("MOUSEMOVE")) == {"PASS_THROUGH"}  # the UI stays usable
    m.job.progress, m.job.message = 0.4, "generating"
    assert m.task.modal(m.context, _event("TIMER")) == {"PASS_THROUGH"}
    assert ("progress", 40) in m.wm.calls and "generating 40%" in m.context.scene.kinmo.status
    m.job.result = {"paths": ["x.npz"]}
    m.job.done.set()
    assert m.task.modal(m.context, _event("TIMER")) == {"FINISHED"}
    assert m.task.replies == [{"paths": ["x.npz"]}]
    assert ("timer_remove", "timer") in m.wm.calls and ("progress_end",) in m.wm.calls
    assert operators.running_job() is None


def test_escape_cancels_and_a_late_result_is_dropped(modal):
    m = modal
    assert m.task.modal(m.context, _event("ESC", "PRESS")) == {"RUNNING_MODAL"}
    assert ("cancel", 77) in m.client.calls
    m.job.result = {"paths": ["late.npz"]}  # arrived although cancelled: the user asked for nothing
    m.job.done.set()
    assert m.task.modal(m.context, _event("TIMER")) == {"CANCELLED"}
    assert m.task.replies == [] and m.task.reports == [("WARNING", "KinMo: testing cancelled")]
    assert operators.running_job() is None


def test_the_cancel_button_stops_a_modal_request(modal):
    m = modal
    assert bpy.ops.kinmo.cancel() == {"FINISHED"}
    assert ("cancel", None) in m.client.calls and 77 in operators._CANCEL_REQUESTED
    assert m.task.modal(m.context, _event("TIMER")) == {"PASS_THROUGH"}
    m.job.error = backend.WorkerError("cancelled", "cancelled")
    m.job.done.set()
    assert m.task.modal(m.context, _event("TIMER")) == {"CANCELLED"}
    assert m.task.replies == [] and 77 not in operators._CANCEL_REQUESTED


def test_worker_error_and_timeout_in_the_modal_wait(modal):
    m = modal
    m.task._timeout = 0.0
    assert m.task.modal(m.context, _event("TIMER")) == {"PASS_THROUGH"}
    assert ("cancel", 77) in m.client.calls
    m.task._kill_at = time.monotonic() - 1  # it ignored the cancel: the worker is stopped
    assert m.task.modal(m.context, _event("TIMER")) == {"PASS_THROUGH"}
    assert ("stop",) in m.client.calls
    m.job.error = backend.WorkerError("the KinMo worker was stopped", "died")
    m.job.done.set()
    assert m.task.modal(m.context, _event("TIMER")) == {"CANCELLED"}
    assert m.task.reports == [("ERROR", "KinMo: testing no answer within 0 s (cancelled)")]


def test_worker_error_reply_in_the_modal_wait(modal):
    m = modal
    m.job.error = backend.WorkerError("this model has no Motion Reasoner", "model")
    m.job.done.set()
    assert m.task.modal(m.context, _event("TIMER")) == {"CANCELLED"}
    assert m.task.reports == [("ERROR", "KinMo worker: this model has no Motion Reasoner")]
    assert m.context.scene.kinmo.status == "KinMo worker: this model has no Motion Reasoner"


# ------------------------------------------------------------------------------------------------ the panel


class _Layout:
    """A UI layout that records what a panel draws."""

    def __init__(self, log: list) -> None:
        self.log = log

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.log.append((name, args, kwargs))
            return _Layout(self.log)

        return call


def _draw(panel, context) -> list:
    log: list = []
    panel.draw(SimpleNamespace(layout=_Layout(log)), context)
    return log


def test_generate_panel_shows_settings_descriptions_and_staleness(scene):
    settings = scene.kinmo
    settings.prompt = "a person waves"
    log = _draw(ui.KINMO_PT_generate, bpy.context)
    shown = [a[1] for name, a, _ in log if name == "prop"]
    assert shown == ["prompt", "seconds", "seed", "levels", "target_armature", "model_folder"]
    assert [a[0] for name, a, _ in log if name == "operator"] == ["kinmo.expand", "kinmo.generate"]
    props.store_descriptions(settings, own_descriptions("moves"), settings.prompt)
    log = _draw(ui.KINMO_PT_generate, bpy.context)
    fields = [kw["text"] for name, a, kw in log if name == "prop" and a[1] == "text"]
    assert fields == [kinematic.GROUP_TITLES[g] for g in kinematic.GROUPS]
    assert not any("another prompt" in kw.get("text", "") for name, _, kw in log if name == "label")
    assert ui.KINMO_PT_interactions.poll(bpy.context)
    pairs = [kw["text"] for name, a, kw in _draw(ui.KINMO_PT_interactions, bpy.context) if name == "prop"]
    assert len(pairs) == 15 and pairs[0] == "Neck + Torso"
    settings.prompt = "a person jumps"
    log = _draw(ui.KINMO_PT_generate, bpy.context)
    assert any("another prompt" in kw.get("text", "") for name, _, kw in log if name == "label")


# ------------------------------------------------------------------------------------------------ batch script


def _batch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BATCH), *args], capture_output=True, text=True, timeout=300)


def _load_batch_module():
    spec = importlib.util.spec_from_file_location("blender_batch", BATCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_batch_writes_blend_fbx_bvh_and_never_overwrites(model, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a person waves\n\n# not a prompt\n")
    out = tmp_path / "out"
    common = ["--model", str(model), "--python", sys.executable, "--seconds", "2", "--levels", "1"]
    run = _batch("--prompts", str(prompts), "--out", str(out), *common)
    assert run.returncode == 0, run.stderr
    stem = "001_a-person-waves"
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.blend", f"{stem}.bvh", f"{stem}.fbx"]
    bvh = (out / f"{stem}.bvh").read_text()
    assert bvh.startswith("HIERARCHY") and "ROOT pelvis" in bvh and "Frames: 47" in bvh  # 2 s at 24 fps
    assert (out / f"{stem}.fbx").read_bytes().startswith(b"Kaydara FBX Binary")
    assert "Traceback" not in run.stderr
    assert "1 of 1 prompts done, 0 failed" in run.stdout
    # The .blend holds the default armature with the new action as its active action.
    bpy.ops.wm.open_mainfile(filepath=str(out / f"{stem}.blend"), load_ui=False)
    obj = bpy.data.objects["KinMo SMPL-22"]
    assert obj.animation_data.action.name == "KinMo a person waves"
    assert obj.animation_data.action["kinmo_prompt"] == "a person waves"
    # Again into the same folder, onto a rig file: new names, the first files stay as they were.
    bpy.ops.wm.read_homefile(use_empty=True)
    build_armature("Mixamo", MIXAMO_BONES, scale=0.01)
    rig_file = tmp_path / "rig.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(rig_file), copy=True)
    rig_bytes = rig_file.read_bytes()
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    prompts.write_text("a person waves\n")
    run = _batch("--prompts", str(prompts), "--out", str(out), "--rig", str(rig_file), *common)
    assert run.returncode == 0, run.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in first} == first
    assert sorted(p.name for p in out.iterdir() if p.name not in first) == [
        f"{stem}-2.blend", f"{stem}-2.bvh", f"{stem}-2.fbx"]  # fmt: skip
    assert "mixamorig:Hips" in (out / f"{stem}-2.bvh").read_text()
    assert rig_file.read_bytes() == rig_bytes  # the rig file is only read


def test_batch_bad_arguments_exit_2_with_one_line(model, tmp_path, capsys):
    batch = _load_batch_module()
    prompts = tmp_path / "p.txt"
    prompts.write_text("a person waves\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n# only a comment\n\n")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        (["--prompts", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "o")], "no such file"),
        (["--prompts", str(empty), "--out", str(tmp_path / "o")], "no prompts"),
        (["--prompts", str(prompts), "--out", str(a_file)], "is not a folder"),
        (["--prompts", str(prompts), "--out", str(tmp_path / "o"), "--rig", str(tmp_path / "no.blend")], "no such"),
        (["--prompts", str(prompts), "--out", str(tmp_path / "o"), "--levels", "7"], "invalid choice"),
        (["--out", str(tmp_path / "o")], "--prompts"),
    ]
    for argv, message in cases:
        assert batch.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err, (argv, err)
    assert not (tmp_path / "o").exists()
    assert batch.script_args(["blender", "-b", "--python", "x.py", "--", "--out", "d"]) == ["--out", "d"]
    assert batch.slug("A person waves, then jumps!") == "a-person-waves-then-jumps"
    assert batch.read_prompts(prompts)[0].text == "a person waves"


def test_batch_unreadable_rig_or_broken_worker_exit_2(model, tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a person waves\n")
    broken = tmp_path / "broken.blend"
    broken.write_bytes(b"not a blend file")
    run = _batch("--prompts", str(prompts), "--out", str(tmp_path / "o"), "--rig", str(broken),
                 "--python", sys.executable)  # fmt: skip
    assert run.returncode == 2 and "error: --rig" in run.stderr and "Traceback" not in run.stderr, run.stderr
    run = _batch("--prompts", str(prompts), "--out", str(tmp_path / "o"), "--python", "/bin/false")
    assert run.returncode == 2 and "error: KinMo worker: the KinMo worker did not start" in run.stderr, run.stderr
    assert not (tmp_path / "o").exists()


def test_batch_script_never_imports_torch_or_kinmo_core():
    import ast

    for node in ast.walk(ast.parse(BATCH.read_text())):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert not any(m.split(".")[0] in ("torch", "kinmo_core") for m in mods), mods
