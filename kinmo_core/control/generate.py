"""Generation under spatial constraints: text to tokens, guidance through the decoder, joint-space correction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from kinmo_core.control.constraints import (
    Constraint,
    ControlTargets,
    build_targets,
    needed_frames,
    parse_constraints,
    path_frames,
)
from kinmo_core.control.guidance import GuidanceSettings, guide_codes
from kinmo_core.control.solve import SolveSettings, joints_to_motion_features, solve_joints, warn_residuals
from kinmo_core.errors import KinmoInputError

METHODS: tuple[str, ...] = ("branch+ik", "branch", "guidance+ik", "ik", "guidance", "none")
"""branch: the generator takes the targets as a condition (the control transformer's trained branch, the paper's
ControlNet); guidance: steer the code logits through the decoder; ik: correct in joint space; none: ignore the
constraints (the unconstrained baseline, for measuring)."""
DEFAULT_METHOD: str = "ik"
"""The default for models without the control branch; those with one use "branch+ik" (`default_method`)."""
BRANCH_PATHS: bool = True
"""Whether a path goes to the branch too, timed by the text's pace (`path.sample_path`); the solve then times it by
the generated gait (`path.gait_progress`). On the 3 m circle (8 seeds, three levels) the largest slide per contact
phase was 0.1-8.4 cm without and 0.2-0.9 cm with the shipped branch (BENCHMARKS.md)."""
CANDIDATES: int = 4
"""Motions generated per text under constraints; the one that already lies nearest the targets is corrected (the
smaller the joint-space correction, the more of the motion stays as the model made it). With a path, the one whose
gait covers the path's length most nearly (its strides need the least stretching), and the path takes its pace."""


def default_method(pipe) -> str:
    """Return the control method used when none is given: "branch+ik" where the model has the branch, else "ik"."""
    return "branch+ik" if pipe.has_control_branch else DEFAULT_METHOD


def branch_targets(constraints: Sequence[Constraint], frames: int, text: str = "",
                   paths: bool = BRANCH_PATHS) -> np.ndarray | None:
    """Return the targets (T, 22, 3) known before generation, for the branch (NaN where free), or None if none.

    Pins without a position hold the generated motion's own place, so they are not known yet; a path is given timed
    by the text's pace when `paths` is set (its final timing comes from the generated gait); every other constraint
    is, placed as the whole file places it.
    """
    tg = build_targets(constraints, frames, text)
    use = np.zeros((frames, 22), bool)
    for c, (_, m) in zip(constraints, tg.labels, strict=True):
        if (c.kind != "path" or paths) and not (c.kind == "pin" and c.positions is None):
            use |= m
    if not use.any():
        return None
    return np.where(use[..., None], tg.positions, np.nan)


def target_fit(joints: np.ndarray, positions: np.ndarray) -> float:
    """Return the mean distance (m) from a motion's joints (T, 22, 3) to the given target coordinates (NaN free)."""
    have = np.isfinite(positions)
    if not have.any():
        return 0.0
    d = np.where(have, np.asarray(joints, np.float64) - np.nan_to_num(positions), 0.0)
    per = np.sqrt((d ** 2).sum(-1))
    return float(per[have.any(-1)].mean())


def nearest_candidate(candidates: Sequence[np.ndarray], positions: np.ndarray) -> int:
    """Return the index of the candidate motion (joints (T, 22, 3)) nearest the target coordinates (`target_fit`)."""
    return min(range(len(candidates)), key=lambda c: target_fit(candidates[c], positions))


def choose_candidate(candidates: Sequence[np.ndarray], constraints: Sequence[Constraint], frames: int,
                     text: str = "") -> int:
    """Return the index of the candidate motion (joints (T, 22, 3)) the constraints should correct (see CANDIDATES)."""
    from kinmo_core.control.path import pace_mismatch, path_length

    path = next((c for c in constraints if c.kind == "path"), None)
    if path is not None:
        s, e = path.start or 0, frames - 1 if path.end is None else path.end
        length = path_length(path.points)
        return min(range(len(candidates)), key=lambda c: pace_mismatch(candidates[c][s:e + 1, 0, [0, 2]], length))
    return nearest_candidate(candidates, build_targets(constraints, frames, text).positions)


GUIDANCE_BEFORE_IK: GuidanceSettings = GuidanceSettings(steps=12)
"""guidance+ik's guidance: the solve meets the targets exactly afterwards, so the guidance only has to bring the
motion near them; 12 Adam steps instead of 40 keep a 196-frame generation within 2 s on this CPU."""


def resolve_frames(pipe, texts: Sequence[str], constraints: Sequence[Constraint], frames: int | None,
                   seed: int) -> int:
    """Return the motion length: as given, else the path's duration, else the length estimator's (stretched to fit)."""
    MIN_FRAMES, MAX_FRAMES = pipe.frame_range  # noqa: N806
    need = needed_frames(constraints)
    if frames is not None:
        if need > frames:
            raise KinmoInputError(f"a constraint uses frame {need - 1}, outside the motion (frames 0 to {frames - 1})")
        return int(frames)
    if need > MAX_FRAMES:
        raise KinmoInputError(f"a constraint uses frame {need - 1}; motions have at most {MAX_FRAMES} frames")
    n = path_frames(constraints, texts[0], pipe.frame_range)
    if n is None:
        if pipe.parts.length_estimator is not None:
            g = torch.Generator().manual_seed(int(seed))
            n = max(pipe.sample_frames(list(texts), g))
        else:
            n = 120
    return int(min(max(n, need, MIN_FRAMES), MAX_FRAMES))


def generate_controlled(pipe, texts: Sequence[str], constraints, frames: int | None = None, seed: int = 0,
                        levels: int | None = None, descriptions: Sequence[Mapping | None] | None = None,
                        method: str | None = None, guidance: GuidanceSettings | None = None,
                        solve: SolveSettings | None = None) -> tuple[list, list[dict]]:
    """Generate one Motion per text meeting the constraints; returns (motions, reports).

    Each report holds the method, the placement of the file's coordinates and the residual error per constraint.
    Targets missed by more than 2 cm (out of reach) give a warning naming the residual; bones never stretch.
    """
    from kinmo_core.motion.features import features_to_joints
    from kinmo_core.motion.file import Motion

    method = default_method(pipe) if method is None else method
    if method not in METHODS:
        raise KinmoInputError(f"unknown control method {method!r}; expected one of {', '.join(METHODS)}")
    if method.startswith("branch") and not pipe.has_control_branch:
        raise KinmoInputError(f"control method {method!r} needs a model with the control branch "
                              "(control_transformer/); this one has none: use 'ik'")
    if isinstance(texts, str):
        texts = [texts]
    texts = [pipe.clean_text(t) for t in texts]
    cons = parse_constraints(constraints)
    n = resolve_frames(pipe, texts, cons, frames, seed)
    path = next((c for c in cons if c.kind == "path"), None)
    k = CANDIDATES if method != "none" and cons else 1
    levels = pipe.settings.levels if levels is None else levels
    if k > 1 and descriptions is None and levels > 1 and pipe.parts.reasoner is not None:
        descriptions = pipe.expand(list(texts), seed=seed)  # once per text, shared by its candidates
    many = [t for t in texts for _ in range(k)]
    many_desc = None if descriptions is None else [d for d in descriptions for _ in range(k)]
    early = None
    if method.startswith("branch"):
        # The branch alone has no later correction to time a path by the gait: it gets the path as timed by the text.
        known = [branch_targets(cons, n, t, paths=BRANCH_PATHS or method == "branch") for t in texts]
        if any(e is not None for e in known):
            early = torch.from_numpy(np.stack([np.full((n, 22, 3), np.nan) if e is None else e
                                               for e in known for _ in range(k)]).astype(np.float32))
    codes, lengths, used = pipe.generate_codes(many, [n] * len(many), seed=seed, levels=levels,
                                               descriptions=many_desc, targets=early)
    with torch.no_grad():
        plain = pipe.parts.rvq.decode(codes) * pipe.std + pipe.mean
    base = [np.asarray(features_to_joints(plain[i, :n].double()).numpy()) for i in range(len(many))]
    if k > 1:
        pick = [i * k + choose_candidate(base[i * k:(i + 1) * k], cons, n, texts[i]) for i in range(len(texts))]
        codes, plain = codes[pick], plain[pick]
        base, used = [base[i] for i in pick], [used[i] for i in pick]
    targets: list[ControlTargets] = [build_targets(cons, n, t, None if path is None else b[:, 0, [0, 2]])
                                     for t, b in zip(texts, base, strict=True)]
    targets = [tg.resolve_pins(j) for tg, j in zip(targets, base, strict=True)]
    if guidance is None and method == "guidance+ik":
        guidance = GUIDANCE_BEFORE_IK
    if "guidance" in method:
        with torch.enable_grad():
            feats = guide_codes(pipe, codes, [tg.positions for tg in targets], [tg.heading for tg in targets],
                                guidance).detach()
    else:
        feats = plain
    motions, reports = [], []
    for i, text in enumerate(texts):
        f = feats[i, :n].double()
        if method.endswith("ik"):
            joints = np.asarray(features_to_joints(f).numpy())
            fixed = solve_joints(joints, targets[i].positions, targets[i].heading, settings=solve)
            out = joints_to_motion_features(fixed, level=False)
        else:
            out = f.float().numpy()
        m = Motion.from_features(out, text=text, descriptions=used[i], source=f"kinmo-generate (control: {method})")
        res = targets[i].residuals(m.joints) if method != "none" else []
        if method != "none":
            warn_residuals(res)
        motions.append(m)
        reports.append({"method": method, "frames": n, "placement": targets[i].placement, "residuals": res})
    return motions, reports
