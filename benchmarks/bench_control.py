"""Spatial control benchmark (issue 18): OmniControl's protocol, a circle path, keyframes, and speed.

    python benchmarks/bench_control.py --synth /tmp/synth500 --synth-motions 2 --bandai-motions 2 --threads 1

- Control (OmniControl's protocol): targets are taken from real test motions (the synthetic corpus' test split and the
  Bandai-Namco test split of `kinmo corpus import`, each with its caption, cropped to at most 196 frames); for the
  pelvis, each foot, the head and each wrist, dense (every frame) and sparse (1, 2, 5, 25% of frames, drawn with a
  seed). The model generates from the motion's caption at its length; each method is scored on the average error (cm)
  at the constrained frames, the trajectory error (share of motions with any constrained frame over 50 cm), the
  location error (share of constrained frames over 50 cm), the foot skating ratio
  (eval.plausibility_report.foot_skating) and the largest slide per contact phase (motion.contacts.skate_per_phase),
  and FID / R-precision with the project's evaluator against the same model without constraints ("none": same codes,
  same seeds).
- Circle: a 3 m circle walked in 8 s: mean / max distance of the pelvis from the path, slide per contact phase
  (`--circle-seeds 1:6,3:8`: the default method over seeds, at one level and at three).
- Keyframes: poses of a real motion every 2 s as keyframes: the largest joint error at those frames.
- Speed: one 196-frame constrained generation after loading (median of 3), per method.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kinmo_core.control.generate import CANDIDATES, GUIDANCE_BEFORE_IK, nearest_candidate  # noqa: E402
from kinmo_core.control.guidance import guide_codes  # noqa: E402
from kinmo_core.control.solve import joints_to_motion_features, solve_joints  # noqa: E402
from kinmo_core.eval.plausibility_report import foot_skating  # noqa: E402
from kinmo_core.motion.contacts import skate_per_phase  # noqa: E402
from kinmo_core.motion.features import features_to_joints  # noqa: E402
from kinmo_core.motion.skeleton import JOINT_INDEX  # noqa: E402

JOINTS = ("pelvis", "left_foot", "right_foot", "head", "left_wrist", "right_wrist")
DENSITIES = (1.0, 0.25, 0.05, 0.02, 0.01)
METHODS = ("none", "guidance", "ik", "guidance+ik", "branch", "branch+ik")
SHARED = ROOT.parent / "shared" / "data" / "bandai-namco-1"


def real_motions(synth: Path | None, n_synth: int, n_bandai: int, seed: int,
                 bandai: Path = SHARED) -> list[tuple[str, np.ndarray, str]]:
    """Return (caption, joints (T, 22, 3), source) of real test motions, cropped to at most 196 frames.

    bandai: the Bandai-Namco dataset-1 folder (its BVH clips and cfg/), whose test split is drawn as `kinmo corpus
    import-bvh` draws it (the imported copy in data/bandai holds the same clips as features).
    """
    rng = np.random.default_rng(seed)
    out = []
    if synth is not None and n_synth:
        from kinmo_core.data.dataset import MotionTextDataset

        ds = MotionTextDataset(synth, "test", max_frames=196, min_frames=40, unit=4, normalize=False, seed=seed)
        for i in rng.choice(len(ds), min(n_synth, len(ds)), replace=False):
            it = ds[int(i)]
            feats = it["motion"].numpy()[: int(it["length"])]
            out.append((it["caption"], np.asarray(features_to_joints(feats.astype(np.float64))), "synth"))
    if n_bandai:
        from kinmo_core.data.layout import assign_splits
        from kinmo_core.data.mocap import _clean_id, bandai_captions, bandai_labels
        from kinmo_core.motion.file import load_motion

        # The test split `kinmo corpus import` (seed 0) gives these clips, so the default model never trained on them.
        files = sorted(bandai.rglob("*.bvh"))
        if not files:
            raise SystemExit(f"no Bandai-Namco BVH clips under {bandai} (give --bandai or --bandai-motions 0)")
        split = assign_splits([_clean_id(f.stem) for f in files], 0)
        test = [k for k, f in enumerate(files) if split[_clean_id(f.stem)] == "test"]
        for k in rng.choice(test, min(n_bandai, len(test)), replace=False):
            f = files[int(k)]
            lab = bandai_labels(f, bandai / "cfg")
            cap = bandai_captions(lab["content"], lab["style"], np.random.default_rng([0, int(k)]))[0]
            j = load_motion(f).joints.astype(np.float64)
            out.append((cap, j[: 196 - (min(len(j), 196) % 4)], "bandai"))
    return out


def settings(n: int, rng: np.random.Generator) -> list[tuple[str, float, np.ndarray]]:
    """Return (joint, density, frames) for every joint and density on an n-frame motion."""
    out = []
    for joint in JOINTS:
        for d in DENSITIES:
            k = n if d == 1.0 else max(1, int(round(d * n)))
            out.append((joint, d, np.sort(rng.choice(n, k, replace=False))))
    return out


def control_protocol(pipe, motions, methods, seed: int, one_case: bool = False) -> dict:
    """Run every method on every motion and setting (one random setting per motion with one_case)."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict]] = {m: [] for m in methods}
    feats_out: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    texts: list[str] = []
    timing = {m: 0.0 for m in methods}
    for mi, (text, real, _) in enumerate(motions):
        n = len(real)
        cases = settings(n, rng)
        if one_case:
            cases = [cases[int(rng.integers(len(cases)))]]
        codes, _, _ = pipe.generate_codes([text], [n], seed=seed + mi, levels=1)
        with torch.no_grad():
            plain = (pipe.parts.rvq.decode(codes) * pipe.std + pipe.mean)[0, :n].double()
        base = np.asarray(features_to_joints(plain).numpy())
        tgts = []
        for joint, _, frames in cases:
            tg = np.full((n, 22, 3), np.nan)
            tg[frames, JOINT_INDEX[joint]] = real[frames, JOINT_INDEX[joint]]
            tgts.append(tg)
        # The constrained methods correct the candidate nearest the targets, as `generate_controlled` does;
        # "none" stays the plain first sample.
        if set(methods) & {"ik", "guidance", "guidance+ik"}:
            t0 = time.perf_counter()
            many, _, _ = pipe.generate_codes([text] * CANDIDATES, [n] * CANDIDATES, seed=seed + mi, levels=1)
            with torch.no_grad():
                many_plain = (pipe.parts.rvq.decode(many) * pipe.std + pipe.mean)[:, :n].double()
            cand = [np.asarray(features_to_joints(many_plain[c]).numpy()) for c in range(CANDIDATES)]
            pick = [nearest_candidate(cand, tg) for tg in tgts]
            picked_codes = many[pick]
            elapsed = time.perf_counter() - t0
            for m in set(methods) & {"ik", "guidance", "guidance+ik"}:
                timing[m] += elapsed  # each constrained method pays for the candidates when run alone
        branch = None
        if {"branch", "branch+ik"} & set(methods):
            # The branch sees each case's targets, so each case gets its own candidates (one batch per motion).
            t0 = time.perf_counter()
            tg_batch = torch.from_numpy(np.stack([tg for tg in tgts for _ in range(CANDIDATES)]).astype(np.float32))
            bcodes, _, _ = pipe.generate_codes([text] * len(tg_batch), [n] * len(tg_batch), seed=seed + mi, levels=1,
                                               targets=tg_batch)
            with torch.no_grad():
                bplain = (pipe.parts.rvq.decode(bcodes) * pipe.std + pipe.mean)[:, :n].double()
            branch = []
            for ci, tg in enumerate(tgts):
                idx = range(ci * CANDIDATES, (ci + 1) * CANDIDATES)
                cj = [np.asarray(features_to_joints(bplain[r]).numpy()) for r in idx]
                best = nearest_candidate(cj, tg)
                branch.append((cj[best], np.asarray(bplain[idx[best]].float().numpy())))
            elapsed = time.perf_counter() - t0
            for m in {"branch", "branch+ik"} & set(methods):
                timing[m] += elapsed
        guided = None
        if "guidance" in methods:
            t0 = time.perf_counter()
            with torch.enable_grad():
                g = guide_codes(pipe, picked_codes, tgts, [None] * len(cases)).detach()
            guided = [np.asarray(features_to_joints(g[i, :n].double()).numpy()) for i in range(len(cases))]
            timing["guidance"] = timing.get("guidance", 0.0) + time.perf_counter() - t0
        if "guidance+ik" in methods:
            # guidance+ik steers with fewer steps (generate.GUIDANCE_BEFORE_IK), as `kinmo generate` does.
            t0 = time.perf_counter()
            with torch.enable_grad():
                g2 = guide_codes(pipe, picked_codes, tgts, [None] * len(cases), GUIDANCE_BEFORE_IK).detach()
            guided_ik = [np.asarray(features_to_joints(g2[i, :n].double()).numpy()) for i in range(len(cases))]
            timing["guidance+ik"] = timing.get("guidance+ik", 0.0) + time.perf_counter() - t0
        for ci, (joint, dens, frames) in enumerate(cases):
            texts.append(text)
            for m in methods:
                t0 = time.perf_counter()
                if m == "none":
                    j = base
                elif m == "guidance":
                    j = guided[ci]
                elif m == "branch":
                    j = branch[ci][0]
                else:
                    start = cand[pick[ci]] if m == "ik" else guided_ik[ci] if m == "guidance+ik" else branch[ci][0]
                    j = solve_joints(start, tgts[ci])
                # Features as `generate_controlled` writes them (heights kept: level=False).
                f = joints_to_motion_features(j, level=False) if "ik" in m else np.asarray(plain.float().numpy())
                if m == "guidance":
                    f = np.asarray(g[ci, :n].float().numpy())
                elif m == "branch":
                    f = branch[ci][1]
                j = np.asarray(features_to_joints(f.astype(np.float64)))
                timing[m] += time.perf_counter() - t0
                err = np.linalg.norm(j[frames, JOINT_INDEX[joint]] - real[frames, JOINT_INDEX[joint]], axis=-1)
                sk = skate_per_phase(j)
                rows[m].append({"joint": joint, "density": dens, "err_cm": 100 * float(err.mean()),
                                "traj_fail": bool((err > 0.5).any()), "loc_fail": float((err > 0.5).mean()),
                                "skate_ratio": foot_skating(j)["skate_ratio"],
                                "slide_max_cm": 100 * float(sk.max()) if len(sk) else 0.0})
                feats_out[m].append(f)
        print(f"  motion {mi + 1}/{len(motions)} done", file=sys.stderr)
    return {"rows": rows, "features": feats_out, "texts": texts, "timing": timing}


def summarise(rows: list[dict], joints=None, densities=None) -> dict:
    sel = [r for r in rows
           if (joints is None or r["joint"] in joints) and (densities is None or r["density"] in densities)]
    return {"err_cm": float(np.mean([r["err_cm"] for r in sel])),
            "traj_err": float(np.mean([r["traj_fail"] for r in sel])),
            "loc_err": float(np.mean([r["loc_fail"] for r in sel])),
            "skate_ratio": float(np.mean([r["skate_ratio"] for r in sel])),
            "slide_max_cm": float(np.mean([r["slide_max_cm"] for r in sel]))}


def evaluator_scores(feats: dict, texts: list[str], real_feats: list[np.ndarray]) -> dict:
    """FID against the real motions and R-precision (top 3) per method, with the project's evaluator."""
    from kinmo_core.eval.generation_eval import Embedder
    from kinmo_core.eval.generation_metrics import fid, r_precision

    emb = Embedder(ROOT / "kinmo_core" / "assets" / "evaluator")
    real = emb.motions(real_feats)
    t = emb.texts(texts)
    out = {}
    for m, fs in feats.items():
        e = emb.motions([np.asarray(f, np.float32) for f in fs])
        rp = r_precision(t, e, seed=0)
        out[m] = {"FID": fid(real, e), "R-precision top-3": rp["R-precision top-3"]}
    return out


def circle_case(pipe, method: str | None, seed: int, levels: int = 1) -> dict:
    """The 3 m / 8 s circle walked once ("a person walks"): path error, slide per contact phase, skating."""
    from kinmo_core.control.generate import generate_controlled

    th = np.linspace(0, 2 * np.pi, 65)
    pts = np.stack([1.5 - 1.5 * np.cos(th), 1.5 * np.sin(th)], -1)
    cons = [{"kind": "path", "points": pts.tolist(), "seconds": 8}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (mo,), rep = generate_controlled(pipe, ["a person walks"], cons, seed=seed, levels=levels, method=method)
    j = mo.joints.astype(np.float64)
    yaw, off = np.radians(rep[0]["placement"]["yaw_degrees"]), np.array(rep[0]["placement"]["offset"])
    centre = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]]) @ (np.array([1.5, 0.0]) - off)
    ring = np.abs(np.linalg.norm(j[:, 0, [0, 2]] - centre, axis=-1) - 1.5)  # distance from the placed circle
    sk = skate_per_phase(j)
    return {"path_mean_cm": 100 * float(ring.mean()), "path_max_cm": 100 * float(ring.max()),
            "slide_max_cm": 100 * float(sk.max()), "phases_over_2cm": int((sk > 0.02).sum()),
            "skate_ratio": foot_skating(j)["skate_ratio"]}


def circle_test(pipe, methods, seed: int) -> dict:
    return {m: circle_case(pipe, m, seed) for m in methods}


def circle_seeds(pipe, spec: str) -> dict:
    """The default method's circle over seeds; spec "LEVELS:SEEDS,..." (e.g. "1:6,3:8": seeds 0-5 at one level...)."""
    out = {}
    for part in spec.split(","):
        levels, seeds = (int(x) for x in part.split(":"))
        runs = [circle_case(pipe, None, seed, levels) for seed in range(seeds)]
        out[f"{levels} levels"] = {"slide_max_cm": [round(r["slide_max_cm"], 2) for r in runs],
                                   "runs_over_2cm": sum(r["phases_over_2cm"] > 0 for r in runs),
                                   "path_mean_cm": float(np.mean([r["path_mean_cm"] for r in runs]))}
    return out


def keyframe_test(pipe, motions, methods, seed: int) -> dict:
    from kinmo_core.control.generate import generate_controlled

    out = {m: [] for m in methods if m != "none"}
    for mi, (text, real, _) in enumerate(motions):
        frames = list(range(0, len(real), 40))
        cons = [{"kind": "keyframes", "frames": frames, "poses": real[frames].tolist()}]
        for m in out:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                (mo,), _ = generate_controlled(pipe, [text], cons, frames=len(real), seed=seed + mi, levels=1,
                                               method=m)
            out[m].append(100 * float(np.linalg.norm(mo.joints[frames] - real[frames], axis=-1).max()))
    return {m: {"max_err_cm": float(np.max(v)), "mean_of_max_cm": float(np.mean(v))} for m, v in out.items()}


def speed_test(pipe, methods, repeats: int = 3) -> dict:
    from kinmo_core.control.generate import generate_controlled

    cons = [{"kind": "trajectory", "joint": "right_wrist", "frames": list(range(196)),
             "positions": [[-0.3, 1.0 + 0.2 * np.sin(t / 10), 0.3] for t in range(196)]}]
    out = {}
    for m in methods:
        times, cpu = [], []
        for r in range(repeats + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                generate_controlled(pipe, ["a person waves the right hand"], cons, frames=196, seed=r, levels=1,
                                    method=m)
            if r:
                times.append(time.perf_counter() - t0)  # the first run warms up
                cpu.append(time.process_time() - c0)
        # CPU seconds of the one torch thread: what the wall clock gives on an idle machine (not beside trainings).
        out[m] = {"median_s": statistics.median(times), "min_s": min(times), "cpu_median_s": statistics.median(cpu)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synth", type=Path, default=None, help="a synthetic corpus folder (kinmo corpus synth)")
    ap.add_argument("--synth-motions", type=int, default=2)
    ap.add_argument("--bandai-motions", type=int, default=2)
    ap.add_argument("--fid-motions", type=int, default=32, help="synthetic test motions for FID / R-precision")
    ap.add_argument("--fid-synth", type=Path, default=None,
                    help="corpus whose test split gives the FID motions (default --synth; data/synth20k has 6000)")
    ap.add_argument("--bandai", type=Path, default=SHARED, help="the Bandai-Namco dataset-1 folder (BVH + cfg/)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip", default="", help="comma list of parts to skip: control,circle,keyframes,speed,fid")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--model", default=None, help="pipeline folder (default: the shipped model)")
    ap.add_argument("--circle-seeds", default=None, metavar="LEVELS:SEEDS,...",
                    help='also walk the circle with the default method over seeds, e.g. "1:6,3:8" (seeds 0-5 at one '
                         "level, 0-7 at three with the Motion Reasoner)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from kinmo_core.pipeline import KinMoPipeline

    pipe = KinMoPipeline.from_pretrained(args.model, load_reasoner=bool(args.circle_seeds))
    methods = [m for m in args.methods.split(",") if m]
    if not pipe.has_control_branch:
        methods = [m for m in methods if not m.startswith("branch")]
    skip = set(args.skip.split(","))
    result: dict = {}
    motions = real_motions(args.synth, args.synth_motions, args.bandai_motions, args.seed, args.bandai)
    print(f"{len(motions)} real motions: " + ", ".join(f"{s} {len(j)} frames" for _, j, s in motions))
    if "control" not in skip:
        t0 = time.perf_counter()
        c = control_protocol(pipe, motions, methods, args.seed)
        print(f"control protocol: {time.perf_counter() - t0:.0f} s; seconds per method: "
              + ", ".join(f"{k} {v:.0f}" for k, v in c["timing"].items()))
        table = {}
        for m in methods:
            table[m] = {"dense pelvis": summarise(c["rows"][m], ["pelvis"], [1.0]),
                        "dense other": summarise(c["rows"][m], [j for j in JOINTS if j != "pelvis"], [1.0]),
                        "sparse all": summarise(c["rows"][m], None, [d for d in DENSITIES if d < 1]),
                        "all": summarise(c["rows"][m])}
            for d in DENSITIES:
                table[m][f"density {d:g}"] = summarise(c["rows"][m], None, [d])
            for joint in JOINTS:
                table[m][joint] = summarise(c["rows"][m], [joint])
            for d in DENSITIES:
                # Sparse foot targets taken from another motion's steps are where skating could be added.
                table[m][f"feet {d:g}"] = summarise(c["rows"][m], ["left_foot", "right_foot"], [d])
        result["control"] = table
        print("method        cell            err_cm  traj_err  loc_err  skate_ratio  slide_max_cm")
        for m, t in table.items():
            for cell, v in t.items():
                print(f"{m:13s} {cell:15s} {v['err_cm']:7.2f}  {v['traj_err']:8.3f}  {v['loc_err']:7.3f}  "
                      f"{v['skate_ratio']:11.3f}  {v['slide_max_cm']:12.2f}")
    if "fid" not in skip:
        fid_motions = real_motions(args.fid_synth or args.synth, args.fid_motions, 0, args.seed + 1)
        c = control_protocol(pipe, fid_motions, methods, args.seed, one_case=True)
        real_feats = [np.asarray(joints_to_motion_features(j, level=False), np.float32) for _, j, _ in fid_motions]
        ev = evaluator_scores(c["features"], c["texts"], real_feats)
        result["evaluator"] = {"motions": len(fid_motions), **ev}
        for m, v in ev.items():
            print(f"evaluator ({len(fid_motions)} motions, one random setting each) {m:13s} FID {v['FID']:.3f}  "
                  f"R-precision top-3 {v['R-precision top-3']:.3f}  " + "  ".join(
                      f"{k} {x:.3f}" for k, x in summarise(c["rows"][m]).items()))
    if "circle" not in skip:
        result["circle"] = circle_test(pipe, [m for m in methods if m != "none"], args.seed)
        for m, v in result["circle"].items():
            print(f"circle {m:13s} " + "  ".join(f"{k} {x:.3f}" for k, x in v.items()))
    if args.circle_seeds:
        result["circle_seeds"] = circle_seeds(pipe, args.circle_seeds)
        for k, v in result["circle_seeds"].items():
            print(f"circle over seeds, {k}: largest slide per seed {v['slide_max_cm']} cm, runs with a phase over "
                  f"2 cm {v['runs_over_2cm']}, path mean {v['path_mean_cm']:.2f} cm")
    if "keyframes" not in skip:
        result["keyframes"] = keyframe_test(pipe, motions, methods, args.seed)
        for m, v in result["keyframes"].items():
            print(f"keyframes {m:13s} " + "  ".join(f"{k} {x:.3f}" for k, x in v.items()))
    if "speed" not in skip:
        result["speed"] = speed_test(pipe, [m for m in methods if m != "none"] + ["none"])
        for m, v in result["speed"].items():
            print(f"speed (196 frames, after loading) {m:13s} median {v['median_s']:.2f} s  min {v['min_s']:.2f} s  "
                  f"CPU median {v['cpu_median_s']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
