"""Stick-figure previews of a motion: animated GIF/MP4 (three orthographic views or an orbiting camera) and a PNG sheet.

Joints are (T, 22, 3) in KinMo's convention (Y up, metres, facing +Z at rest, body's left +X).
Each of the six kinematic groups has one colour, defined once in `GROUP_COLORS`.
Rendering uses matplotlib's Agg backend; one figure is built per call and its artists are
updated in place every frame, because creating figures per frame is the slow part.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MultipleLocator  # noqa: E402
from tqdm import tqdm  # noqa: E402

from kinmo_core.errors import KinmoInputError  # noqa: E402
from kinmo_core.fileio import atomic_output  # noqa: E402
from kinmo_core.motion.kinematic import GROUP_TITLES, GROUPS, JOINT_GROUP  # noqa: E402
from kinmo_core.motion.skeleton import FPS, JOINT_INDEX, NUM_JOINTS, PARENTS  # noqa: E402

GROUP_COLORS: dict[str, str] = {
    "torso": "#4d4d4d",
    "neck": "#9467bd",
    "left_arm": "#1f77b4",
    "right_arm": "#d62728",
    "left_leg": "#17becf",
    "right_leg": "#ff7f0e",
}
"""One colour per kinematic group (left side blue/cyan, right side red/orange), used by every preview."""

VIEWS: tuple[str, ...] = ("three", "orbit")
VIDEO_EXTENSIONS: tuple[str, ...] = (".gif", ".mp4")

# Each bone is drawn in the colour of its child joint's group, so a limb's first bone belongs to the limb.
_BONES: tuple[tuple[int, int], ...] = tuple((PARENTS[j], j) for j in range(1, NUM_JOINTS))
_GROUP_BONES: dict[str, np.ndarray] = {
    g: np.array([(p, c) for p, c in _BONES if JOINT_GROUP[c] == g], dtype=np.int64) for g in GROUPS
}
_GROUP_JOINT_LISTS: dict[str, list[int]] = {g: [j for j in range(NUM_JOINTS) if JOINT_GROUP[j] == g] for g in GROUPS}
_GRID_STEP = 0.5  # metres between ground grid lines
_HALF_WIDTH = 1.1  # metres shown either side of the root in the following views
_TRAJ_COLOR = "#2ca02c"
_HIGHLIGHT_COLOR = "#fff1d6"

# The three orthographic views as (title, horizontal axis, horizontal sign, vertical axis, vertical sign).
# Front looks from +Z (the body's left, +X, appears on the right); side looks from the body's right (-X) so
# the figure faces right; top looks down from +Y with the front view below it (third-angle layout).
_ORTHO_VIEWS: tuple[tuple[str, int, float, int, float], ...] = (
    ("front", 0, 1.0, 1, 1.0),
    ("side (from the right)", 2, 1.0, 1, 1.0),
    ("top", 0, 1.0, 2, -1.0),
)


def _check_joints(joints: np.ndarray) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise KinmoInputError(f"expected joints of shape (T, {NUM_JOINTS}, 3), got {joints.shape}")
    if joints.shape[0] < 1:
        raise KinmoInputError("the motion has no frames to render")
    if not np.isfinite(joints).all():
        raise KinmoInputError("the joints contain NaN or infinite values")
    return joints


def _legend_handles() -> list[Line2D]:
    return [Line2D([], [], color=GROUP_COLORS[g], lw=3, label=GROUP_TITLES[g]) for g in GROUPS]


class _ThreeViews:
    """Front, side and top views side by side; the front and side views follow the root."""

    size = (9.6, 3.6)
    dpi = 80  # 768 x 288 pixels: both multiples of 16, as the MP4 encoder wants

    def __init__(self, joints: np.ndarray, title: str | None, highlight: tuple[int, int] | None = None):
        self.joints = joints
        self.highlight = highlight
        self.floor = float(joints[..., 1].min())
        top = float(joints[..., 1].max())
        self.fig, axes = plt.subplots(1, 3, figsize=self.size, dpi=self.dpi)
        self.fig.subplots_adjust(left=0.02, right=0.98, bottom=0.13, top=0.86, wspace=0.08)
        self.axes = list(axes)
        self.collections: list[dict[str, LineCollection]] = []
        self.points: list[dict[str, Line2D]] = []
        root = joints[:, 0]
        for ax, (name, h, hs, v, vs) in zip(self.axes, _ORTHO_VIEWS, strict=True):
            ax.set_title(name, fontsize=9)
            ax.set_aspect("equal", adjustable="box")
            ax.xaxis.set_major_locator(MultipleLocator(_GRID_STEP))
            ax.yaxis.set_major_locator(MultipleLocator(_GRID_STEP))
            ax.grid(True, color="#dddddd", lw=0.6)
            ax.tick_params(labelbottom=False, labelleft=False, length=0)
            if name == "top":
                traj_h, traj_v = hs * root[:, h], vs * root[:, v]
                ax.plot(traj_h, traj_v, color=_TRAJ_COLOR, lw=0.8, alpha=0.35)
                self.trail = ax.plot([], [], color=_TRAJ_COLOR, lw=1.5)[0]
                ch, cv = (traj_h.min() + traj_h.max()) / 2, (traj_v.min() + traj_v.max()) / 2
                half = max(
                    _HALF_WIDTH, (traj_h.max() - traj_h.min()) / 2 + 0.6, (traj_v.max() - traj_v.min()) / 2 + 0.6
                )
                ax.set_xlim(ch - half, ch + half)
                ax.set_ylim(cv - half, cv + half)
            else:
                ax.axhline(self.floor, color="#888888", lw=1.2)
                height = max(top - self.floor, 1.0)
                ax.set_ylim(self.floor - 0.1, self.floor + 0.1 + height + 0.1)
            cols = {}
            pts = {}
            for g in GROUPS:
                cols[g] = ax.add_collection(LineCollection([], colors=GROUP_COLORS[g], linewidths=2.2))
                pts[g] = ax.plot([], [], "o", color=GROUP_COLORS[g], ms=2.5)[0]
            self.collections.append(cols)
            self.points.append(pts)
        self.fig.legend(handles=_legend_handles(), loc="lower center", ncol=6, fontsize=8, frameon=False)
        self.title = title or ""
        self.suptitle = self.fig.suptitle("", fontsize=9)

    def update(self, t: int) -> None:
        pose = self.joints[t]
        for i, (name, h, hs, v, vs) in enumerate(_ORTHO_VIEWS):
            xy = np.stack([hs * pose[:, h], vs * pose[:, v]], axis=-1)
            for g in GROUPS:
                self.collections[i][g].set_segments(xy[_GROUP_BONES[g]])
                self.points[i][g].set_data(xy[_GROUP_JOINT_LISTS[g], 0], xy[_GROUP_JOINT_LISTS[g], 1])
            if name == "top":
                self.trail.set_data(hs * self.joints[: t + 1, 0, h], vs * self.joints[: t + 1, 0, v])
            else:
                c = hs * pose[0, h]
                self.axes[i].set_xlim(c - _HALF_WIDTH, c + _HALF_WIDTH)
        head = f"{self.title}  " if self.title else ""
        _mark(self, t, f"{head}frame {t + 1}/{len(self.joints)}  {t / FPS:5.2f} s")


class _Orbit:
    """One 3-D view whose camera turns once around the figure over the clip and follows the root."""

    size = (4.8, 4.8)
    dpi = 100  # 480 x 480 pixels

    def __init__(self, joints: np.ndarray, title: str | None, highlight: tuple[int, int] | None = None):
        self.highlight = highlight
        # World (x, y, z) with Y up maps to matplotlib's Z-up axes as (x, -z, y): a rotation, so nothing is mirrored.
        self.joints = joints
        self.p = np.stack([joints[..., 0], -joints[..., 2], joints[..., 1]], axis=-1)
        self.floor = float(self.p[..., 2].min())
        self.height = max(float(self.p[..., 2].max()) - self.floor, 1.0)
        self.fig = plt.figure(figsize=self.size, dpi=self.dpi)
        self.ax = self.fig.add_axes((0.0, 0.06, 1.0, 0.88), projection="3d")
        self.ax.set_box_aspect((1, 1, 1), zoom=1.35)
        self.ax.set_axis_off()
        root = self.p[:, 0]
        lo = np.floor((root[:, :2].min(0) - _HALF_WIDTH - 0.5) / _GRID_STEP) * _GRID_STEP
        hi = np.ceil((root[:, :2].max(0) + _HALF_WIDTH + 0.5) / _GRID_STEP) * _GRID_STEP
        for x in np.arange(lo[0], hi[0] + 1e-9, _GRID_STEP):
            self.ax.plot([x, x], [lo[1], hi[1]], [self.floor] * 2, color="#dddddd", lw=0.6)
        for y in np.arange(lo[1], hi[1] + 1e-9, _GRID_STEP):
            self.ax.plot([lo[0], hi[0]], [y, y], [self.floor] * 2, color="#dddddd", lw=0.6)
        self.ax.plot(root[:, 0], root[:, 1], np.full(len(root), self.floor), color=_TRAJ_COLOR, lw=0.8, alpha=0.35)
        self.trail = self.ax.plot([], [], [], color=_TRAJ_COLOR, lw=1.5)[0]
        self.lines: dict[str, list] = {g: [] for g in GROUPS}
        for g in GROUPS:
            for _ in _GROUP_BONES[g]:
                self.lines[g].append(self.ax.plot([], [], [], color=GROUP_COLORS[g], lw=2.2)[0])
        self.fig.legend(handles=_legend_handles(), loc="lower center", ncol=3, fontsize=7, frameon=False)
        self.title = title or ""
        self.suptitle = self.fig.suptitle("", fontsize=9)

    def update(self, t: int) -> None:
        pose = self.p[t]
        for g in GROUPS:
            for line, (a, b) in zip(self.lines[g], _GROUP_BONES[g], strict=True):
                line.set_data_3d([pose[a, 0], pose[b, 0]], [pose[a, 1], pose[b, 1]], [pose[a, 2], pose[b, 2]])
        self.trail.set_data_3d(self.p[: t + 1, 0, 0], self.p[: t + 1, 0, 1], np.full(t + 1, self.floor))
        cx, cy = pose[0, 0], pose[0, 1]
        half = max(_HALF_WIDTH, self.height / 2 + 0.1)
        self.ax.set_xlim(cx - half, cx + half)
        self.ax.set_ylim(cy - half, cy + half)
        self.ax.set_zlim(self.floor, self.floor + 2 * half)
        # The camera starts in front of the body (azimuth -90 looks along +y, i.e. from world +Z) and turns once.
        self.ax.view_init(elev=15, azim=-90 + 360.0 * t / max(len(self.p), 1))
        head = f"{self.title}  " if self.title else ""
        _mark(self, t, f"{head}frame {t + 1}/{len(self.p)}  {t / FPS:5.2f} s")


def _mark(scene, t: int, text: str) -> None:
    # Frames inside the highlighted (edited) range get a tinted background and a marked title.
    h = scene.highlight
    inside = h is not None and h[0] <= t < h[1]
    scene.fig.set_facecolor(_HIGHLIGHT_COLOR if inside else "white")
    scene.suptitle.set_text(f"{text}  [edited {h[0]}:{h[1]}]" if inside else text)
    scene.suptitle.set_color("#b00000" if inside else "black")


def _frames(scene, indices: np.ndarray, progress: bool) -> Iterator[np.ndarray]:
    canvas = scene.fig.canvas
    for t in tqdm(indices, desc="render", unit="frame", disable=not progress, leave=False):
        scene.update(int(t))
        canvas.draw()
        yield np.asarray(canvas.buffer_rgba())[..., :3].copy()


def render_motion(
    joints: np.ndarray,
    out_path: str | os.PathLike,
    views: str = "three",
    fps: int = FPS,
    title: str | None = None,
    step: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    highlight: tuple[int, int] | None = None,
) -> Path:
    """Render an animated stick figure of joints (T, 22, 3) to a .gif or .mp4 file, written atomically.

    highlight (start, stop): frames shown on a tinted background with the range in the title (edited frames).
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise KinmoInputError(f"{out_path}: unknown preview extension {out_path.suffix!r}; use .gif or .mp4")
    if views not in VIEWS:
        raise KinmoInputError(f"unknown view {views!r}; choose one of {', '.join(VIEWS)}")
    if step < 1:
        raise KinmoInputError(f"step must be 1 or more, got {step}")
    if fps <= 0:
        raise KinmoInputError(f"fps must be positive, got {fps}")
    joints = _check_joints(joints)
    indices = np.arange(0, len(joints), step)
    out_fps = fps / step
    with atomic_output(out_path, overwrite=overwrite) as tmp:
        scene = _ThreeViews(joints, title, highlight) if views == "three" else _Orbit(joints, title, highlight)
        try:
            if out_path.suffix.lower() == ".gif":
                _write_gif(tmp, _frames(scene, indices, progress), out_fps)
            else:
                _write_mp4(tmp, _frames(scene, indices, progress), out_fps, scene.fig)
        finally:
            plt.close(scene.fig)
    return out_path


def _write_gif(path: Path, frames: Iterator[np.ndarray], fps: float) -> None:
    # Quantising each frame to the first frame's palette as it arrives keeps one byte per pixel in memory,
    # instead of holding every RGB frame until the file is written.
    from PIL import Image

    images: list[Image.Image] = []
    palette = None
    for rgb in frames:
        im = Image.fromarray(rgb)
        if palette is None:
            # The palette comes from the first frame plus a swatch of every drawing colour blended with white, so
            # colours absent from frame 0 (the trail, a limb hidden at first) keep their hue later.
            palette = Image.fromarray(np.concatenate([rgb, _palette_swatch(rgb.shape[1])])).quantize(
                colors=255, method=Image.Quantize.MEDIANCUT
            )
        images.append(im.quantize(palette=palette, dither=Image.Dither.NONE))
    duration = max(int(round(1000.0 / fps)), 20)  # most viewers clamp GIF frame delays below 20 ms
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)


def _palette_swatch(width: int) -> np.ndarray:
    colours = [*GROUP_COLORS.values(), _TRAJ_COLOR, "#888888", "#dddddd", "#000000"]
    rows = []
    for c in colours:
        rgb = np.array(matplotlib.colors.to_rgb(c))
        for alpha in (1.0, 0.75, 0.5, 0.25):
            shade = (255 * (alpha * rgb + (1 - alpha))).round().astype(np.uint8)
            rows.append(np.broadcast_to(shade, (4, width, 3)))
    return np.concatenate(rows)


def _write_mp4(path: Path, frames: Iterator[np.ndarray], fps: float, fig) -> None:
    import imageio_ffmpeg

    width, height = fig.canvas.get_width_height()
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        codec="libx264",
        pix_fmt_out="yuv420p",
        ffmpeg_log_level="error",
        output_params=["-f", "mp4"],
    )
    writer.send(None)
    try:
        for rgb in frames:
            writer.send(np.ascontiguousarray(rgb))
    finally:
        writer.close()


def plot_motion_summary(
    joints: np.ndarray, out_png: str | os.PathLike, title: str | None = None, poses: int = 6, overwrite: bool = False
) -> Path:
    """Write a PNG sheet of a motion: a few front-view poses over time, joint heights and per-group speeds."""
    out_png = Path(out_png)
    if out_png.suffix.lower() != ".png":
        raise KinmoInputError(f"{out_png}: the summary sheet is a .png file")
    joints = _check_joints(joints)
    with atomic_output(out_png, overwrite=overwrite) as tmp:
        fig = _summary_figure(joints, title, poses)
        try:
            fig.savefig(tmp, format="png")
        finally:
            plt.close(fig)
    return out_png


def _summary_figure(joints: np.ndarray, title: str | None, poses: int):
    n = len(joints)
    seconds = np.arange(n) / FPS
    fig = plt.figure(figsize=(11, 7.5), dpi=90)
    grid = fig.add_gridspec(3, poses, height_ratios=(1.4, 1, 1), hspace=0.45)
    floor = float(joints[..., 1].min())
    top = float(joints[..., 1].max())
    for k, t in enumerate(np.linspace(0, n - 1, poses).round().astype(int)):
        ax = fig.add_subplot(grid[0, k])
        pose = joints[t]
        for g in GROUPS:
            ax.add_collection(LineCollection(pose[_GROUP_BONES[g]][..., [0, 1]], colors=GROUP_COLORS[g], lw=2))
        ax.axhline(floor, color="#888888", lw=1)
        ax.set_xlim(pose[0, 0] - 0.8, pose[0, 0] + 0.8)
        ax.set_ylim(floor - 0.05, floor + max(top - floor, 1.0) + 0.1)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{t / FPS:.2f} s", fontsize=8)
    ax_h = fig.add_subplot(grid[1, :])
    for name in ("head", "left_wrist", "right_wrist", "left_foot", "right_foot", "pelvis"):
        j = JOINT_INDEX[name]
        ax_h.plot(
            seconds,
            joints[:, j, 1] - floor,
            color=GROUP_COLORS[JOINT_GROUP[j]],
            lw=1.2,
            ls="--" if name.startswith("right") else "-",
            label=name.replace("_", " "),
        )
    ax_h.set_ylabel("height above floor (m)", fontsize=8)
    ax_h.legend(fontsize=7, ncol=6, loc="upper right")
    ax_h.grid(True, color="#eeeeee")
    ax_v = fig.add_subplot(grid[2, :], sharex=ax_h)
    speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1) * FPS if n > 1 else np.zeros((1, NUM_JOINTS))
    for g in GROUPS:
        ax_v.plot(
            seconds[1:] if n > 1 else seconds,
            speed[:, _GROUP_JOINT_LISTS[g]].mean(1),
            color=GROUP_COLORS[g],
            lw=1.2,
            label=GROUP_TITLES[g],
        )
    ax_v.set_ylabel("mean joint speed (m/s)", fontsize=8)
    ax_v.set_xlabel("time (s)", fontsize=8)
    ax_v.legend(fontsize=7, ncol=6, loc="upper right")
    ax_v.grid(True, color="#eeeeee")
    fig.suptitle(title or f"{n} frames, {n / FPS:.2f} s at {FPS} fps", fontsize=10)
    return fig
