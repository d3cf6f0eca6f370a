"""Realism of generated motion against real Bandai-Namco test clips (never trained on), issue 21.

For each imported Bandai-Namco folder (`kinmo corpus import-bvh`), takes the originals of its test split (mirrors
left out), at most `--per-content` clips of each content, and generates one motion per clip with the pipeline from
the clip's first caption at the clip's length (clamped to the pipeline's range), seed = clip number. Both sides are
measured with `kinmo_core.eval.realism` (the project's foot skating and floor penetration definitions): walk and run
speed, arm motion energy while walking, foot skating ratio, floor penetration and the share of frames below the
floor, jitter when standing, pelvis height.

Run: `python benchmarks/bench_realism.py --data data/bandai data/bandai2 --per-content 8 --threads 1
[--prompt caption|plain] [--lengths real|estimated] [--no-cleanup] [--model PATH] [--json runs/realism.json]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kinmo_core.data import layout  # noqa: E402
from kinmo_core.eval.realism import CONTENT_KIND, KIND_FIGURES, aggregate_realism, realism_figures  # noqa: E402

TARGETS: dict[str, str] = {
    "speed_mps": "within 10% of real",
    "skate_ratio": "<= real",
    "penetration_mean_cm": "<= 0.5 cm",
    "penetration_max_cm": "",
    "below_floor_ratio": "",
    "standing_jitter_mps2": "<= 1.5x real",
    "arm_energy_m2ps2": "within 30% of real",
    "pelvis_height_m": "",
}


def plain_prompt(content: str) -> str:
    """Return what a user would type for a content label, without its style ("a person walks forward")."""
    from kinmo_core.data.mocap import BANDAI_CONTENT

    return "a person " + BANDAI_CONTENT.get(content, (content.replace("-", " "),))[0]


def test_clips(root: Path, split: str, per_content: int, prompt: str = "caption") -> list[dict]:
    """Return [{id, content, kind, caption, joints}] of the originals of a split, at most per_content per content."""
    picked: dict[str, int] = {}
    out = []
    for mid in layout.read_split(root, split):
        if layout.base_id(mid) != mid:
            continue
        gt = json.loads((root / "ground_truth" / f"{mid}.json").read_text())
        content = gt.get("labels", {}).get("content", "?")
        if picked.get(content, 0) >= per_content:
            continue
        picked[content] = picked.get(content, 0) + 1
        caption = (layout.read_texts(root / "texts" / f"{mid}.txt")[0]["caption"] if prompt == "caption"
                   else plain_prompt(content))
        out.append({"id": mid, "content": content, "kind": CONTENT_KIND.get(content, "other"), "caption": caption,
                    "joints": np.load(root / "new_joints" / f"{mid}.npy", allow_pickle=False)})
    return out


def run_dataset(pipe, root: Path, split: str, per_content: int, progress: bool = True, prompt: str = "caption",
                lengths: str = "real", cleanup: bool = True) -> dict:
    """Generate for every picked clip of one dataset and return the real and generated aggregates."""
    from tqdm import tqdm

    from kinmo_core.pipeline import MAX_FRAMES, MIN_FRAMES

    clips = test_clips(root, split, per_content, prompt)
    real, gen = [], []
    t0 = time.perf_counter()
    for k, c in enumerate(tqdm(clips, desc=root.name, unit="clip", disable=not progress)):
        frames = int(np.clip(len(c["joints"]), MIN_FRAMES, MAX_FRAMES)) if lengths == "real" else None
        m = pipe(c["caption"], frames=frames, seed=k, cleanup=cleanup)
        real.append((c["kind"], realism_figures(c["joints"])))
        gen.append((c["kind"], realism_figures(m.joints)))
    contents: dict[str, int] = {}
    for c in clips:
        contents[c["content"]] = contents.get(c["content"], 0) + 1
    return {"dataset": str(root), "split": split, "prompt": prompt, "lengths": lengths, "cleanup": cleanup,
            "clips": len(clips),
            "contents": contents,
            "seconds": time.perf_counter() - t0, "real": aggregate_realism(real),
            "generated": aggregate_realism(gen)}


def markdown(result: dict) -> str:
    """Return one dataset's comparison as a Markdown table."""
    lines = [f"{Path(result['dataset']).name}, {result['split']} split, prompts: {result['prompt']}, lengths: "
             f"{result['lengths']}, cleanup {'on' if result.get('cleanup', True) else 'off'}: {result['clips']} clips "
             f"({', '.join(f'{k} {v}' for k, v in sorted(result['contents'].items()))})", "",
             "| kind (clips) | figure | real | generated | generated / real | target |", "|---|---|---|---|---|---|"]
    for kind, names in KIND_FIGURES.items():
        r, g = result["real"].get(kind), result["generated"].get(kind)
        if not r or not g:
            continue
        for name in names:
            if name not in r or name not in g:
                continue
            ratio = f"{g[name] / r[name]:.2f}" if abs(r[name]) > 1e-9 else "-"
            lines.append(f"| {kind} ({int(r['clips'])}) | {name} | {r[name]:.4g} | {g[name]:.4g} | {ratio} | "
                         f"{TARGETS.get(name, '')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["data/bandai", "data/bandai2"],
                        help="imported Bandai-Namco folders (default data/bandai data/bandai2; absent ones skipped)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--per-content", type=int, default=8, help="clips per content label (default 8)")
    parser.add_argument("--prompt", choices=("caption", "plain"), default="caption",
                        help="generate from each clip's first caption (default) or from the plain prompt of its "
                             "content, no style ('a person walks forward')")
    parser.add_argument("--lengths", choices=("real", "estimated"), default="real",
                        help="generate at each clip's length (default) or let the length estimator choose")
    parser.add_argument("--model", default=None, help="pipeline folder (default: the shipped model)")
    parser.add_argument("--no-cleanup", action="store_true",
                        help="measure the decoder's motion without the pipeline's foot-contact and jitter cleanup")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from kinmo_core.pipeline import KinMoPipeline

    pipe = KinMoPipeline.from_pretrained(args.model)
    results = []
    for d in args.data:
        root = Path(d)
        if not (root / f"{args.split}.txt").is_file():
            print(f"skipped {root}: no {args.split}.txt (import it with `kinmo corpus import-bvh`)")
            continue
        res = run_dataset(pipe, root, args.split, args.per_content, progress=not args.quiet, prompt=args.prompt,
                          lengths=args.lengths, cleanup=not args.no_cleanup)
        results.append(res)
        print(markdown(res))
        print(f"\n({res['clips']} generations in {res['seconds']:.0f} s, torch {torch.__version__}, "
              f"{torch.get_num_threads()} thread(s))\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"model": args.model or "shipped", "results": results}, indent=1))
    return 0 if results else 2


if __name__ == "__main__":
    raise SystemExit(main())
