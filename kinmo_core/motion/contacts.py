"""Foot contacts and foot skating of joint motions, defined once.

Contacts follow HumanML3D's rule (a foot joint touches the ground at frame t when its squared displacement to
frame t+1 is below FOOT_CONTACT_VELOCITY_THRESHOLD), so they agree with the contact channels of the 263-d features.
Every function takes joints (T, 22, 3) in metres, Y up.
"""

from __future__ import annotations

import numpy as np

from kinmo_core.motion.skeleton import FOOT_CONTACT_VELOCITY_THRESHOLD, LEFT_FOOT_JOINTS, RIGHT_FOOT_JOINTS

FOOT_JOINTS: tuple[int, ...] = LEFT_FOOT_JOINTS + RIGHT_FOOT_JOINTS
"""Left ankle, left foot, right ankle, right foot: the order of contact labels."""

GROUND_GATE = 0.05
"""Metres above its lowest point a foot joint may be and still count as on the ground when measuring skate."""


def contacts(joints: np.ndarray) -> np.ndarray:
    """Return HumanML3D contact labels (T-1, 4) for left ankle, left foot, right ankle, right foot."""
    feet = joints[:, list(FOOT_JOINTS)]
    disp = np.sum((feet[1:] - feet[:-1]) ** 2, axis=-1)
    return disp < FOOT_CONTACT_VELOCITY_THRESHOLD


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Return [start, end) of every maximal run of True in a 1-D boolean mask."""
    d = np.diff(np.concatenate(([0], np.asarray(mask).astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def skate_per_phase(joints: np.ndarray, contact: np.ndarray | None = None, gate: float = GROUND_GATE) -> np.ndarray:
    """Return the horizontal drift (metres) of each foot joint over each of its ground-contact phases.

    A phase is a maximal run of frames [a, b) that HumanML3D's rule labels as contact while the joint is within
    `gate` of its lowest height in the clip (a foot held still in the air is not on the ground, so it cannot
    skate); its drift is the largest horizontal distance of the joint from where it was at frame a.
    """
    c = contacts(joints) if contact is None else np.asarray(contact) > 0.5
    out = []
    for k, j in enumerate(FOOT_JOINTS):
        xz = joints[:, j][:, [0, 2]]
        y = joints[:-1, j, 1]
        on_ground = c[:, k] & (y - joints[:, j, 1].min() < gate)
        for a, b in true_runs(on_ground):
            out.append(float(np.max(np.linalg.norm(xz[a:b] - xz[a], axis=-1))))
    return np.asarray(out)
