"""Positions to rotations (kinmo_core.motion.ik): exactness, conventions, continuity, straight limbs, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion import ik
from kinmo_core.motion.rotations import qmul, quat_from_axis_angle
from kinmo_core.motion.skeleton import JOINT_INDEX, NUM_JOINTS, PARENTS, TARGET_OFFSETS, rest_pose
from tests.conftest import bandai_files, requires_shared

J = JOINT_INDEX


def _steps_deg(q: np.ndarray) -> np.ndarray:
    """Angle (degrees) between consecutive rotations along axis 0."""
    d = np.abs((q[1:] * q[:-1]).sum(-1)).clip(0, 1)
    return np.degrees(2 * np.arccos(d))


def _direction_steps_deg(joints: np.ndarray, j: int, c: int) -> np.ndarray:
    v = joints[:, c] - joints[:, j]
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip((v[1:] * v[:-1]).sum(-1), -1, 1)))


def _smooth_motion(frames: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth motion on the target skeleton: sinusoidal local rotations; elbows and knees pass through straight."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, frames)[:, None]
    axes = rng.normal(size=(NUM_JOINTS, 3))
    amp = rng.uniform(0.1, 0.6, size=NUM_JOINTS)
    phase = rng.uniform(0, 2 * np.pi, size=NUM_JOINTS)
    angle = amp * np.sin(t + phase)
    hinge = {J[n]: (sign, np.array([sign, 0.0, 0.0])) for n, sign in
             (("left_knee", 1.0), ("right_knee", 1.0), ("left_elbow", -1.0), ("right_elbow", -1.0))}
    for j, (_, axis) in hinge.items():
        axes[j] = axis
        angle[:, j] = 0.9 * np.clip(np.sin(t[:, 0] * 2 + phase[j]), 0, None)  # straight half of the time
    rot = quat_from_axis_angle(np.broadcast_to(axes, (frames, NUM_JOINTS, 3)), angle)
    root = np.stack((0.3 * np.sin(t[:, 0]), 0.9 + 0.02 * np.cos(3 * t[:, 0]), 0.5 * t[:, 0]), -1)
    return ik.forward_kinematics(rot, root), rot


def test_rest_pose_gives_identity_and_fk_of_identity_is_rest():
    rest = rest_pose()
    q = ik.positions_to_rotations(rest[None])
    assert q.shape == (1, NUM_JOINTS, 4)
    np.testing.assert_allclose(np.abs(q[0, :, 0]), 1.0, atol=1e-9)
    ident = np.zeros((NUM_JOINTS, 4))
    ident[:, 0] = 1
    np.testing.assert_allclose(ik.forward_kinematics(ident, rest[0]), rest, atol=1e-12)


def test_fk_convention_child_position_uses_parent_rotation():
    """p[j] = p[parent] + G[parent] offset[j]: turning the left hip moves the knee, not the hip itself."""
    q = np.zeros((NUM_JOINTS, 4))
    q[:, 0] = 1
    q[J["left_hip"]] = Rotation.from_euler("x", -90, degrees=True).as_quat()[[3, 0, 1, 2]]
    p = ik.forward_kinematics(q, np.zeros(3))
    rest = ik.forward_kinematics(np.tile([1.0, 0, 0, 0], (NUM_JOINTS, 1)), np.zeros(3))
    np.testing.assert_allclose(p[J["left_hip"]], rest[J["left_hip"]], atol=1e-12)
    # The thigh (rest -Y) turned -90 degrees about X points to +Z (forward).
    thigh = p[J["left_knee"]] - p[J["left_hip"]]
    np.testing.assert_allclose(thigh / np.linalg.norm(thigh), [0, 0, 1], atol=1e-9)


def test_fixture_fk_with_own_offsets_reproduces_positions(fixture_joints):
    joints = fixture_joints.astype(np.float64)
    q = ik.positions_to_rotations(joints)
    assert q.shape == joints.shape[:-1] + (4,)
    assert np.isfinite(q).all()
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-9)
    own = ik.estimate_offsets(joints)
    fk = ik.forward_kinematics(q, joints[:, 0], own)
    assert ik.mpjpe(fk, joints) <= 0.01
    assert np.abs(fk - joints).max() < 1e-4
    # Same bone lengths as the target: single-child bones of the estimate have the target's lengths.
    np.testing.assert_allclose(np.linalg.norm(own[4:9], axis=-1), np.linalg.norm(TARGET_OFFSETS[4:9], axis=-1),
                               atol=1e-5)


def test_fixture_rotations_are_sign_continuous(fixture_joints):
    q = ik.positions_to_rotations(fixture_joints)
    assert ((q[1:] * q[:-1]).sum(-1) >= 0).all()


def test_round_trip_on_target_skeleton_is_exact():
    joints, _ = _smooth_motion(60, seed=3)
    q = ik.positions_to_rotations(joints)
    np.testing.assert_allclose(ik.forward_kinematics(q, joints[:, 0]), joints, atol=1e-9)


def test_any_pose_of_the_target_skeleton_round_trips():
    """Uniformly random local rotations (crossed legs, arms behind the back, bent past 90 degrees) come back exactly."""
    rng = np.random.default_rng(7)
    q = Rotation.random(50 * NUM_JOINTS, random_state=rng).as_quat()[:, [3, 0, 1, 2]].reshape(50, NUM_JOINTS, 4)
    joints = ik.forward_kinematics(q, rng.normal(size=(50, 3)))
    r = ik.positions_to_rotations(joints)
    np.testing.assert_allclose(ik.forward_kinematics(r, joints[:, 0]), joints, atol=1e-9)


def test_torch_and_numpy_agree_and_batches_work(fixture_joints):
    joints = fixture_joints[:40].astype(np.float64)
    q_np = ik.positions_to_rotations(joints)
    q_t = ik.positions_to_rotations(torch.from_numpy(joints))
    assert isinstance(q_t, torch.Tensor)
    np.testing.assert_allclose(q_t.numpy(), q_np, atol=1e-12)
    batch = torch.from_numpy(np.stack((joints, joints[::-1].copy()))).float()
    qb = ik.positions_to_rotations(batch)
    assert qb.shape == (2, 40, NUM_JOINTS, 4) and qb.dtype == torch.float32
    fk = ik.forward_kinematics(qb, batch[..., 0, :], ik.estimate_offsets(batch))
    assert isinstance(fk, torch.Tensor)
    assert float((fk - batch).norm(dim=-1).mean()) < 1e-3


def test_smooth_motion_gives_small_steps_without_flips():
    joints, _ = _smooth_motion(200, seed=1)
    q = ik.positions_to_rotations(joints)
    g = ik.global_rotations(q)
    assert ((q[1:] * q[:-1]).sum(-1) > 0.97).all()  # under 28 degrees per frame anywhere
    steps = _steps_deg(g)
    for parent in range(NUM_JOINTS):
        kids = [c for c, p in enumerate(PARENTS) if p == parent]
        if len(kids) != 1:
            continue
        extra = steps[:, parent] - _direction_steps_deg(joints, parent, kids[0])
        assert extra.max() < 6.0, (parent, extra.max())


def test_straight_limbs_no_nan_and_no_twist_jump():
    """T-pose limbs (fully extended) and an arm that straightens and bends again in the same plane."""
    frames = 60
    q = np.zeros((frames, NUM_JOINTS, 4))
    q[..., 0] = 1
    t = np.linspace(0, 1, frames)
    # Arms out to the sides (T-pose), legs straight; the left elbow bends, straightens, bends again.
    q[:, J["left_shoulder"]] = quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), np.full(frames, np.pi / 2))
    q[:, J["right_shoulder"]] = quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), np.full(frames, -np.pi / 2))
    elbow = 1.2 * np.abs(np.sin(2 * np.pi * t))
    q[:, J["left_elbow"]] = quat_from_axis_angle(np.array([-1.0, 0.0, 0.0]), elbow)
    joints = ik.forward_kinematics(q, np.tile([0.0, 0.9, 0.0], (frames, 1)))
    r = ik.positions_to_rotations(joints)
    assert np.isfinite(r).all()
    np.testing.assert_allclose(ik.forward_kinematics(r, joints[:, 0]), joints, atol=1e-9)
    g = ik.global_rotations(r)
    assert _steps_deg(g[:, J["left_shoulder"]]).max() < 1.0  # the upper arm does not move: no twist at all
    assert _steps_deg(g[:, J["right_shoulder"]]).max() < 1e-3
    assert _steps_deg(g[:, J["left_hip"]]).max() < 1e-3


def test_single_pose_straight_limbs_are_finite():
    q = np.tile([1.0, 0, 0, 0], (NUM_JOINTS, 1))
    q[J["left_shoulder"]] = qmul(quat_from_axis_angle(np.array([0.0, 0, 1]), np.array(np.pi / 2)), q[0])
    joints = ik.forward_kinematics(q, np.zeros(3))
    r = ik.positions_to_rotations(joints[None])
    assert np.isfinite(r).all()
    np.testing.assert_allclose(ik.forward_kinematics(r[0], joints[0]), joints, atol=1e-9)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((5, 21, 3)), np.full((3, NUM_JOINTS, 3), np.nan), np.zeros((NUM_JOINTS, 3)), "not an array"],
)
def test_bad_input_raises_input_error(bad):
    with pytest.raises(KinmoInputError):
        ik.positions_to_rotations(bad)


def test_fk_rejects_bad_shapes():
    with pytest.raises(KinmoInputError):
        ik.forward_kinematics(np.zeros((4, NUM_JOINTS, 4)), np.zeros((3, 3)))
    with pytest.raises(KinmoInputError):
        ik.forward_kinematics(np.zeros((4, 20, 4)), np.zeros((4, 3)))


@requires_shared
def test_bandai_clips_fk_within_1cm_and_continuous():
    from kinmo_core.motion.bvh import read_bvh
    from kinmo_core.motion.rigs import map_positions, resolve_mapping

    files = bandai_files()
    for path in (files[0], files[len(files) // 2], files[-1]):
        bvh = read_bvh(path)
        src = map_positions(bvh, resolve_mapping(bvh))
        q = ik.positions_to_rotations(src)
        fk = ik.forward_kinematics(q, src[:, 0], ik.estimate_offsets(src))
        assert ik.mpjpe(fk, src) <= 0.01, path.name
        assert ((q[1:] * q[:-1]).sum(-1) > 0.5).all(), path.name
