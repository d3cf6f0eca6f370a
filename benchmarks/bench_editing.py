"""Editing (issue 17): range and part re-prompting, loops, timelines, on the shipped default model.

    python benchmarks/bench_editing.py [--edits 100] [--methods inpaint,generate] [--sections edits,speed]

edits:    part edits (parts = the group the prompt names) of generated 10 s motions and real Bandai-Namco clips, ranges
          of 1-5 s, prompts from the part-following set (each names a part and a side). Per method: outside-range
          joints against the source (max |diff|), untouched groups' joints (max |diff|, torso untouched), edit
          success (the part-following check of the prompt, named part acts and its mirror does not, on the edited
          range), seams (largest joint acceleration within 5 frames of a seam over 1.5x the 95th percentile of the
          source's accelerations; foot skating in the seam windows, edited vs source).
loops:    `pipe(text, loop=True)`: pose and velocity gap between the last and the first frame against the median
          frame-to-frame change.
timeline: a 60 s timeline of 8 segments and 3 part tracks: every seam against the seam bound (1.5x the 95th
          percentile of the neighbouring segments' accelerations; at a track's ends, over the track's parts); time.
speed:    a 2 s range edit of a 10 s motion after loading (with the Reasoner's descriptions computed in the call, and
          given), and the 60 s timeline.
Targets: outside <= 1e-5 m; untouched <= 1 mm; success >= 80%; seam ratio <= 1; loops below the median change;
edit <= 0.5 s; timeline <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BANDAI = ROOT.parent / "shared" / "data" / "bandai-namco-1" / "data"
BANDAI_CLIPS = ("walk_normal_001", "bow_normal_001", "guide_normal_001", "walk-left_normal_001", "bye_normal_001",
                "byebye_normal_001", "walk-back_normal_001", "walk-right_normal_001")
MIN_SOURCE_FRAMES = 40
GENERATED = ("a person walks forward", "a person stands still", "a person walks in a circle",
             "a person jogs in place", "a person stands and looks around", "a person walks slowly and stops")
ONE_PASS = True  # --coarse-to-fine sets False: decode edits and timelines coarse to fine, as `generate` does
SEAM_WINDOW = 5
SEAM_FACTOR = 1.5


def accelerations(joints: np.ndarray, fps: int = 20) -> np.ndarray:
    """Joint acceleration magnitudes (T-2, 22) in m/s^2."""
    return np.linalg.norm(np.diff(joints.astype(np.float64), 2, axis=0), axis=-1) * fps * fps


def seam_report(edited: np.ndarray, source: np.ndarray, start: int, stop: int) -> dict:
    """Largest acceleration near the seams over 1.5x the source's 95th percentile; foot skating near the seams.

    The acceleration is taken over the joints the edit changed (the others are the source's own); 'seam_ratio_src'
    is the same figure for the source at the same frames and joints, for reference.
    """
    from kinmo_core.eval.plausibility_report import foot_skating

    bound = SEAM_FACTOR * float(np.percentile(accelerations(source), 95))
    changed = np.abs(edited - source).max(axis=(0, 2)) > 1e-6
    acc, acc_src = accelerations(edited)[:, changed], accelerations(source)[:, changed]  # [i] centred on frame i+1
    worst = worst_src = 0.0
    skate_e, skate_s = [], []
    for seam in (start, stop):
        if seam <= 0 or seam >= len(source) or not changed.any():
            continue
        lo, hi = max(0, seam - SEAM_WINDOW - 1), min(len(acc), seam + SEAM_WINDOW)
        worst = max(worst, float(acc[lo:hi].max()))
        worst_src = max(worst_src, float(acc_src[lo:hi].max()))
        w0, w1 = max(0, seam - SEAM_WINDOW), min(len(source), seam + SEAM_WINDOW)
        skate_e.append(foot_skating(edited[w0:w1])["skate_ratio"])
        skate_s.append(foot_skating(source[w0:w1])["skate_ratio"])
    return {"seam_ratio": worst / bound, "seam_ratio_src": worst_src / bound,
            "skate_edit": float(np.mean(skate_e)) if skate_e else 0.0,
            "skate_source": float(np.mean(skate_s)) if skate_s else 0.0, "seams": len(skate_e)}


def load_sources(pipe, n_bandai: int) -> list:
    """Generated 10 s motions (with the Reasoner's descriptions) and real Bandai clips."""
    from kinmo_core.motion.file import load_motion

    sources = []
    for i, text in enumerate(GENERATED):
        sources.append(("generated", text, pipe(text, seconds=10, seed=100 + i)))
    for name in BANDAI_CLIPS[:n_bandai]:
        path = BANDAI / f"dataset-1_{name}.bvh"
        if path.is_file():
            m = load_motion(path)
            if m.num_frames < MIN_SOURCE_FRAMES:
                continue
            m.text = "a person " + name.split("_")[0].replace("-", " ")
            sources.append(("bandai", name, m))
    texts = [s[2].text for s in sources if s[2].descriptions is None]
    if texts:
        for (_, _, m), d in zip([s for s in sources if s[2].descriptions is None], pipe.expand(texts), strict=True):
            m.descriptions = d
    return sources


def bench_edits(pipe, n: int, methods: list[str], n_bandai: int, seed: int) -> dict:
    """Run n part edits per method; return the aggregate figures."""
    from kinmo_core.editing.edit import edit_motion
    from kinmo_core.eval.part_following import check_part
    from kinmo_core.eval.part_prompts import PART_PROMPTS
    from kinmo_core.motion.kinematic import GROUP_JOINTS, GROUPS

    rng = np.random.default_rng(seed)
    sources = load_sources(pipe, n_bandai)
    jobs = []
    for i in range(n):
        kind, name, m = sources[i % len(sources)]
        p = PART_PROMPTS[int(rng.integers(len(PART_PROMPTS)))]
        length = int(rng.integers(20, 101))
        length = min(length, m.num_frames - 10)
        start = int(rng.integers(0, m.num_frames - length + 1))
        jobs.append((kind, name, m, p, start, start + length))
    expanded = dict(zip(sorted({j[3].text for j in jobs}),
                        pipe.expand(sorted({j[3].text for j in jobs})), strict=True))
    out = {}
    for method in methods:
        rows = []
        t0 = time.perf_counter()
        for i, (kind, name, m, p, a, b) in enumerate(jobs):
            # "inpaint-noblend": in-painting and compositing without the seam blend (1 frame), to show what it does.
            res = edit_motion(pipe, m, p.text, frames=(a, b), parts=[p.group], seed=i,
                              method=method.replace("-noblend", ""), blend=1 if "noblend" in method else None,
                              expanded=expanded[p.text], one_pass=ONE_PASS)
            e = res.motions[0].joints
            outside = max(float(np.abs(e[:a] - m.joints[:a]).max()) if a > 0 else 0.0,
                          float(np.abs(e[b:] - m.joints[b:]).max()) if b < len(e) else 0.0)
            other = [j for g in GROUPS if g != p.group for j in GROUP_JOINTS[g]]
            untouched = float(np.abs(e[:, other] - m.joints[:, other]).max()) if p.group != "torso" else None
            c = check_part(e[a:b], p.group, p.action, p.side)
            rows.append({"kind": kind, "source": name, "text": p.text, "group": p.group, "action": p.action,
                         "side": p.side, "frames": [a, b], "outside_max_m": outside, "untouched_max_m": untouched,
                         "followed": c.followed, "named": c.named, **seam_report(e, m.joints, a, b)})
        seconds = time.perf_counter() - t0
        out[method] = summarise(rows, seconds)
        out[method]["rows"] = rows
    return out


def summarise(rows: list[dict], seconds: float) -> dict:
    """Aggregate rows of edits."""
    by = defaultdict(list)
    for r in rows:
        by[f"{r['group']}/{r['side']}"].append(r["followed"])
        by[f"source:{r['kind']}"].append(r["followed"])
    untouched = [r["untouched_max_m"] for r in rows if r["untouched_max_m"] is not None]
    seams = [r for r in rows if r["seams"]]
    return {
        "edits": len(rows),
        "outside_max_m": max(r["outside_max_m"] for r in rows),
        "untouched_max_m": max(untouched) if untouched else None,
        "success": float(np.mean([r["followed"] for r in rows])),
        "named": float(np.mean([r["named"] for r in rows])),
        "by": {k: [float(np.mean(v)), len(v)] for k, v in sorted(by.items())},
        "seam_ratio_max": max(r["seam_ratio"] for r in seams),
        "seam_ratio_median": float(np.median([r["seam_ratio"] for r in seams])),
        "seams_over_bound": float(np.mean([r["seam_ratio"] > 1.0 for r in seams])),
        "source_seams_over_bound": float(np.mean([r["seam_ratio_src"] > 1.0 for r in seams])),
        "skate_edit_mean": float(np.mean([r["skate_edit"] for r in seams])),
        "skate_source_mean": float(np.mean([r["skate_source"] for r in seams])),
        "skate_worse_share": float(np.mean([r["skate_edit"] > r["skate_source"] for r in seams])),
        "seconds_per_edit": seconds / len(rows),
    }


def bench_speed(pipe, repeats: int) -> dict:
    """Time a 2 s range edit of a 10 s motion (after a warm-up), with and without the Reasoner in the call."""
    from kinmo_core.editing.edit import edit_motion

    m = pipe("a person walks forward", seconds=10, seed=7)
    texts = ["a person raises the left hand", "someone waves the right hand", "a person kicks with the left leg",
             "the person turns the head to the right", "a man punches with the right fist"]
    edit_motion(pipe, m, texts[0], frames=(80, 120), parts=["left_arm"], seed=0)  # warm-up
    with_reasoner, given = [], []
    for r in range(repeats):
        text = f"{texts[r % len(texts)]} {'slowly' if r >= len(texts) else ''}".strip()
        t0 = time.perf_counter()
        edit_motion(pipe, m, text, frames=(80, 120), seed=r, one_pass=ONE_PASS)
        with_reasoner.append(time.perf_counter() - t0)
        d = pipe.expand([text])[0]
        t0 = time.perf_counter()
        edit_motion(pipe, m, text, frames=(80, 120), seed=r, descriptions=d, one_pass=ONE_PASS)
        given.append(time.perf_counter() - t0)
    return {"edit_2s_in_10s_with_reasoner_s": float(np.median(with_reasoner)),
            "edit_2s_in_10s_descriptions_given_s": float(np.median(given)), "repeats": repeats}


def main() -> int:
    """Run the chosen sections and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--methods", default="inpaint,generate")
    ap.add_argument("--sections", default="edits,loops,timeline,speed")
    ap.add_argument("--bandai", type=int, default=len(BANDAI_CLIPS), help="Bandai clips among the sources")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--coarse-to-fine", action="store_true", help="decode coarse to fine instead of in one pass")
    ap.add_argument("--out", type=Path, default=None, help="write the full results (every edit) as JSON here")
    ap.add_argument("--model", default=None, help="pipeline folder (default: the shipped model)")
    args = ap.parse_args()
    global ONE_PASS
    ONE_PASS = not args.coarse_to_fine
    import torch

    from kinmo_core.pipeline import KinMoPipeline

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    pipe = KinMoPipeline.from_pretrained(args.model)
    sections = args.sections.split(",")
    result: dict = {}
    if "edits" in sections:
        result["edits"] = bench_edits(pipe, args.edits, args.methods.split(","), args.bandai, args.seed)
    if "loops" in sections:
        result["loops"] = bench_loops(pipe)
    if "timeline" in sections:
        result["timeline"] = bench_timeline(pipe)
    if "speed" in sections:
        result["speed"] = bench_speed(pipe, args.repeats)
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    short = json.loads(json.dumps(result))
    for m in short.get("edits", {}).values():
        m.pop("rows", None)
    print(json.dumps(short, indent=2))
    return 0


def bench_loops(pipe) -> dict:
    """Loops: gap between the last and first frame (pose, velocity) against the median frame-to-frame change."""
    from kinmo_core.editing.loop import loop_gaps

    texts = ["a person walks forward", "a person jogs in place", "a person waves the right hand",
             "a person jumps up and down", "a person walks in a circle", "a person dances"]
    rows = []
    for i, text in enumerate(texts):
        t0 = time.perf_counter()
        m = pipe(text, seconds=4, seed=i, loop=True)
        rows.append({"text": text, "seconds": time.perf_counter() - t0, **loop_gaps(m.joints)})
    return {"rows": rows, "all_below": all(r["pose_gap"] < r["median_step"] and r["velocity_gap"] < r["median_step"]
                                           for r in rows)}


def bench_timeline(pipe) -> dict:
    """A 60 s timeline of 8 segments (with gaps filled by transitions) and 3 part tracks."""
    from kinmo_core.editing.timeline import compose, seam_frames

    texts = ["a person walks forward", "a person stands still and waves the right hand", "a person jogs in place",
             "a person walks in a circle", "a person bows", "a person jumps up and down", "a person walks backwards",
             "a person stretches the arms"]
    segments, t = [], 0.0
    for i, text in enumerate(texts):
        segments.append({"text": text, "start": t, "end": t + 7.0})
        t += 7.0 + (1.0 if i % 2 == 0 else 0.0)  # a 1 s gap after every other segment: a generated transition
    tracks = [{"text": "a person raises the left hand", "parts": ["left_arm"], "start": 3.0, "end": 8.0},
              {"text": "a person looks to the right", "parts": ["neck"], "start": 20.0, "end": 24.0},
              {"text": "a person punches with the right fist", "parts": ["right_arm"], "start": 40.0, "end": 44.5}]
    timeline = {"segments": segments, "tracks": tracks}
    # Warm-up (imports, the Reasoner's and MiniLM's first calls), so the time is that of a loaded pipeline.
    compose(pipe, {"segments": segments[:2], "tracks": tracks[:1]}, seed=1, one_pass=ONE_PASS)
    t0 = time.perf_counter()
    res = compose(pipe, timeline, seed=0, one_pass=ONE_PASS)
    seconds = time.perf_counter() - t0
    m = res.motion
    acc = accelerations(m.joints)
    seg_bounds = []
    worst = 0.0
    for (f, source_bound), joints in zip(seam_frames(res), res.seam_joints, strict=True):
        lo, hi = max(0, f - SEAM_WINDOW - 1), min(len(acc), f + SEAM_WINDOW)
        ratio = float(acc[lo:hi, list(joints)].max()) / source_bound
        seg_bounds.append([f, round(ratio, 3)])
        worst = max(worst, ratio)
    return {"seconds_total": seconds, "motion_seconds": m.seconds, "segments": len(segments), "tracks": len(tracks),
            "seams": len(seg_bounds), "seam_ratio_max": worst, "seam_ratios": seg_bounds}


if __name__ == "__main__":
    sys.exit(main())
