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
gait covers the path's length most nearly (its strides need the least stretching), and the path takes its pace.
With ik or branch+ik, where the corrected motion's planted feet drift, the next are corrected too (SLIDE_RECHECK)."""


SLIDE_RECHECK: float = 0.01
"""Metres: when the corrected candidate's planted foot drifts more than this in a contact phase, the other candidates
are corrected too and the one whose feet drift least is kept (`solve_least_sliding`). The generated gait cannot tell
beforehand: on the 3 m circle the candidates' own drift (22-44 cm, before the solve) did not rank their drift after
it (0.5-6.9 cm)."""


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


def rank_candidates(candidates: Sequence[np.ndarray], constraints: Sequence[Constraint], frames: int,
                    text: str = "") -> list[int]:
    """Return the candidate motions' indices (joints (T, 22, 3)), the one the constraints should correct first."""
    from kinmo_core.control.path import pace_mismatch, path_length

    path = next((c for c in constraints if c.kind == "path"), None)
    if path is not None:
        s, e = path.start or 0, frames - 1 if path.end is None else path.end
        length = path_length(path.points)
        cost = [pace_mismatch(c[s:e + 1, 0, [0, 2]], length) for c in candidates]
    else:
        positions = build_targets(constraints, frames, text).positions
        cost = [target_fit(c, positions) for c in candidates]
    return sorted(range(len(candidates)), key=lambda c: cost[c])


def choose_candidate(candidates: Sequence[np.ndarray], constraints: Sequence[Constraint], frames: int,
                     text: str = "") -> int:
    """Return the index of the candidate motion (joints (T, 22, 3)) the constraints should correct (see CANDIDATES)."""
    return rank_candidates(candidates, constraints, frames, text)[0]


def solve_least_sliding(starts: Sequence[np.ndarray], targets: Sequence[ControlTargets],
                        settings: SolveSettings | None = None) -> tuple[int, np.ndarray]:
    """Correct starts[0] to its targets; if a planted foot then drifts over SLIDE_RECHECK, correct the others too and
    return (index, joints) of the one whose feet drift least."""
    from kinmo_core.motion.contacts import skate_per_phase

    best = None
    for i, (start, tg) in enumerate(zip(starts, targets, strict=True)):
        fixed = solve_joints(start, tg.positions, tg.heading, settings=settings)
        drift = skate_per_phase(fixed)
        worst = float(drift.max()) if len(drift) else 0.0
        if best is None or worst < best[0]:
            best = (worst, i, fixed)
        if worst <= SLIDE_RECHECK:
            break
    return best[1], best[2]


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
    def targets_for(text: str, joints: np.ndarray) -> ControlTargets:
        tg = build_targets(cons, n, text, None if path is None else joints[:, 0, [0, 2]])
        return tg.resolve_pins(joints)

    # Per text, its candidates in the order they are corrected; the plain ik methods may try more than the first.
    order = [[i * k + c for c in rank_candidates(base[i * k:(i + 1) * k], cons, n, texts[i])] if k > 1 else [i]
             for i in range(len(texts))]
    tries = order if method in ("ik", "branch+ik") else [o[:1] for o in order]
    pick = [o[0] for o in order]
    codes, plain = codes[pick], plain[pick]
    every_base, every_used = base, used
    base, used = [base[i] for i in pick], [used[i] for i in pick]
    targets: list[ControlTargets] = [targets_for(t, b) for t, b in zip(texts, base, strict=True)]
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
        if method in ("ik", "branch+ik"):
            starts = [every_base[c] for c in tries[i]]
            tgs = [targets[i]] + [targets_for(text, j) for j in starts[1:]]
            chosen, fixed = solve_least_sliding(starts, tgs, settings=solve)
            targets[i], used[i] = tgs[chosen], every_used[tries[i][chosen]]
            out = joints_to_motion_features(fixed, level=False)
        elif method.endswith("ik"):
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
