"""Procedural, compositional text-motion synthesis on the 22-joint skeleton.

A motion is one to three segments in sequence (2 to 10 s at 20 fps). In each segment the legs perform one action
(`legs.py`: planned footsteps, jumps, in-place actions) while each arm, the torso and the head perform their own,
sampled independently within what fits together. Upper-body actions are angle curves with eased onsets, so a
change of action blends smoothly. The result is joint positions plus a hidden ground truth: which action each
kinematic group performs, in which frames, with which side and parameters (labels from `actions.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kinmo_core.data import synth_legs as L
from kinmo_core.data.actions import GROUP_ACTIONS
from kinmo_core.data.captions import caption_motion
from kinmo_core.data.synth_body import HIP_OFFSET, limit_pelvis_height, pose_body, rot_y
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.kinematic import GROUPS
from kinmo_core.motion.skeleton import FPS

MIN_SECONDS, MAX_SECONDS = 2.0, 10.0
GAIT_ACTIONS = ("walk", "jog", "run", "march", "side_step", "step_over")
LEG_CHOICES: dict[str, float] = {
    "still": 0.14, "walk": 0.24, "jog": 0.06, "run": 0.06, "march": 0.05, "side_step": 0.06, "step_over": 0.04,
    "jump": 0.08, "hop": 0.04, "squat": 0.06, "lunge": 0.05, "kneel": 0.05, "kick": 0.07, "knee_lift": 0.0,
}
"""Sampling weights of the segment's leg activity (step_over is labelled walk + lift in the ground truth, knee_lift
lift on the raised leg). knee_lift came in generator version 3 with weight 0 here, so a seed draws the same corpus
as before (the one the shipped models are measured on); `kinmo corpus synth --leg-weight knee_lift=W` adds it."""

ARM_POSES: dict[str, tuple[float, float, float, float]] = {
    # flexion (forward), abduction (out), twist (elbow plane), elbow flexion; degrees, left arm
    "rest": (0.0, 6.0, 0.0, 10.0),
    "wave_high": (20.0, 95.0, 90.0, 55.0),
    "wave_low": (55.0, 25.0, 40.0, 70.0),
    "raise_forward": (90.0, 5.0, 0.0, 5.0),
    "raise_sideways": (0.0, 90.0, 0.0, 5.0),
    "raise_overhead": (170.0, 10.0, 0.0, 5.0),
    "guard": (40.0, 20.0, -40.0, 115.0),
    "punch": (85.0, 6.0, -10.0, 5.0),
    "reach_forward": (85.0, 10.0, 0.0, 8.0),
    "reach_up": (140.0, 15.0, 0.0, 8.0),
    "reach_side": (10.0, 80.0, 0.0, 8.0),
    "point_forward": (88.0, 5.0, -30.0, 3.0),
    "point_side": (15.0, 85.0, -30.0, 3.0),
    "point_up": (130.0, 20.0, -30.0, 3.0),
    "clap_open": (70.0, 40.0, -70.0, 40.0),
    "clap_closed": (70.0, 12.0, -70.0, 40.0),
    "hands_on_hips": (-20.0, 40.0, -75.0, 105.0),
    "cross_arms": (35.0, 10.0, -80.0, 118.0),
    "throw_windup": (30.0, 95.0, 100.0, 95.0),
    "throw_release": (100.0, 25.0, 10.0, 15.0),
    "throw_follow": (40.0, 10.0, 0.0, 20.0),
}
REST = np.radians(ARM_POSES["rest"])


@dataclass
class SynthMotion:
    """One synthesised motion: joints (T, 22, 3) float32, three captions, the hidden ground truth, planted feet."""

    joints: np.ndarray
    captions: list[str]
    ground_truth: dict
    planted: np.ndarray


def motion_rng(seed: int, index: int) -> np.random.Generator:
    """Return the generator of motion `index` of a corpus with `seed`, independent of how the work is split."""
    return np.random.default_rng([int(seed), int(index), 0x4B494E4D])


def _env(tau: np.ndarray, dur: float, ramp: float = 0.45) -> np.ndarray:
    r = min(ramp, dur / 3)
    return L.smoothstep(tau / r) * L.smoothstep((dur - tau) / r)


def _pose(name: str) -> np.ndarray:
    return np.radians(ARM_POSES[name])


# ------------------------------------------------------------------------------------------------ sampling


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[k] for k in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _side(rng: np.random.Generator) -> str:
    return "left" if rng.random() < 0.5 else "right"


def _sample_legs(rng: np.random.Generator, kind: str) -> tuple[dict, float]:
    """Return (leg spec, duration in seconds) for one segment."""
    u = rng.uniform
    if kind == "walk":
        direction = _choice(rng, {"forward": 0.55, "backward": 0.15, "turn": 0.17, "circle": 0.13})
        spec = {"action": "walk", "speed": round(u(0.8, 1.4), 2), "direction": direction}
        if direction in ("turn", "circle"):
            spec["turn"] = _side(rng)
            spec["angle"] = 360 if direction == "circle" else int(rng.choice([45, 90, 135, 180]))
        dur = u(4.0, 6.5) if direction == "circle" else u(2.5, 5.5)
    elif kind == "jog":
        spec, dur = {"action": "jog", "speed": round(u(1.8, 2.5), 2), "direction": "forward"}, u(2.2, 4.5)
    elif kind == "run":
        spec, dur = {"action": "run", "speed": round(u(2.8, 3.8), 2), "direction": "forward"}, u(2.2, 4.0)
    elif kind == "march":
        speed = 0.0 if rng.random() < 0.5 else round(u(0.3, 0.6), 2)
        spec, dur = {"action": "march", "speed": speed, "direction": "in_place" if speed == 0 else "forward",
                     "height": round(u(0.25, 0.38), 2)}, u(2.5, 5.0)
    elif kind == "side_step":
        spec, dur = {"action": "side_step", "speed": round(u(0.3, 0.5), 2), "direction": _side(rng)}, u(2.5, 5.0)
    elif kind == "step_over":
        spec, dur = {"action": "step_over", "speed": round(u(0.7, 1.0), 2), "direction": "forward",
                     "height": round(u(0.3, 0.4), 2), "lead": _side(rng)}, u(3.5, 5.0)
    elif kind == "jump":
        count = int(rng.integers(1, 4))
        forward = rng.random() < 0.45
        spec = {"action": "jump", "count": count, "height": round(u(0.12, 0.35), 2),
                "direction": "forward" if forward else "in_place",
                "distance": round(u(0.3, 0.9), 2) if forward else 0.0}
        dur = 0.6 + count * 1.6
    elif kind == "hop":
        count = int(rng.integers(2, 6))
        forward = rng.random() < 0.4
        spec = {"action": "hop", "side": _side(rng), "count": count, "height": round(u(0.06, 0.14), 2),
                "direction": "forward" if forward else "in_place",
                "distance": round(u(0.15, 0.35), 2) if forward else 0.0}
        dur = 1.3 + count * 0.8
    elif kind == "squat":
        count = int(rng.integers(1, 4))
        spec, dur = {"action": "squat", "count": count, "depth": round(u(0.22, 0.42), 2)}, 0.6 + count * u(1.6, 2.4)
    elif kind == "lunge":
        spec, dur = {"action": "lunge", "side": _side(rng), "length": round(u(0.55, 0.8), 2),
                     "depth": round(u(0.2, 0.3), 2)}, u(3.0, 4.5)
    elif kind == "kneel":
        spec, dur = {"action": "kneel", "side": _side(rng), "back": round(u(0.4, 0.5), 2)}, u(3.5, 5.5)
    elif kind == "knee_lift":
        count = int(rng.integers(1, 3))
        spec = {"action": "knee_lift", "side": _side(rng), "count": count, "hold": round(u(0.9, 2.0), 2),
                "angle": int(rng.integers(-12, 12))}
        dur = 0.9 + count * (spec["hold"] + 1.1)
    elif kind == "kick":
        count = int(rng.integers(1, 3))
        style = "front" if rng.random() < 0.6 else "side"
        spec = {"action": "kick", "side": _side(rng), "style": style, "count": count,
                "height": "high" if rng.random() < 0.4 else "low"}
        dur = 1.0 + count * u(1.1, 1.5)
    else:
        spec = {"action": "still", "sway": round(u(0.005, 0.02), 3), "rate": round(u(0.15, 0.3), 2),
                "phase": round(u(0, 2 * np.pi), 2)}
        dur = u(2.0, 4.0)
    return spec, float(dur)


_ONE_ARM = ("wave", "raise", "punch", "reach", "point", "hands_on_hips", "throw")
_BOTH_ARMS = ("wave", "raise", "punch", "reach", "clap", "hands_on_hips", "cross_arms")


def _arm_params(rng: np.random.Generator, action: str) -> dict:
    u = rng.uniform
    if action == "wave":
        return {"height": "high" if rng.random() < 0.6 else "low", "rate": round(u(1.5, 2.5), 2),
                "amplitude": round(u(15, 30))}
    if action == "raise":
        return {"direction": str(rng.choice(["forward", "sideways", "overhead"]))}
    if action == "punch":
        return {"count": int(rng.integers(1, 5))}
    if action == "reach":
        return {"direction": str(rng.choice(["forward", "up", "side"]))}
    if action == "point":
        return {"direction": str(rng.choice(["forward", "side", "up"]))}
    if action == "clap":
        return {"rate": round(u(1.5, 2.5), 2)}
    if action == "swing":
        return {"amplitude": round(u(18, 32))}
    return {}


def _sample_upper(rng: np.random.Generator, legs: str) -> dict:
    gaitish = legs in GAIT_ACTIONS
    default = "swing" if gaitish else "still"
    if legs == "still":
        mode = _choice(rng, {"default": 0.2, "one": 0.45, "both": 0.35})
    elif gaitish:
        mode = _choice(rng, {"default": 0.6, "one": 0.25, "both": 0.15})
    else:
        mode = _choice(rng, {"default": 0.5, "one": 0.25, "both": 0.25})
    arms = {"left_arm": {"action": default}, "right_arm": {"action": default}}
    if mode == "one":
        side = _side(rng)
        action = str(rng.choice(_ONE_ARM))
        arms[f"{side}_arm"] = {"action": action, **_arm_params(rng, action)}
    elif mode == "both":
        action = str(rng.choice(_BOTH_ARMS))
        params = _arm_params(rng, action)
        arms = {g: {"action": action, **params} for g in ("left_arm", "right_arm")}
        if action == "punch":
            arms["right_arm"]["phase"] = 0.5  # alternating fists
    for g in arms:
        if arms[g]["action"] == "swing":
            arms[g].update(_arm_params(rng, "swing"))
    if legs == "still":
        torso = _choice(rng, {"upright": 0.45, "bow": 0.25, "lean": 0.15, "twist": 0.15})
    elif legs in ("walk", "march", "side_step"):
        torso = _choice(rng, {"upright": 0.84, "lean": 0.08, "twist": 0.08})
    elif legs == "kneel":
        torso = _choice(rng, {"upright": 0.75, "bow": 0.25})
    else:
        torso = "upright"
    tspec: dict = {"action": torso}
    if torso == "bow":
        tspec["angle"] = int(rng.integers(30, 75))
    elif torso == "lean":
        tspec.update(direction=_side(rng), angle=int(rng.integers(16, 32)))
    elif torso == "twist":
        tspec.update(direction=_side(rng), angle=int(rng.integers(20, 45)),
                     mode="alternate" if rng.random() < 0.4 else "hold")
    neck = _choice(rng, {"neutral": 0.55, "nod": 0.15, "shake": 0.12, "look": 0.18})
    nspec: dict = {"action": neck}
    if neck in ("nod", "shake"):
        nspec.update(rate=round(rng.uniform(1.2, 2.0), 2), amplitude=int(rng.integers(15, 35)))
    elif neck == "look":
        nspec.update(direction=str(rng.choice(["left", "right", "up", "down"])), angle=int(rng.integers(30, 65)))
    defaults = {g: (dict(arms[g]) if arms[g]["action"] == default else
                    ({"action": "swing", **_arm_params(rng, "swing")} if default == "swing" else {"action": "still"}))
                for g in ("left_arm", "right_arm")}
    defaults.update(torso={"action": "upright"}, neck={"action": "neutral"})
    out = {**arms, "torso": tspec, "neck": nspec}
    # Timing: some actions occupy only part of the segment (the group does its default before and after).
    for g in ("left_arm", "right_arm", "torso", "neck"):
        if g == "right_arm" and out["left_arm"]["action"] == out["right_arm"]["action"]:
            if "window" in out["left_arm"]:
                out[g]["window"] = out["left_arm"]["window"]  # a two-handed action keeps both hands in step
            continue
        if out[g]["action"] == defaults[g]["action"] or rng.random() >= 0.35:
            continue
        out[g]["window"] = [round(float(rng.uniform(0.0, 0.35)), 2), round(float(rng.uniform(0.65, 1.0)), 2)]
    return {**out, "defaults": defaults}


def leg_weights(overrides: dict[str, float] | None = None) -> dict[str, float]:
    """Return LEG_CHOICES with `overrides` (leg activity -> weight) applied, checked."""
    weights = dict(LEG_CHOICES)
    for name, w in (overrides or {}).items():
        if name not in LEG_CHOICES:
            raise KinmoInputError(f"unknown leg activity {name!r}; known: {', '.join(LEG_CHOICES)}")
        if not np.isfinite(w) or w < 0:
            raise KinmoInputError(f"the weight of {name!r} must be a number >= 0, got {w}")
        weights[name] = float(w)
    if sum(weights.values()) <= 0:
        raise KinmoInputError("the leg activity weights sum to 0")
    return weights


def sample_plan(rng: np.random.Generator, weights: dict[str, float] | None = None) -> list[dict]:
    """Return a list of 1-3 segment specs (legs, arms, torso, neck, seconds) totalling 2-10 s."""
    k = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
    segments: list[dict] = []
    total = 0.0
    for _ in range(k):
        legs, dur = _sample_legs(rng, _choice(rng, weights or LEG_CHOICES))
        if total + dur > MAX_SECONDS:
            if segments:
                break
            dur = MAX_SECONDS
        segments.append({"legs": legs, "seconds": dur, **_sample_upper(rng, legs["action"])})
        total += dur
    if total < MIN_SECONDS:
        segments[-1]["seconds"] += MIN_SECONDS - total
    return segments


# ------------------------------------------------------------------------------------------------ legs


def _side_index(name: str) -> int:
    return 0 if name == "left" else 1


def leg_track(spec: dict, n: int) -> L.LegTrack:
    """Return the LegTrack (n frames including both ends) of a leg spec."""
    a = spec["action"]
    p = {k: v for k, v in spec.items() if k != "action"}
    if a in ("walk", "jog", "run"):
        cfg = {"walk": (1.05, 0.58, 0.14, 0.0, 0.0), "jog": (0.76, 0.36, 0.16, 0.04, 0.03),
               "run": (0.64, 0.3, 0.24, 0.07, 0.05)}[a]
        cycle, stance, lift, crouch, bob = cfg
        direction = spec.get("direction", "forward")
        turn = 0.0
        if direction in ("turn", "circle"):
            turn = np.radians(spec["angle"]) * (1 if spec["turn"] == "left" else -1)
        return L.gait(n, label=a, speed=spec["speed"], cycle=cycle, stance=stance, lift=lift,
                      direction="backward" if direction == "backward" else "forward", turn=turn, crouch=crouch,
                      bob=bob, params=p)
    if a == "march":
        return L.gait(n, label="march", speed=spec["speed"], cycle=1.2, stance=0.55, lift=spec["height"], params=p)
    if a == "side_step":
        side = _side_index(spec["direction"])
        return L.gait(n, label="side_step", speed=spec["speed"], cycle=1.0, stance=0.55, lift=0.14,
                      direction=spec["direction"], pattern="together", lead=side, params=p)
    if a == "step_over":
        lead = _side_index(spec["lead"])
        # The obstacle is cleared by the 3rd and 4th steps; the others are ordinary walking steps.
        return L.gait(n, label="walk", speed=spec["speed"], cycle=1.15, stance=0.58, lift=0.14, lead=lead,
                      high_steps=(2, 3), high_lift=spec["height"], high_label="lift", params=p)
    if a == "jump":
        return L.jumps(n, count=spec["count"], height=spec["height"], distance=spec["distance"], crouch=0.16, params=p)
    if a == "hop":
        return L.jumps(n, count=spec["count"], height=spec["height"], distance=spec["distance"], crouch=0.06,
                       one_leg=_side_index(spec["side"]), params=p)
    if a == "squat":
        return L.squat(n, count=spec["count"], depth=spec["depth"], params=p)
    if a == "lunge":
        return L.lunge(n, lead=_side_index(spec["side"]), length=spec["length"], depth=spec["depth"], params=p)
    if a == "kneel":
        return L.kneel(n, knee=_side_index(spec["side"]), back=spec["back"], params=p)
    if a == "kick":
        angle = np.radians(80 if spec["height"] == "high" else 55)
        return L.kick(n, side=_side_index(spec["side"]), style=spec["style"], angle=angle, count=spec["count"],
                      params=p)
    if a == "knee_lift":
        return L.knee_lift(n, side=_side_index(spec["side"]), count=spec["count"], hold=spec["hold"],
                           angle=np.radians(spec["angle"]), params=p)
    if a == "still":
        return L.still(n, amp=spec.get("sway", 0.01), rate=spec.get("rate", 0.2), phase=spec.get("phase", 0.0),
                       params=p)
    raise ValueError(f"unknown leg action {a!r}")


# ------------------------------------------------------------------------------------------------ upper body


def arm_curve(spec: dict, side: int, tau: np.ndarray, dur: float, swing: np.ndarray, gait: np.ndarray,
              legs: str) -> np.ndarray:
    """Return (m, 4) arm angles (radians) of an arm action over local times tau of a span lasting dur seconds."""
    a = spec["action"]
    m = len(tau)
    env = _env(tau, dur)[:, None]
    if a == "still":
        return np.tile(REST, (m, 1))
    if a == "swing":
        amp = np.radians(spec.get("amplitude", 25)) * (1.4 if legs in ("run", "jog") else 1.0)
        elbow = {"run": 85.0, "jog": 70.0}.get(legs, 18.0)
        sign = 1.0 if side == 0 else -1.0
        pose = np.tile(REST, (m, 1))
        pose[:, 0] = sign * amp * swing * gait
        pose[:, 3] = np.radians(10 + (elbow - 10) * gait)
        # Eased in and out like every other action, so a swing cut short by another action has no jump.
        return REST + env * (pose - REST)
    if a == "wave":
        base = _pose("wave_high" if spec["height"] == "high" else "wave_low")
        osc = np.radians(spec["amplitude"]) * np.sin(2 * np.pi * spec["rate"] * tau)
        pose = np.tile(base, (m, 1))
        pose[:, 3] = base[3] + osc * L.smoothstep((tau - 0.3) / 0.3)
        return REST + env * (pose - REST)
    if a == "raise":
        return REST + env * (_pose("raise_" + spec["direction"]) - REST)
    if a == "reach":
        return REST + env * (_pose("reach_" + spec["direction"]) - REST)
    if a == "point":
        return REST + env * (_pose("point_" + spec["direction"]) - REST)
    if a == "hands_on_hips":
        return REST + env * (_pose("hands_on_hips") - REST)
    if a == "cross_arms":
        pose = _pose("cross_arms") + (np.radians([0, 0, 0, 8]) if side else 0.0)
        return REST + env * (pose - REST)
    if a == "clap":
        closed = 0.5 - 0.5 * np.cos(2 * np.pi * spec["rate"] * tau)
        pose = _pose("clap_open")[None] * (1 - closed[:, None]) + _pose("clap_closed")[None] * closed[:, None]
        return REST + env * (pose - REST)
    if a == "punch":
        count = spec["count"]
        period = max((dur - 0.8) / count, 0.5)
        start = 0.45 + spec.get("phase", 0.0) * period
        times, w = [0.0], [0.0]
        for i in range(count):
            s = start + i * period
            times += [s, s + 0.12, s + 0.22, s + 0.45]
            w += [0.0, 1.0, 1.0, 0.0]
        times.append(max(times[-1] + 1e-3, dur + 1e-3))
        w.append(0.0)
        ext = L.keyframes(tau, times, w)[:, None]
        pose = _pose("guard")[None] * (1 - ext) + _pose("punch")[None] * ext
        return REST + env * (pose - REST)
    if a == "throw":
        # The throw takes 1.75 s; in a shorter span it is done faster (at most 30% faster) to end at rest in time.
        fit = max(min(1.0, dur / 1.75), 0.7)
        keys = [0.0] + [k * fit for k in (0.2, 0.8, 1.0, 1.25, 1.7)] + [max(dur, 1.7 * fit + 0.01)]
        poses = [REST, REST, _pose("throw_windup"), _pose("throw_release"), _pose("throw_follow"), REST, REST]
        return L.keyframes(tau, keys, np.stack(poses))
    raise ValueError(f"unknown arm action {a!r}")


LEAN_SPINE_GAIN: float = 1.8
"""A lean's angle is the tilt of the trunk line (pelvis to neck) sideways; the three spine joints share the bend
and the lowest segment does not turn, so the spine bends by this much more for the line to tilt by the angle
(with gain 1 a 'lean of 18 degrees' tilted the trunk by 10 and no lean passed the part check's 15 degrees)."""

LOOK_PITCH_GAIN: float = 0.8
"""Share of a look up/down's angle taken by the neck pitch (the rest is the eyes); 0.6 left a quarter of the looks
under the part check's 20 degrees."""


def torso_curve(spec: dict, tau: np.ndarray, dur: float) -> np.ndarray:
    """Return (m, 3) spine angles (bow, lean-left, twist-left) in radians of a torso action."""
    out = np.zeros((len(tau), 3))
    a = spec["action"]
    if a == "upright":
        return out
    env = _env(tau, dur, 0.7)
    ang = np.radians(spec["angle"])
    if a == "bow":
        out[:, 0] = ang * env
    elif a == "lean":
        out[:, 1] = LEAN_SPINE_GAIN * ang * env * (1 if spec["direction"] == "left" else -1)
    elif a == "twist":
        sign = 1 if spec["direction"] == "left" else -1
        if spec.get("mode") == "alternate":
            out[:, 2] = sign * ang * np.sin(2 * np.pi * 0.5 * tau) * _env(tau, dur, 0.3)
        else:
            out[:, 2] = sign * ang * env
    return out


def neck_curve(spec: dict, tau: np.ndarray, dur: float) -> np.ndarray:
    """Return (m, 3) neck angles (pitch-down, yaw-left, roll) in radians of a head action."""
    out = np.zeros((len(tau), 3))
    a = spec["action"]
    if a == "neutral":
        return out
    env = _env(tau, dur, 0.4)
    if a == "nod":
        out[:, 0] = np.radians(spec["amplitude"]) * (0.5 - 0.5 * np.cos(2 * np.pi * spec["rate"] * tau)) * env
    elif a == "shake":
        out[:, 1] = np.radians(spec["amplitude"]) * np.sin(2 * np.pi * spec["rate"] * tau) * env
    elif a == "look":
        ang = np.radians(spec["angle"])
        d = spec["direction"]
        if d in ("left", "right"):
            out[:, 1] = ang * env * (1 if d == "left" else -1)
            out[:, 2] = -0.15 * out[:, 1]
        else:
            out[:, 0] = LOOK_PITCH_GAIN * ang * env * (1 if d == "down" else -1)
    return out


# ------------------------------------------------------------------------------------------------ assembly


_FALLBACK = {"left_arm": {"action": "still"}, "right_arm": {"action": "still"}, "torso": {"action": "upright"},
             "neck": {"action": "neutral"}}


def _spans(segments: list[dict], bounds: list[tuple[int, int]], group: str) -> list[dict]:
    """Return one group's action spans: a segment's action over its window, the group's default around it."""
    pieces: list[tuple[int, int, dict]] = []
    for seg, (f0, f1) in zip(segments, bounds, strict=True):
        spec = dict(seg[group])
        window = spec.pop("window", None)
        default = seg.get("defaults", _FALLBACK).get(group, _FALLBACK[group])
        a, b = f0, f1
        if window is not None:
            a, b = f0 + int(round(window[0] * (f1 - f0))), f0 + int(round(window[1] * (f1 - f0)))
            if spec["action"] == "throw" and b - a < int(1.3 * FPS):
                a, b = f0, f1
            # Slivers of default under half a second before or after the action are not worth a span.
            a = f0 if a - f0 < FPS // 2 else a
            b = f1 if f1 - b < FPS // 2 else b
            if b - a < int(1.2 * FPS):
                a, b = f0, f1
        if a > f0:
            pieces.append((f0, a, default))
        pieces.append((a, b, spec))
        if b < f1:
            pieces.append((b, f1, default))
    # Consecutive pieces with the same spec are one continuous action.
    spans: list[dict] = []
    for a, b, spec in pieces:
        if spans and spans[-1]["spec"] == spec:
            spans[-1]["end"] = b
        else:
            spans.append({"start": a, "end": b, "spec": spec})
    return spans


def _label_spans(labels: list[str], params: dict, side: str | None) -> list[dict]:
    out: list[dict] = []
    for f, lab in enumerate(labels):
        if out and out[-1]["action"] == lab:
            out[-1]["end"] = f + 1
        else:
            out.append({"start": f, "end": f + 1, "action": lab, "side": side, "params": params})
    return out


def _gt_entry(span: dict, group: str) -> dict:
    spec = dict(span["spec"])
    action = spec.pop("action")
    side = None
    if action in ("lean", "look", "twist") and spec.get("direction") in ("left", "right"):
        side = spec["direction"]
    if group.endswith("_arm"):
        side = group.split("_")[0]
    spec.pop("phase", None)
    return {"start": span["start"], "end": span["end"], "action": action, "side": side, "params": spec}


def render_plan(segments: list[dict]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return joints (T, 22, 3), planted feet (T, 2) and per-group ground-truth spans of a segment plan."""
    frames = [max(int(round(s["seconds"] * FPS)), 10) for s in segments]
    bounds = []
    f = 0
    for k, n in enumerate(frames):
        bounds.append((f, f + n + (1 if k == len(frames) - 1 else 0)))
        f += n
    total = bounds[-1][1]
    pelvis = np.zeros((total, 3))
    heading = np.zeros(total)
    ankles = np.zeros((total, 2, 3))
    foot_yaw = np.zeros((total, 2))
    foot_pitch = np.zeros((total, 2))
    knee_up = np.zeros((total, 2))
    planted = np.zeros((total, 2), dtype=bool)
    swing = np.zeros(total)
    gait = np.zeros(total)
    bow = np.zeros(total)
    leg_labels: list[list[str]] = [[], []]
    leg_spans: dict[str, list[dict]] = {"left_leg": [], "right_leg": []}
    origin = np.zeros(3)
    theta = 0.0
    for seg, n, (f0, f1) in zip(segments, frames, bounds, strict=True):
        tr = leg_track(seg["legs"], n + 1)
        m = f1 - f0
        ry = rot_y(np.array(theta))
        pelvis[f0:f1] = (tr.pelvis[:m] @ ry.T) + origin
        heading[f0:f1] = tr.heading[:m] + theta
        ankles[f0:f1] = (tr.ankles[:m] @ ry.T) + origin
        foot_yaw[f0:f1] = tr.foot_yaw[:m] + theta
        foot_pitch[f0:f1] = tr.foot_pitch[:m]
        knee_up[f0:f1] = tr.knee_up[:m]
        planted[f0:f1] = tr.planted[:m]
        swing[f0:f1] = tr.swing[:m]
        gait[f0:f1] = tr.gait[:m]
        if tr.spine_bow is not None:
            bow[f0:f1] = tr.spine_bow[:m]
        # The next segment starts where this one's feet stand, so planted feet never jump between segments.
        feet = tr.ankles[-1] @ ry.T + origin
        theta = theta + float(tr.foot_yaw[-1].mean())
        stance_mid = np.array([(HIP_OFFSET[0][0] + HIP_OFFSET[1][0]) / 2, 0.0, 0.0])
        origin = np.array([feet[:, 0].mean(), 0.0, feet[:, 2].mean()]) - rot_y(np.array(theta)) @ stance_mid
        spec = seg["legs"]
        params = {k: v for k, v in spec.items() if k not in ("action", "side", "lead")}
        for s, g in ((0, "left_leg"), (1, "right_leg")):
            labs = tr.labels[s][:m]
            leg_labels[s].extend(labs)
            side = spec.get("side", spec.get("lead"))
            for e in _label_spans(labs, params, side):
                e["start"] += f0
                e["end"] += f0
                if leg_spans[g] and leg_spans[g][-1]["action"] == e["action"] and leg_spans[g][-1]["end"] == e[
                        "start"] and leg_spans[g][-1]["params"] == e["params"]:
                    leg_spans[g][-1]["end"] = e["end"]
                else:
                    leg_spans[g].append(e)
    t_all = np.arange(total) / FPS
    spine = np.zeros((total, 3))
    spine[:, 0] = bow
    neck = np.zeros((total, 3))
    arms = np.tile(REST, (total, 2, 1))
    gt_groups: dict[str, list[dict]] = {**leg_spans}
    for group in ("left_arm", "right_arm", "torso", "neck"):
        gt_groups[group] = []
        spans = _spans(segments, bounds, group)
        for sp in spans:
            a, b = sp["start"], sp["end"]
            tau = t_all[a:b] - t_all[a]
            dur = (b - a - 1) / FPS
            legs_here = segments[[i for i, (x, y) in enumerate(bounds) if x <= a < y][0]]["legs"]["action"]
            if group.endswith("_arm"):
                side = 0 if group == "left_arm" else 1
                arms[a:b, side] = arm_curve(sp["spec"], side, tau, dur, swing[a:b], gait[a:b], legs_here)
            elif group == "torso":
                spine[a:b] += torso_curve(sp["spec"], tau, dur)
            else:
                neck[a:b] = neck_curve(sp["spec"], tau, dur)
            gt_groups[group].append(_gt_entry(sp, group))
    hips_rel = np.stack([(np.einsum("tij,j->ti", rot_y(heading), HIP_OFFSET[s]))[:, [0, 2]] for s in (0, 1)], 1)
    pelvis[:, 1] = limit_pelvis_height(pelvis[:, 1], hips_rel, ankles, pelvis[:, [0, 2]], planted)
    joints = pose_body(pelvis, heading, spine, neck, arms, ankles, foot_yaw, foot_pitch, knee_up)
    for g in gt_groups:
        for e in gt_groups[g]:
            assert e["action"] in GROUP_ACTIONS[g], (g, e["action"])
    ordered = {g: gt_groups[g] for g in GROUPS}
    return joints, planted, ordered


def synthesize(seed: int, index: int, weights: dict[str, float] | None = None) -> SynthMotion:
    """Return motion `index` of the synthetic corpus with `seed` (deterministic); `weights` from `leg_weights`."""
    rng = motion_rng(seed, index)
    segments = sample_plan(rng, weights)
    joints, planted, groups = render_plan(segments)
    gt = {
        "seed": int(seed),
        "index": int(index),
        "fps": FPS,
        "num_frames": int(joints.shape[0]),
        "segments": _gt_segments(segments),
        "groups": groups,
    }
    captions = caption_motion(gt["segments"], rng)
    return SynthMotion(joints=joints.astype(np.float32), captions=captions, ground_truth=gt, planted=planted)


def _gt_segments(segments: list[dict]) -> list[dict]:
    """Return the ground-truth segment entries (frame bounds and per-part specs) of a plan."""
    frames = []
    f = 0
    for s in segments:
        n = max(int(round(s["seconds"] * FPS)), 10)
        frames.append((f, f + n))
        f += n
    frames[-1] = (frames[-1][0], frames[-1][1] + 1)
    return [{"start": a, "end": b, "legs": s["legs"], "left_arm": s["left_arm"], "right_arm": s["right_arm"],
             "torso": s["torso"], "neck": s["neck"]} for s, (a, b) in zip(segments, frames, strict=True)]


def synth_captions(seed: int, index: int, weights: dict[str, float] | None = None) -> list[str]:
    """Return the captions `synthesize(seed, index, weights)` writes, without rendering the motion (the same draws)."""
    rng = motion_rng(seed, index)
    return caption_motion(_gt_segments(sample_plan(rng, weights)), rng)
