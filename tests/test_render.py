"""Stick-figure previews: frame counts, timing, view orientation, group colours, atomic and refused writes."""

from __future__ import annotations

import imageio_ffmpeg
import matplotlib.colors
import numpy as np
import pytest
from PIL import Image

from kinmo_core import render
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.kinematic import GROUPS
from kinmo_core.motion.skeleton import JOINT_INDEX, rest_pose
from kinmo_core.render import GROUP_COLORS, plot_motion_summary, render_motion


@pytest.fixture(scope="module")
def short(fixture_joints) -> np.ndarray:
    return fixture_joints[:10]


def _gif_frames(path) -> list[np.ndarray]:
    im = Image.open(path)
    frames = []
    for i in range(im.n_frames):
        im.seek(i)
        frames.append(np.asarray(im.convert("RGB")))
    return frames


def _colour_columns(img: np.ndarray, colour: str, tol: int = 40) -> np.ndarray:
    rgb = np.array(matplotlib.colors.to_rgb(colour)) * 255
    mask = np.abs(img.astype(float) - rgb).max(-1) < tol
    return np.nonzero(mask)[1]


def test_gif_has_every_frame_at_20_fps(short, tmp_path):
    out = render_motion(short, tmp_path / "a.gif", progress=False)
    im = Image.open(out)
    assert im.n_frames == len(short)
    assert im.info["duration"] == 50
    assert im.size == (768, 288)


def test_step_skips_frames_and_keeps_real_time(short, tmp_path):
    out = render_motion(short, tmp_path / "a.gif", step=3, progress=False)
    im = Image.open(out)
    assert im.n_frames == 4  # frames 0, 3, 6, 9
    assert im.info["duration"] == 150


def test_frames_follow_the_motion(short, tmp_path):
    frames = _gif_frames(render_motion(short, tmp_path / "a.gif", progress=False))
    assert not np.array_equal(frames[0], frames[-1])


def test_orbit_camera_turns_for_a_still_pose(tmp_path):
    still = np.repeat(rest_pose()[None], 8, axis=0)
    frames = _gif_frames(render_motion(still, tmp_path / "o.gif", views="orbit", progress=False))
    assert len(frames) == 8
    # Frame 0 shows the pose from the front; half a turn later it is seen from behind, so the image differs.
    assert np.abs(frames[0].astype(int) - frames[4].astype(int)).sum() > 0


def test_front_top_and_first_orbit_views_show_the_bodys_left_on_the_right(tmp_path):
    # A T-pose-like figure: arms out sideways, so the left arm is far to +X and the right arm to -X.
    pose = rest_pose()
    for side, sign in (("left", 1.0), ("right", -1.0)):
        shoulder = pose[JOINT_INDEX[f"{side}_shoulder"]]
        for k, name in enumerate(("elbow", "wrist"), start=1):
            pose[JOINT_INDEX[f"{side}_{name}"]] = shoulder + np.array([sign * 0.26 * k, 0.0, 0.0])
    still = np.repeat(pose[None], 2, axis=0)
    frame = _gif_frames(render_motion(still, tmp_path / "t.gif", progress=False))[0]
    panel_w = frame.shape[1] // 3
    body = frame[: int(frame.shape[0] * 0.85)]  # above the legend
    crops = [body[:, panel * panel_w : (panel + 1) * panel_w] for panel in (0, 2)]  # front, top
    # The orbit starts in front of the body.
    orbit = _gif_frames(render_motion(still, tmp_path / "o.gif", views="orbit", progress=False))[0]
    crops.append(orbit[: int(orbit.shape[0] * 0.85)])
    for crop in crops:
        left = _colour_columns(crop, GROUP_COLORS["left_arm"])
        right = _colour_columns(crop, GROUP_COLORS["right_arm"])
        assert left.size and right.size
        assert left.mean() > right.mean() + 20


def test_every_group_colour_is_drawn_in_the_figure(short, tmp_path):
    frame = _gif_frames(render_motion(short, tmp_path / "a.gif", progress=False))[0]
    figure_only = frame[: int(frame.shape[0] * 0.85), : frame.shape[1] // 3]  # front view, no legend
    for g in GROUPS:
        assert _colour_columns(figure_only, GROUP_COLORS[g]).size > 5, g


def test_mp4_has_every_frame(short, tmp_path):
    out = render_motion(short, tmp_path / "a.mp4", progress=False)
    n, _ = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert n == len(short)
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    reader.close()
    assert tuple(meta["size"]) == (768, 288)
    assert meta["fps"] == pytest.approx(20)


def test_same_input_same_bytes(short, tmp_path):
    a = render_motion(short, tmp_path / "a.gif", progress=False)
    b = render_motion(short, tmp_path / "b.gif", progress=False)
    assert a.read_bytes() == b.read_bytes()


def test_existing_output_is_kept_without_overwrite(short, tmp_path):
    out = tmp_path / "a.gif"
    out.write_bytes(b"mine")
    with pytest.raises(KinmoInputError, match="already exists"):
        render_motion(short, out, progress=False)
    assert out.read_bytes() == b"mine"
    render_motion(short, out, overwrite=True, progress=False)
    assert Image.open(out).n_frames == len(short)


def test_failed_render_leaves_old_file_and_no_temporary(short, tmp_path, monkeypatch):
    out = tmp_path / "a.gif"
    out.write_bytes(b"mine")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
        yield

    monkeypatch.setattr(render, "_frames", broken)
    with pytest.raises(RuntimeError):
        render_motion(short, out, overwrite=True, progress=False)
    assert out.read_bytes() == b"mine"
    assert [p.name for p in tmp_path.iterdir()] == ["a.gif"]


@pytest.mark.parametrize(
    ("joints", "kwargs", "message"),
    [
        (np.zeros((5, 21, 3)), {}, r"shape \(T, 22, 3\)"),
        (np.full((5, 22, 3), np.nan), {}, "NaN"),
        (np.zeros((0, 22, 3)), {}, "no frames"),
        (np.zeros((5, 22, 3)), {"views": "sideways"}, "unknown view"),
        (np.zeros((5, 22, 3)), {"step": 0}, "step"),
    ],
)
def test_bad_input_is_one_clear_error(joints, kwargs, message, tmp_path):
    with pytest.raises(KinmoInputError, match=message):
        render_motion(joints, tmp_path / "a.gif", progress=False, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_unknown_extension(short, tmp_path):
    with pytest.raises(KinmoInputError, match="unknown preview extension"):
        render_motion(short, tmp_path / "a.avi", progress=False)


def test_summary_sheet(fixture_joints, tmp_path):
    out = plot_motion_summary(fixture_joints, tmp_path / "s.png", title="a walk")
    im = Image.open(out)
    assert im.format == "PNG" and im.size[0] > 600
    with pytest.raises(KinmoInputError, match="already exists"):
        plot_motion_summary(fixture_joints, out)


def test_side_view_shows_the_front_on_the_right_and_top_view_below(tmp_path):
    # Both arms reach straight forward (+Z): right of the torso in the side view, below it in the top view.
    pose = rest_pose()
    for side in ("left", "right"):
        shoulder = pose[JOINT_INDEX[f"{side}_shoulder"]]
        for k, name in enumerate(("elbow", "wrist"), start=1):
            pose[JOINT_INDEX[f"{side}_{name}"]] = shoulder + np.array([0.0, 0.0, 0.26 * k])
    frame = _gif_frames(render_motion(np.repeat(pose[None], 2, axis=0), tmp_path / "f.gif", progress=False))[0]
    panel_w = frame.shape[1] // 3
    body = frame[: int(frame.shape[0] * 0.85)]
    side = body[:, panel_w : 2 * panel_w]
    # Seen from the right, the right arm is drawn over the left one.
    arm, torso = _colour_columns(side, GROUP_COLORS["right_arm"]), _colour_columns(side, GROUP_COLORS["torso"])
    assert arm.mean() > np.median(torso) + 10 and arm.max() > np.median(torso) + 40
    top = body[:, 2 * panel_w :]
    rgb = np.array(matplotlib.colors.to_rgb(GROUP_COLORS["left_arm"])) * 255
    arm_rows = np.nonzero(np.abs(top.astype(float) - rgb).max(-1) < 40)[0]
    rgb = np.array(matplotlib.colors.to_rgb(GROUP_COLORS["neck"])) * 255
    neck_rows = np.nonzero(np.abs(top.astype(float) - rgb).max(-1) < 40)[0]
    assert arm_rows.mean() > neck_rows.mean() + 10
