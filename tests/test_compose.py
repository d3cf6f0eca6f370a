"""Timelines (`compose`, `kinmo compose`) and the worker's `edit` / `compose` methods."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest
import torch

from kinmo_core.editing.timeline import compose, parse_timeline
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.file import load_motion
from kinmo_core.pipeline import random_pipeline

TIMELINE = {
    "segments": [{"text": "a person walks forward", "start": 0, "end": 4},
                 {"text": "a person waves", "start": 5, "end": 9},
                 {"text": "a person jumps", "start": 9, "end": 12}],
    "tracks": [{"text": "a person raises the left hand", "parts": ["left_arm"], "start": 2, "end": 6}],
}


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return random_pipeline("tiny", seed=0)


@pytest.mark.parametrize("change, word", [
    (lambda t: t["segments"][1].update(start=3), "overlap"),
    (lambda t: t["segments"][0].update(start=-1), "negative"),
    (lambda t: t["segments"][2].update(end=20), "at most 10"),
    (lambda t: t["segments"].append({"text": "a person sits", "start": 601, "end": 605}), "10 minutes"),
    (lambda t: t["segments"][0].update(end=0.5), "at least 1"),
    (lambda t: t["tracks"][0].update(parts=["left_hand"]), "unknown part"),
    (lambda t: t["tracks"][0].update(end=30), "after the timeline"),
    (lambda t: t["segments"][0].update(start="zero"), "number"),
    (lambda t: t.update(extra=1), "unknown timeline key"),
    (lambda t: t.update(segments=[]), "non-empty"),
])
def test_bad_timelines(change, word):
    t = json.loads(json.dumps(TIMELINE))
    change(t)
    with pytest.raises(KinmoInputError, match=word):
        parse_timeline(t)


def test_segments_sorted():
    t = json.loads(json.dumps(TIMELINE))
    t["segments"].reverse()
    segs, tracks = parse_timeline(t)
    assert [s.start for s in segs] == [0, 5, 9] and tracks[0].parts == ("left_arm",)


def test_compose_lengths_and_tracks(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compose(tiny, TIMELINE, seed=0, levels=1)
        plain = compose(tiny, {"segments": TIMELINE["segments"]}, seed=0, levels=1)
    m = res.motion
    assert m.num_frames == 240 and np.isfinite(m.joints).all()
    # The track changes only its frames (40:120) and its part; everything else is the plain timeline's.
    from kinmo_core.motion.kinematic import GROUP_JOINTS

    other = [j for j in range(22) if j not in GROUP_JOINTS["left_arm"]]
    assert np.abs(m.joints[:40] - plain.motion.joints[:40]).max() <= 1e-5
    assert np.abs(m.joints[120:] - plain.motion.joints[120:]).max() <= 1e-5
    assert np.abs(m.joints[:, other] - plain.motion.joints[:, other]).max() <= 1e-5
    assert res.seams and all(0 < f < 240 for f, _ in res.seams)


def test_cli_compose_bad_input_writes_nothing(tmp_path, capsys):
    from kinmo_core.cli.main import main

    t = json.loads(json.dumps(TIMELINE))
    t["segments"][1]["start"] = 3
    path = tmp_path / "t.json"
    path.write_text(json.dumps(t))
    assert main(["compose", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "overlap" in err and "\n" not in err
    assert not (tmp_path / "out").exists()
    path.write_text("{not json")
    assert main(["compose", str(path), "-o", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_cli_compose_default_model(tmp_path):
    from kinmo_core.cli.main import main

    path = tmp_path / "t.json"
    path.write_text(json.dumps(TIMELINE))
    assert main(["compose", str(path), "-o", str(tmp_path / "out")]) == 0
    m = load_motion(tmp_path / "out" / "motion.npz")
    assert m.num_frames == 240
    assert json.loads((tmp_path / "out" / "timeline.json").read_text())["seam_frames"]


def _ask(*requests: dict) -> list[dict]:
    from kinmo_core.cli.worker import serve

    out = io.StringIO()
    serve(io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_worker_edit_and_compose(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from kinmo_core.pipeline import KinMoPipeline

        src = KinMoPipeline.from_pretrained()("a person walks forward", seconds=3, seed=0)
    src.save(tmp_path / "src.npz")
    replies = _ask(
        {"id": 1, "method": "edit", "params": {"path": str(tmp_path / "src.npz"), "text": "a person waves",
                                               "frames": [10, 40], "parts": ["right_arm"], "out": str(tmp_path / "e")}},
        {"id": 2, "method": "edit", "params": {"path": str(tmp_path / "src.npz"), "text": "x", "frames": [40, 10]}},
        {"id": 3, "method": "compose", "params": {"timeline": {"segments": TIMELINE["segments"][:2]},
                                                  "out": str(tmp_path / "c")}},
        {"id": 4, "method": "compose", "params": {"timeline": {"segments": [{"text": "a", "start": 0, "end": 11}]}}},
    )
    results = {r["id"]: r for r in replies if "id" in r and ("result" in r or "error" in r)}
    assert results[1]["result"]["parts"] == ["right_arm"] and results[1]["result"]["frames"] == [10, 40]
    assert load_motion(results[1]["result"]["paths"][0]).num_frames == 60
    assert results[2]["error"]["type"] == "input"
    assert results[3]["result"]["frames"] == 180
    assert results[4]["error"]["type"] == "input"


def test_transition_seams_go_where_the_motion_is_calm():
    """A transition's seam moves out of a burst of the segment's own motion (a foot strike), never into the span."""
    from kinmo_core.editing.composite import placed_features
    from kinmo_core.editing.timeline import SEAM_SHIFTS, TRANSITION_FADES, _calm_seams, _seam_peak
    from kinmo_core.motion.skeleton import rest_pose

    rest = rest_pose()
    joints = np.repeat((rest - rest[:1] * np.array([1.0, 0.0, 1.0]))[None], 100, 0)
    joints[50:59, 10] += 0.05 * np.sin(np.arange(9) * 2.5)[:, None]  # the left foot shakes over frames 50-58
    old = placed_features(joints)
    new = old.copy()
    s0, s1, fades = _calm_seams(old, new, 20, 56, target=0.0)
    assert s0 == 20  # a calm start stays where it is
    assert 56 < s1 <= 56 + SEAM_SHIFTS[-1]
    assert _seam_peak(old, s1) < 0.1 * _seam_peak(old, 56)
    assert fades == (TRANSITION_FADES[0], TRANSITION_FADES[0])  # a longer fade does not calm an unchanged span


def test_a_transition_seam_over_its_target_gets_a_longer_fade():
    """A jump the shortest fade leaves over the target is faded over more rows, the shortest that meets it."""
    from kinmo_core.editing.composite import placed_features
    from kinmo_core.editing.loop import _crossfade
    from kinmo_core.editing.timeline import CROSSFADE, TRANSITION_FADES, _calm_seams, _seam_peak
    from kinmo_core.motion.skeleton import rest_pose

    rest = rest_pose()
    joints = np.repeat((rest - rest[:1] * np.array([1.0, 0.0, 1.0]))[None], 120, 0)
    old = placed_features(joints)
    moved = joints.copy()
    moved[:, 20:22] += np.array([0.0, 0.25, 0.2])  # the span holds the wrists 32 cm away
    new = placed_features(moved)
    short = _seam_peak(_crossfade(old, new, 50, 70, CROSSFADE), 50)
    s0, _, (before, _) = _calm_seams(old, new, 50, 70, target=0.5 * short)
    assert before > TRANSITION_FADES[0]
    assert _seam_peak(_crossfade(old, new, s0, 70, (before, CROSSFADE)), s0) <= 0.5 * short
