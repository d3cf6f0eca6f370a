"""The kinematic-group representation (paper Eq. 1-3): exact inverse, semantics, pairs, numpy and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion import features as K
from kinmo_core.motion import group_representation as G
from kinmo_core.motion import rotations as R
from kinmo_core.motion.kinematic import GROUP_JOINTS, GROUPS, PAIR_CONNECTING_JOINT, PAIR_GROUPS, PAIRS
from kinmo_core.motion.skeleton import rest_pose

FLOATS = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False, width=64)


def feature_arrays(max_frames: int = 40):
    return st.integers(1, max_frames).flatmap(lambda t: arrays(np.float64, (t, 263), elements=FLOATS))


@pytest.mark.parametrize("name", ["fixture_features", "fixture_features_612"])
def test_round_trip_on_fixtures(name, request):
    f = request.getfixturevalue(name)
    gm = G.features_to_groups(f)
    assert np.abs(G.groups_to_features(gm) - f).max() < 1e-5
    vec = G.features_to_group_vector(f)
    assert vec.shape == (len(f), G.GROUP_VECTOR_DIM)
    assert np.abs(G.group_vector_to_features(vec) - f).max() < 1e-5


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feature_arrays())
def test_round_trip_random_features(f):
    back = G.groups_to_features(G.features_to_groups(f))
    assert back.shape == f.shape
    assert np.abs(back - f).max() < 1e-9
    assert np.abs(G.group_vector_to_features(G.features_to_group_vector(f)) - f).max() < 1e-9


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 30).flatmap(lambda t: arrays(np.float64, (t, 22, 3), elements=st.floats(-0.3, 0.3, width=64))))
def test_round_trip_random_joints(noise):
    # Random joints near a body (a rest pose plus up to 30 cm per coordinate), so most have a facing direction.
    joints = rest_pose()[None] + noise + np.cumsum(noise[:, :1], axis=0)
    try:
        f = K.joints_to_features(joints)
    except KinmoInputError:
        assume(False)
    gm = G.features_to_groups(f)
    assert np.abs(G.groups_to_features(gm) - f).max() < 1e-9
    # And through to joints: the group representation loses nothing.
    assert np.abs(K.features_to_joints(G.groups_to_features(gm)) - K.features_to_joints(f)).max() < 1e-9


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_round_trip_batched_torch(b1, b2, t, seed):
    f = torch.randn(b1, b2, t, 263, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    gm = G.features_to_groups(f)
    assert not gm.is_numpy
    back = G.groups_to_features(gm)
    assert isinstance(back, torch.Tensor) and back.shape == f.shape
    assert (back - f).abs().max() < 1e-12
    vec = G.features_to_group_vector(f)
    assert vec.shape == (b1, b2, t, G.GROUP_VECTOR_DIM)
    assert (G.group_vector_to_features(vec) - f).abs().max() < 1e-12
    np_vec = G.features_to_group_vector(f.numpy())
    assert np.abs(np_vec - vec.numpy()).max() < 1e-12


def test_group_position_is_mean_of_recovered_joints_in_root_frame(fixture_features):
    f = fixture_features.astype(np.float64)
    gm = G.features_to_groups(f)
    joints = K.features_to_joints(f)
    quat, root = K.features_to_root(f)
    # The root frame: root XZ removed, turned by the root quaternion (world -> heading).
    local = R.qrot(quat[:, None, :], joints - root[:, None, :] * np.array([1.0, 0.0, 1.0]))
    for g in GROUPS:
        mean = local[:, list(GROUP_JOINTS[g])].mean(1)
        assert np.abs(gm.position[g] - mean).max() < 1e-9, g
        assert np.abs(gm.joint_positions(g) - local[:, list(GROUP_JOINTS[g])]).max() < 1e-9
        assert np.abs(gm.offsets[g].sum(-2)).max() < 1e-9
        assert np.abs(gm.velocity_residual[g].sum(-2)).max() < 1e-9


def test_group_velocity_and_angles(fixture_features):
    f = fixture_features.astype(np.float64)
    gm = G.features_to_groups(f)
    vel = f[:, K.FEATURE_SLICES["velocity"]].reshape(-1, 22, 3)
    rot = f[:, K.FEATURE_SLICES["rot6d"]].reshape(-1, 21, 6)
    for g in GROUPS:
        assert np.allclose(gm.velocity[g], vel[:, list(GROUP_JOINTS[g])].mean(1), atol=1e-12)
        assert gm.rotation[g].shape[-2] == len(G.ROTATION_JOINTS[g])
        assert np.array_equal(gm.rotation[g], rot[:, [j - 1 for j in G.ROTATION_JOINTS[g]]])
    assert G.ROTATION_JOINTS["torso"] == (3, 6, 9)
    assert np.array_equal(gm.root, f[:, :4]) and np.array_equal(gm.contacts, f[:, 259:])


def test_pairs(fixture_features):
    f = fixture_features.astype(np.float64)
    gm = G.features_to_groups(f)
    pairs = G.pair_features(gm)
    assert list(pairs) == list(PAIRS) and len(pairs) == 15
    vel = f[:, K.FEATURE_SLICES["velocity"]].reshape(-1, 22, 3)
    rot = f[:, K.FEATURE_SLICES["rot6d"]].reshape(-1, 21, 6)
    with_joint = 0
    for key, (a, b) in PAIR_GROUPS.items():
        p = pairs[key]
        assert np.allclose(p["delta_position"], gm.position[b] - gm.position[a])
        ab, ba = G.pair_delta(gm, a, b), G.pair_delta(gm, b, a)
        assert np.array_equal(ab["delta_position"], -ba["delta_position"])
        assert np.array_equal(ab["delta_velocity"], -ba["delta_velocity"])
        joint = PAIR_CONNECTING_JOINT[key]
        if joint is None:
            assert set(p) == {"delta_position", "delta_velocity"}
        else:
            with_joint += 1
            assert np.allclose(p["connecting_rotation"], rot[:, joint - 1], atol=1e-12)
            assert np.allclose(p["connecting_velocity"], vel[:, joint], atol=1e-12)
    assert with_joint == 5  # torso meets neck, both arms and both legs
    vec = G.pair_vector(gm)
    assert vec.shape == (len(f), G.PAIR_VECTOR_DIM) and G.PAIR_VECTOR_DIM == 15 * 6 + 5 * 9
    key = "left_arm|torso"
    assert np.array_equal(vec[:, G.PAIR_VECTOR_LAYOUT[f"{key}/delta_position"]], pairs[key]["delta_position"])
    with pytest.raises(KinmoInputError):
        G.pair_delta(gm, "torso", "torso")


def test_layout_is_a_partition():
    spans = sorted((s.start, s.stop) for s in G.GROUP_VECTOR_LAYOUT.values())
    assert spans[0][0] == 0 and spans[-1][1] == G.GROUP_VECTOR_DIM == 302
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    blocks = sorted((s.start, s.stop) for s in G.GROUP_VECTOR_SLICES.values())
    assert blocks[0][0] == 4 and blocks[-1][1] == G.GROUP_VECTOR_DIM - 4


def test_inconsistent_vector_is_projected(fixture_features):
    # A model's output may give offsets that do not sum to zero: the inverse removes the mean offset, which
    # equals the exact inverse for consistent vectors and otherwise keeps P_g as the group's centre.
    f = fixture_features.astype(np.float64)
    vec = G.features_to_group_vector(f)
    noisy = vec.copy()
    s = G.GROUP_VECTOR_LAYOUT["left_arm/offsets"]
    noisy[:, s] += np.tile([0.1, -0.2, 0.3], 4)
    assert np.abs(G.group_vector_to_features(noisy) - f).max() < 1e-9
    # Moving P_g moves all the group's joints (other groups untouched).
    moved = vec.copy()
    moved[:, G.GROUP_VECTOR_LAYOUT["left_arm/position"]] += [0.0, 0.1, 0.0]
    out = G.group_vector_to_features(moved)
    ric = (out - f)[:, K.FEATURE_SLICES["ric"]].reshape(-1, 21, 3)
    arm = [j - 1 for j in GROUP_JOINTS["left_arm"]]
    assert np.allclose(ric[:, arm, 1], 0.1) and np.abs(np.delete(ric, arm, axis=1)).max() < 1e-12


def test_bad_input():
    with pytest.raises(KinmoInputError):
        G.features_to_groups(np.zeros((5, 262)))
    with pytest.raises(KinmoInputError):
        G.vector_to_groups(np.zeros((5, 263)))
    with pytest.raises(KinmoInputError):
        G.features_to_groups(np.zeros(263))
