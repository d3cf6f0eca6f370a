"""Foot contacts and foot skating of joint motions: the one definition of each in KinMo.

Part of the numpy-only core (no torch, no scipy): `make addon` copies this module into the Blender add-on, so it
imports only numpy and its siblings, relatively. Positions are in metres; Y is up unless an `up` axis is given.
"""

from __future__ import annotations

import numpy as np

from .skeleton import FOOT_CONTACT_VELOCITY_THRESHOLD, LEFT_FOOT_JOINTS, RIGHT_FOOT_JOINTS

FOOT_JOINTS: tuple[int, ...] = LEFT_FOOT_JOINTS + RIGHT_FOOT_JOINTS
"""Left ankle, left foot, right ankle, right foot: the order of contact labels."""

GROUND_GATE = 0.05
"""Metres above its lowest point a foot joint may be and still count as on the ground when measuring skate."""

Y_UP: tuple[float, float, float] = (0.0, 1.0, 0.0)


def contact_mask(positions, threshold: float = FOOT_CONTACT_VELOCITY_THRESHOLD):
    """Return HumanML3D's contact rule for joint positions (..., T, J, 3): (..., T-1, J) booleans.

    Foot contact (the definition): a joint is in contact at frame t when its squared displacement from frame t to
    frame t+1 is below `threshold` (0.002 m^2, HumanML3D's value). Works on numpy arrays and torch tensors alike.
    """
    step = positions[..., 1:, :, :] - positions[..., :-1, :, :]
    return (step**2).sum(-1) < threshold


def foot_contacts(joints, threshold: float = FOOT_CONTACT_VELOCITY_THRESHOLD):
    """Return foot contacts (..., T-1, 4) of 22-joint motions (..., T, 22, 3): left ankle, left foot, right ankle,
    right foot, by `contact_mask`'s rule (the contact channels of the 263-d features)."""
    return contact_mask(joints[..., list(FOOT_JOINTS), :], threshold)


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Return [start, end) of every maximal run of True in a 1-D boolean mask."""
    d = np.diff(np.concatenate(([0], np.asarray(mask).astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def skate_steps(feet: np.ndarray, contact: np.ndarray, up=Y_UP) -> np.ndarray:
    """Return the foot-skating displacement (T-1, F, 3) of foot positions (T, F, 3) given per-frame contact (T, F).

    Foot skating (the definition): a foot joint skates by its horizontal displacement (the component along `up`
    removed) over each frame step t -> t+1 during which it is in contact at both t and t+1; other steps give zero.
    Every skate figure in KinMo (mean sliding speed, share of skating steps, slide or drift per contact phase) sums
    or measures these steps.
    """
    feet = np.asarray(feet, dtype=np.float64)
    contact = np.asarray(contact, dtype=bool)
    up = np.asarray(up, dtype=np.float64)
    step = np.diff(feet, axis=0)
    step = step - (step @ up)[..., None] * up
    on = contact[1:] & contact[:-1]
    return np.where(on[..., None], step, 0.0)


def ground_contacts(joints: np.ndarray, contact: np.ndarray | None = None, gate: float = GROUND_GATE) -> np.ndarray:
    """Return (T-1, 4) planted foot joints (FOOT_JOINTS order): the contact phases `skate_per_phase` measures.

    A foot joint is planted at frame t when `foot_contacts` (or `contact`) says so while it is within `gate` of its
    lowest height in the clip (a foot held still in the air is not on the ground).
    """
    c = foot_contacts(joints) if contact is None else np.asarray(contact) > 0.5
    n = len(c)
    feet = np.asarray(joints)[:, list(FOOT_JOINTS), 1]
    return c & (feet[:n] - feet.min(axis=0) < gate)


def skate_per_phase(joints: np.ndarray, contact: np.ndarray | None = None, gate: float = GROUND_GATE) -> np.ndarray:
    """Return the horizontal drift (metres) of each foot joint over each of its ground-contact phases.

    A phase is a maximal run of frames [a, b) that HumanML3D's rule labels as contact while the joint is within
    `gate` of its lowest height in the clip (a foot held still in the air is not on the ground, so it cannot
    skate); its drift is the largest horizontal distance the joint's skate steps (`skate_steps`) take it from
    where it was at frame a.
    """
    planted = ground_contacts(joints, contact, gate)
    n = len(planted)
    out = []
    for k, j in enumerate(FOOT_JOINTS):
        on_ground = planted[:, k]
        steps = skate_steps(joints[:n, j][:, None], on_ground[:, None])[:, 0]
        for a, b in true_runs(on_ground):
            path = np.cumsum(steps[a : b - 1], axis=0)
            out.append(float(np.max(np.linalg.norm(path, axis=-1), initial=0.0)))
    return np.asarray(out)
