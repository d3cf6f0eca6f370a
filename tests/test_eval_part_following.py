"""Part-following checks on synthetic motions built by forward kinematics on the target skeleton."""

from __future__ import annotations

import collections
import re

import numpy as np
import pytest
from conftest import BANDAI_DIR, requires_shared

from kinmo_core.data.actions import GROUP_ACTIONS
from kinmo_core.errors import KinmoInputError
from kinmo_core.eval import part_following as pf
from kinmo_core.eval.part_prompts import PART_PROMPTS
from kinmo_core.motion import rotations as R
from kinmo_core.motion.features import mirror_joints
from kinmo_core.motion.skeleton import JOINT_INDEX, NUM_JOINTS, PARENTS, TARGET_OFFSETS, rest_pose

J = JOINT_INDEX
T = 40
X, Y, Z = np.eye(3)
ROOT_HEIGHT = rest_pose()[0, 1]


def fk(local: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Joints (T, 22, 3) from local wxyz rotations (T, 22, 4) and root positions (T, 3) on TARGET_OFFSETS."""
    g = [local[:, 0]]
    pos = [root]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        pos.append(pos[p] + R.qrot(g[p], np.broadcast_to(TARGET_OFFSETS[j], root.shape)))
        g.append(R.qmul(g[p], local[:, j]))
    return np.stack(pos, axis=1)


def ramp(peak: float, up: int = 8, hold: int = 20) -> np.ndarray:
    """Angle track (T,): 0, rising to `peak` over `up` frames, held `hold` frames, then back down."""
    a = np.zeros(T)
    a[2:2 + up] = np.linspace(0, peak, up)
    a[2 + up:2 + up + hold] = peak
    down = T - (2 + up + hold)
    a[2 + up + hold:] = np.linspace(peak, 0, down)
    return a


def motion(rots: dict[str, tuple[np.ndarray, np.ndarray]], yaw: float = 0.7, shift=(1.5, -2.0)) -> np.ndarray:
    """Build joints from {joint name: (axis, angle track in degrees)}, turned by `yaw` and moved on the floor."""
    local = np.zeros((T, NUM_JOINTS, 4))
    local[..., 0] = 1.0
    for name, (axis, deg) in rots.items():
        q = R.quat_from_axis_angle(np.broadcast_to(axis, (T, 3)), np.radians(deg))
        local[:, J[name]] = R.qmul(q, local[:, J[name]])
    local[:, 0] = R.qmul(R.y_rotation(np.full(T, yaw)), local[:, 0])
    root = np.tile([shift[0], ROOT_HEIGHT, shift[1]], (T, 1))
    return fk(local, root)


def standing() -> np.ndarray:
    return motion({})


def raise_left() -> np.ndarray:
    return motion({"left_shoulder": (Z, ramp(150))})


def wave_right() -> np.ndarray:
    t = np.arange(T)
    elbow = np.where((t > 10) & (t < 36), 35 * np.sin(2 * np.pi * 1.5 * t / 20), 0.0)
    return motion({"right_shoulder": (-Z, ramp(150)), "right_elbow": (-Z, elbow)})


def punch_left() -> np.ndarray:
    shoulder = ramp(-90, up=4, hold=30)
    elbow = np.full(T, 0.0)
    elbow[:20] = np.minimum(np.arange(20) * 20, 130)  # bend the elbow while the arm comes up
    elbow[20:23] = np.linspace(130, 0, 3)  # then snap it straight
    return motion({"left_shoulder": (X, shoulder), "left_elbow": (X, -elbow)})


def reach_right() -> np.ndarray:
    return motion({"right_shoulder": (X, ramp(-85))})


def kick_right() -> np.ndarray:
    return motion({"right_hip": (X, ramp(-75, up=4, hold=4))})


def knee_lift_left() -> np.ndarray:
    return motion({"left_hip": (X, ramp(-90)), "left_knee": (X, ramp(90))})


def head_turn_left() -> np.ndarray:
    return motion({"neck": (Y, ramp(55))})


def look_up() -> np.ndarray:
    return motion({"neck": (X, ramp(-40))})


def lean_right() -> np.ndarray:
    return motion({"spine1": (Z, ramp(25))})


def twist_left() -> np.ndarray:
    return motion({"spine2": (Y, ramp(20)), "spine3": (Y, ramp(20))})


CASES = [
    (raise_left, "left_arm", "raise", "left"),
    (wave_right, "right_arm", "wave", "right"),
    (punch_left, "left_arm", "punch", "left"),
    (reach_right, "right_arm", "reach", "right"),
    (kick_right, "right_leg", "kick", "right"),
    (knee_lift_left, "left_leg", "lift", "left"),
    (head_turn_left, "neck", "look", "left"),
    (look_up, "neck", "look", "up"),
    (lean_right, "torso", "lean", "right"),
    (twist_left, "torso", "twist", "left"),
]


def test_body_frame_removes_root_yaw_and_position():
    a, b = motion({}, yaw=0.0, shift=(0, 0)), motion({}, yaw=2.1, shift=(3, 4))
    np.testing.assert_allclose(pf.body_frame(a), pf.body_frame(b), atol=1e-9)
    # In the body frame the body's left (+X) holds the left joints and the face points +Z.
    body = pf.body_frame(b)
    assert body[0, J["left_shoulder"], 0] > 0.1 > -0.1 > body[0, J["right_shoulder"], 0]
    assert body[0, J["head"], 2] > body[0, J["neck"], 2]


@pytest.mark.parametrize("make, group, action, side", CASES, ids=[f"{c[1]}-{c[2]}-{c[3]}" for c in CASES])
def test_check_detects_named_side_only(make, group, action, side):
    joints = make()
    result = pf.check_part(joints, group, action, side)
    assert result.named, result
    assert not result.other, result
    assert result.followed
    # The same motion does not follow the mirrored prompt ...
    g2, a2, s2 = pf.mirror_check(group, action, side)
    assert not pf.check_part(joints, g2, a2, s2).followed
    # ... until the body is mirrored: then left and right swap, while up and down stay.
    mirrored = mirror_joints(joints)
    if side in ("up", "down"):
        assert pf.check_part(mirrored, group, action, side).followed
    else:
        assert pf.check_part(mirrored, g2, a2, s2).followed
        assert not pf.check_part(mirrored, group, action, side).named


@pytest.mark.parametrize("make, group, action, side", CASES, ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_standing_still_follows_nothing(make, group, action, side):
    r = pf.check_part(standing(), group, action, side)
    assert not r.named and not r.other


def test_measured_quantities_are_reported():
    ok, values = pf.measure(raise_left(), "left_arm", "raise", "left")
    assert ok
    # 150 degrees from hanging: the wrist rises about 0.52 * cos(30 deg) above the shoulder.
    assert values["wrist_above_shoulder_max_m"] == pytest.approx((0.25684 + 0.266012) * np.cos(np.radians(30)), 1e-3)
    assert values["raised_frames"] >= pf.RAISE_MIN_FRAMES
    ok, values = pf.measure(head_turn_left(), "neck", "look", "left")
    assert values["head_yaw_max_deg"] == pytest.approx(55, abs=0.5)


def test_short_raise_is_not_enough():
    track = np.zeros(T)
    track[10:16] = [60, 150, 150, 150, 150, 60]  # hand above the shoulder for only 4 frames (0.2 s)
    brief = motion({"left_shoulder": (Z, track)})
    assert pf.measure(brief, "left_arm", "raise", "left")[1]["raised_frames"] == 4
    assert not pf.check_part(brief, "left_arm", "raise", "left").named


def test_hands_up_on_both_sides_is_not_following():
    both = motion({"left_shoulder": (Z, ramp(150)), "right_shoulder": (-Z, ramp(150))})
    r = pf.check_part(both, "left_arm", "raise", "left")
    assert r.named and r.other and not r.followed


def test_bad_checks_and_joints_raise_clear_errors():
    with pytest.raises(KinmoInputError, match="no part-following check"):
        pf.check_part(standing(), "left_arm", "kick", "left")
    with pytest.raises(KinmoInputError, match="contradicts"):
        pf.check_part(standing(), "left_arm", "raise", "right")
    with pytest.raises(KinmoInputError, match="unknown group"):
        pf.check_part(standing(), "tail", "wag", "left")
    with pytest.raises(KinmoInputError, match="shape"):
        pf.check_part(np.zeros((10, 21, 3)), "neck", "look", "up")
    with pytest.raises(KinmoInputError, match="NaN"):
        pf.check_part(np.full((10, 22, 3), np.nan), "neck", "look", "up")


def test_prompt_set():
    texts = [p.text for p in PART_PROMPTS]
    assert len(PART_PROMPTS) >= 200
    assert len(set(texts)) == len(texts)
    for p in PART_PROMPTS:
        pf.validate_check(p.group, p.action, p.side)
        assert p.action in GROUP_ACTIONS[p.group]
        # Every left/right prompt names its side in words (up/down ones may say "sky" or "floor").
        if p.side in ("left", "right"):
            words = re.findall(r"[a-z]+", p.text.lower())
            assert p.side in words or f"{p.side}ward" in words, p
    counts = collections.Counter((pf.GROUP_KIND[p.group], p.action, p.side) for p in PART_PROMPTS)
    for (kind, action), sides in pf.CHECK_SIDES.items():
        for side in sides:
            assert counts[(kind, action, side)] >= 7, (kind, action, side)
    # Not a template: many different openings and sentence lengths.
    assert len({t.split()[1] for t in texts}) > 40
    assert len({len(t.split()) for t in texts}) > 8


def test_evaluate_part_following_with_a_lookup_generator():
    library = {"raise_left": raise_left(), "standing": standing(), "look_up": look_up()}
    prompts = [p for p in PART_PROMPTS if (p.group, p.action) in {("left_arm", "raise"), ("neck", "look")}
               and p.side in ("left", "up")]

    def generate(text: str) -> np.ndarray:
        if "left" in text and ("arm" in text or "hand" in text):
            return library["raise_left"]
        if "up" in text or "sky" in text:
            return library["look_up"]
        return library["standing"]

    out = pf.evaluate_part_following(generate, prompts, progress=False)
    assert out["count"] == len(prompts)
    assert out["rate/left_arm/raise"] == 1.0
    assert 0.0 < out["rate"] < 1.0  # head-turn-left prompts get the standing motion and fail
    assert out["rate/neck"] < 1.0


def _follow_counts(pattern: str) -> tuple[int, collections.Counter]:
    from kinmo_core.motion.rigs import load_bvh_joints

    files = sorted(BANDAI_DIR.glob(f"dataset-1_{pattern}_*.bvh"))
    counts: collections.Counter = collections.Counter()
    for f in files:
        joints, _ = load_bvh_joints(f)
        for (kind, action), sides in pf.CHECK_SIDES.items():
            for side in sides:
                group = {"arm": f"{side}_arm", "leg": f"{side}_leg"}.get(kind, kind)
                counts[(group, action, side)] += pf.check_part(joints, group, action, side).followed
    return len(files), counts


@requires_shared
def test_real_mocap_gestures_bandai():
    # Bandai-Namco mocap (CC BY-NC 4.0, Bandai Namco Research Inc.): 'bye' waves the right hand, 'guide' shows the
    # way with the right arm, 'byebye' waves both hands (so neither side alone), 'walk' does none of these.
    n, bye = _follow_counts("bye")
    assert n == 15 and bye[("right_arm", "wave", "right")] >= 8 and bye[("right_arm", "raise", "right")] >= 8
    assert bye[("left_arm", "wave", "left")] == 0 and bye[("left_arm", "raise", "left")] == 0
    _, guide = _follow_counts("guide")
    assert guide[("right_arm", "reach", "right")] >= 12 and guide[("left_arm", "reach", "left")] == 0
    _, both = _follow_counts("byebye")
    assert sum(both[(f"{s}_arm", a, s)] for s in ("left", "right") for a in ("wave", "raise")) == 0
    n, walk = _follow_counts("walk")
    assert n == 30
    assert sum(walk[(f"{s}_arm", a, s)] for s in ("left", "right") for a in ("raise", "wave")) == 0
    assert sum(walk[(f"{s}_leg", a, s)] for s in ("left", "right") for a in ("kick", "lift")) == 0
    assert sum(walk[(f"{s}_arm", "punch", s)] for s in ("left", "right")) <= 3
