"""Run text-to-motion generators through the paper's Table 2 metrics, plausibility figures and part following.

    python -m kinmo_core.eval.generation_eval --data data/corpus --evaluator kinmo_core/assets/evaluator \\
        --row "Global only=runs/pipe_sentence_l3:1" --row "KinMo (HTMA)=kinmo_core/assets/default:3" \\
        --repeats 20 --out results/generation.json --markdown results/generation.md

Each repeat draws, for every test item, one of its captions and a crop of at most 196 frames (seeded by the repeat),
generates a motion of the same length from that caption (and the motion's per-part descriptions from the
annotations file, or the pipeline's own Motion Reasoner with --descriptions reasoner), embeds real motion, generated
motion and caption with the frozen evaluator, and computes R-precision (batches of 32), FID, MM-Dist, Diversity and
MultiModality (`--mm-texts` captions x `--mm-samples` generations). Means and 95% intervals over the repeats form the
table; plausibility (foot skating, ground penetration, floating) is measured on the first repeat's motions, and part
following on the hand-written prompts of `part_prompts`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from kinmo_core.errors import KinmoInputError

GenerateFn = Callable[[Sequence[str], Sequence[int], int, Sequence[Mapping | None] | None], list[np.ndarray]]
"""generate(captions, frames, seed, descriptions) -> features (frames_i, 263) per caption."""

EVAL_MAX_FRAMES: int = 196
EVAL_MIN_FRAMES: int = 40


@dataclass
class Row:
    """One generator to evaluate: a table label and its generate function (None: the real motions)."""

    name: str
    generate: GenerateFn | None
    part_following: bool = True


def pipeline_generator(pipe, levels: int, descriptions: str = "annotations", batch: int = 32) -> GenerateFn:
    """Wrap a KinMoPipeline: descriptions from the test annotations ('annotations'), its Reasoner, or 'none'."""
    if descriptions not in ("annotations", "reasoner", "none"):
        raise KinmoInputError(f"descriptions must be annotations, reasoner or none, got {descriptions!r}")

    def generate(captions, frames, seed, descs=None):
        out: list[np.ndarray] = []
        for s in range(0, len(captions), batch):
            chunk = list(captions[s:s + batch])
            if descriptions == "annotations" and descs is not None:
                d = list(descs[s:s + batch])
            elif descriptions == "reasoner" and levels > 1:
                d = pipe.expand(chunk, seed=seed + s)
            else:
                d = None
            f = [int(min(max(n, 20), 200)) for n in frames[s:s + batch]]
            feats, _ = pipe.generate_features(chunk, f, seed=seed + s, levels=levels, descriptions=d)
            out.extend(feats)
        return out

    return generate


class EvalSet:
    """The test split with its captions' token features, crops per repeat and descriptions per item."""

    def __init__(self, data: str | Path, annotations: str | Path | None = None, split: str = "test",
                 limit: int | None = None, seed: int = 0) -> None:
        from kinmo_core.data.dataset import MotionTextDataset

        self.ds = MotionTextDataset(data, split, max_frames=EVAL_MAX_FRAMES, min_frames=EVAL_MIN_FRAMES, unit=4,
                                    normalize=False)
        if limit is not None and limit < len(self.ds.items):
            # A seeded subset, the same for every row and repeat, so rows stay comparable on a CPU budget.
            keep = np.sort(np.random.default_rng(seed).choice(len(self.ds.items), limit, replace=False))
            self.ds.items = [self.ds.items[i] for i in keep]
        self.annotations: dict[str, dict] = {}
        if annotations is not None:
            motions = json.loads(Path(annotations).read_text(encoding="utf-8")).get("motions", {})
            self.annotations = {k: {"groups": v.get("groups") or {}, "interactions": v.get("interactions") or {}}
                                for k, v in motions.items()}

    def draw(self, repeat: int) -> dict:
        """Return this repeat's captions, real features (list), frames and descriptions per item."""
        self.ds.set_epoch(repeat)
        items = [self.ds[i] for i in range(len(self.ds))]
        return {"captions": [it["caption"] for it in items], "motion": [it["motion"].numpy() for it in items],
                "frames": [int(it["length"]) for it in items],
                "descriptions": [self.annotations.get(it["id"]) for it in items]}


class Embedder:
    """The frozen evaluator plus the MiniLM token features it reads."""

    def __init__(self, evaluator_dir: str | Path) -> None:
        from kinmo_core.models.evaluator import TextMotionEvaluator
        from kinmo_core.text.minilm import get_minilm

        self.model = TextMotionEvaluator.from_pretrained(evaluator_dir)
        self.text_encoder = get_minilm()

    @torch.no_grad()
    def motions(self, feats: Sequence[np.ndarray], batch: int = 64) -> np.ndarray:
        """Return (N, D) embeddings of raw features (T_i, 263)."""
        out = []
        for s in range(0, len(feats), batch):
            chunk = feats[s:s + batch]
            n = torch.tensor([len(f) for f in chunk])
            x = torch.zeros(len(chunk), int(n.max()), chunk[0].shape[-1])
            for i, f in enumerate(chunk):
                x[i, : len(f)] = torch.from_numpy(np.asarray(f, np.float32))
            out.append(self.model.embed_motion(x, n).numpy())
        return np.concatenate(out)

    @torch.no_grad()
    def texts(self, captions: Sequence[str], batch: int = 64) -> np.ndarray:
        """Return (N, D) embeddings of captions."""
        out = []
        for s in range(0, len(captions), batch):
            feats, mask = self.text_encoder.token_features(list(captions[s:s + batch]))
            out.append(self.model.embed_text(feats, mask.sum(1)).numpy())
        return np.concatenate(out)


def _plausibility(feats: Sequence[np.ndarray]) -> dict[str, float]:
    from kinmo_core.eval.plausibility_report import aggregate_reports, plausibility_report
    from kinmo_core.motion.features import features_to_joints

    return aggregate_reports([plausibility_report(np.asarray(features_to_joints(f))) for f in feats])


def part_following(generate: GenerateFn, seed: int = 0, seconds: float = 5.0, repeats: int = 1,
                   progress: bool = True) -> dict[str, float | list[float]]:
    """Share of part prompts whose named part acts and whose mirror does not (kinematic checks on the joints).

    With repeats > 1 every prompt is generated once per seed (seed, seed + 1, ...): the rates are pooled over all of
    them, 'rate_ci' is the 95% interval of the per-seed rates and 'runs' lists those rates (one sample per prompt
    leaves about ±6 points of binomial noise on 234 prompts).
    """
    from kinmo_core.eval.generation_metrics import summarize
    from kinmo_core.eval.part_following import evaluate_part_following
    from kinmo_core.eval.part_prompts import PART_PROMPTS
    from kinmo_core.motion.features import features_to_joints

    if repeats < 1:
        raise KinmoInputError(f"part-following repeats must be at least 1, got {repeats}")
    texts = [p.text for p in PART_PROMPTS]
    runs = []
    for r in range(repeats):
        feats = generate(texts, [int(seconds * 20)] * len(texts), seed + r, None)
        joints = iter([np.asarray(features_to_joints(f)) for f in feats])
        runs.append(evaluate_part_following(lambda _text, it=joints: next(it), PART_PROMPTS, progress=progress))
    if repeats == 1:
        return runs[0]
    out: dict[str, float | list[float]] = {k: float(np.mean([run[k] for run in runs])) for k in runs[0]}
    out["count"] = float(sum(run["count"] for run in runs))
    out["rate_ci"] = summarize([{"rate": run["rate"]} for run in runs])["rate"][1]
    out["runs"] = [run["rate"] for run in runs]
    return out


def evaluate_row(row: Row, test: EvalSet, embed: Embedder, repeats: int = 20, seed: int = 0, mm_texts: int = 100,
                 mm_samples: int = 30, part: bool = True, progress: bool = True, part_repeats: int = 1) -> dict:
    """Return {'metrics': {name: (mean, ci)}, 'runs': [...], 'plausibility': {...}, 'part_following': {...}}.

    repeats=0 (with part=True) measures part following alone; test and embed may then be None.
    """
    from kinmo_core.eval.generation_metrics import evaluate_generation, summarize

    if repeats == 0:
        if not (part and row.part_following and row.generate is not None):
            raise KinmoInputError(f"{row.name}: nothing to evaluate with 0 repeats and no part following")
        return {"metrics": {}, "runs": [], "plausibility": {},
                "part_following": part_following(row.generate, seed=seed, repeats=part_repeats, progress=progress)}
    runs, plaus = [], {}
    for r in tqdm(range(repeats), desc=row.name, disable=not progress):
        d = test.draw(seed + r)
        real_emb = embed.motions(d["motion"])
        text_emb = embed.texts(d["captions"])
        if row.generate is None:
            gen = d["motion"]
            mm = None
        else:
            gen = row.generate(d["captions"], d["frames"], seed * 100_003 + r, d["descriptions"])
            mm = None
            if mm_texts > 0 and mm_samples > 0:
                pick = np.random.default_rng(seed + r).permutation(len(gen))[:mm_texts]
                caps = [d["captions"][i] for i in pick for _ in range(mm_samples)]
                frames = [d["frames"][i] for i in pick for _ in range(mm_samples)]
                descs = [d["descriptions"][i] for i in pick for _ in range(mm_samples)]
                mm_feats = row.generate(caps, frames, seed * 100_003 + r + 7_919, descs)
                mm = embed.motions(mm_feats).reshape(len(pick), mm_samples, -1)
        gen_emb = embed.motions(gen)
        times = min(300, len(gen) - 1)
        mm_times = min(10, mm_samples - 1) if mm is not None else 10
        runs.append(evaluate_generation(real_emb, gen_emb, text_emb, multimodal_motion=mm, seed=seed + r,
                                        diversity_times=times, multimodality_times=mm_times))
        if r == 0:
            plaus = _plausibility(gen)
    result = {"metrics": summarize(runs), "runs": runs, "plausibility": plaus}
    if part and row.part_following and row.generate is not None:
        result["part_following"] = part_following(row.generate, seed=seed, repeats=part_repeats, progress=progress)
    return result


def format_extra_table(results: Mapping[str, dict], digits: int = 3) -> str:
    """Markdown table of part following and plausibility per row."""
    lines = ["| Method | Part following ↑ | Named part acts | " + " | ".join(
        k for k in _plausibility_keys(results)) + " |"]
    lines.append("|" + "---|" * (3 + len(_plausibility_keys(results))))
    for name, res in results.items():
        pf = res.get("part_following") or {}
        rate = "-" if "rate" not in pf else f"{pf['rate']:.{digits}f}" + (
            f" ± {pf['rate_ci']:.{digits}f}" if "rate_ci" in pf else "")
        cells = [rate,
                 f"{pf['named_rate']:.{digits}f}" if "named_rate" in pf else "-"]
        cells += [f"{res['plausibility'].get(k, float('nan')):.{digits}f}" for k in _plausibility_keys(results)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plausibility_keys(results: Mapping[str, dict]) -> list[str]:
    for res in results.values():
        if res.get("plausibility"):
            return sorted(res["plausibility"])
    return []


def parse_row(spec: str) -> tuple[str, str, int]:
    """Parse 'NAME=PIPELINE_DIR[:LEVELS]' into (name, folder, levels)."""
    if "=" not in spec:
        raise KinmoInputError(f"--row needs NAME=PIPELINE_DIR[:LEVELS], got {spec!r}")
    name, rest = spec.split("=", 1)
    folder, levels = rest, 3
    if ":" in rest and rest.rsplit(":", 1)[1].isdigit():
        folder, lv = rest.rsplit(":", 1)
        levels = int(lv)
    if levels not in (1, 2, 3):
        raise KinmoInputError(f"levels must be 1, 2 or 3 in {spec!r}")
    return name.strip(), folder, levels


SETTINGS: tuple[str, ...] = ("data", "annotations", "evaluator", "repeats", "seed", "limit", "mm_texts",
                              "mm_samples", "batch", "descriptions", "part", "part_repeats")
"""What must agree for rows from several result files to share one table (--merge)."""


def merge_results(paths: Sequence[str | Path], first: int | None = None) -> dict:
    """Join the rows of result files written with the same settings; KinmoInputError when they differ.

    first=N keeps each row's first N repeats (repeat r has the same seed in every run), so rows evaluated with
    different repeat counts share a table of N repeats.
    """
    from kinmo_core.eval.generation_metrics import summarize

    merged: dict | None = None
    paths = list(paths)
    for path in paths:
        try:
            meta = json.loads(Path(path).read_text(encoding="utf-8"))
            rows = meta["results"]
            meta.setdefault("part_repeats", 1)  # files written before --part-repeats took one sample per prompt
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KinmoInputError(f"{path}: not a generation evaluation result ({exc})") from None
        if first is not None:
            if first < 1 or int(meta.get("repeats") or 0) < first:
                raise KinmoInputError(f"{path}: has {meta.get('repeats')} repeats, cannot keep the first {first}")
            rows = {name: {**res, "runs": res["runs"][:first], "metrics": summarize(res["runs"][:first])}
                    for name, res in rows.items()}
            meta = {**meta, "repeats": first}
        if merged is None:
            merged = {**meta, "command": [meta.get("command")], "results": dict(rows)}
            continue
        for key in SETTINGS:
            if meta.get(key) != merged.get(key):
                raise KinmoInputError(f"{path}: {key} is {meta.get(key)!r}, not {merged.get(key)!r} as in {paths[0]}")
        clash = sorted(set(rows) & set(merged["results"]))
        if clash:
            raise KinmoInputError(f"{path}: row {clash[0]!r} is already in an earlier file")
        merged["command"].append(meta.get("command"))
        merged["results"].update(rows)
    if merged is None:
        raise KinmoInputError("--merge needs at least one results file")
    return merged


def _share_reasoners(pipes: Sequence) -> None:
    """Give pipelines with the same reasoner weights one memoising reasoner, so each caption is expanded once."""
    import hashlib

    from kinmo_core.reasoner import MemoReasoner

    shared: dict[str, MemoReasoner] = {}
    for folder, pipe in pipes:
        weights = Path(folder) / "reasoner" / "model.safetensors"
        if pipe.parts.reasoner is None or not weights.is_file():
            continue
        key = hashlib.sha256(weights.read_bytes()).hexdigest()
        pipe.parts.reasoner = shared.setdefault(key, MemoReasoner(pipe.parts.reasoner))


def run(args: argparse.Namespace, command: str) -> int:
    """Evaluate the rows (or merge earlier results) and write JSON (and Markdown) results; command is recorded."""
    import time

    from kinmo_core.eval.generation_metrics import format_generation_table
    from kinmo_core.fileio import write_atomic
    from kinmo_core.pipeline import KinMoPipeline

    for target in (args.out, args.markdown):
        if target and Path(target).exists() and not args.overwrite:
            # Checked before an evaluation of hours, not after it.
            raise KinmoInputError(f"{target}: already exists (pass --overwrite to replace it)")
    if args.merge:
        meta = merge_results(args.merge, args.first)
        results = meta["results"]
    else:
        part_only = args.repeats == 0
        if part_only and args.no_part:
            raise KinmoInputError("--repeats 0 measures part following only; it cannot go with --no-part")
        if args.repeats < 0 or args.part_repeats < 1:
            raise KinmoInputError("--repeats must be at least 0 and --part-repeats at least 1")
        if not args.out or (not part_only and not (args.data and args.evaluator)):
            raise KinmoInputError("--data, --evaluator and --out are needed (or --merge RESULTS.json ...)")
        ann = args.annotations
        if ann is None and args.data and (Path(args.data) / "annotations.json").is_file():
            ann = str(Path(args.data) / "annotations.json")
        test = None if part_only else EvalSet(args.data, ann, limit=args.limit, seed=args.seed)
        embed = None if part_only else Embedder(args.evaluator)
        rows = [] if args.no_real or part_only else [Row("Real motion", None)]
        pipes = []
        for spec in args.row:
            name, folder, levels = parse_row(spec)
            pipe = KinMoPipeline.from_pretrained(folder)
            pipes.append((folder, pipe))
            rows.append(Row(name, pipeline_generator(pipe, levels, args.descriptions, args.batch)))
        if not rows:
            raise KinmoInputError("nothing to evaluate: give --row NAME=PIPELINE_DIR[:LEVELS]")
        _share_reasoners(pipes)
        results = {}
        for row in rows:
            t0 = time.time()
            results[row.name] = evaluate_row(row, test, embed, args.repeats, args.seed, args.mm_texts,
                                             args.mm_samples, part=not args.no_part, part_repeats=args.part_repeats)
            results[row.name]["seconds"] = round(time.time() - t0, 1)
        meta = {"command": command,
                "data": args.data, "annotations": ann, "evaluator": args.evaluator, "repeats": args.repeats,
                "seed": args.seed, "limit": args.limit, "mm_texts": args.mm_texts, "mm_samples": args.mm_samples,
                "batch": args.batch, "descriptions": args.descriptions, "part": not args.no_part,
                "part_repeats": args.part_repeats, "items": len(test.ds.items) if test else 0, "results": results}
    metrics = {k: v["metrics"] for k, v in results.items() if v["metrics"]}
    table = format_generation_table(metrics) if metrics else "(part following only: no Table 2 metrics)"
    extra = format_extra_table(results)
    if args.out:
        write_atomic(Path(args.out), lambda f: f.write(json.dumps(meta, indent=2).encode()), overwrite=args.overwrite)
    if args.markdown:
        write_atomic(Path(args.markdown), lambda f: f.write((table + "\n\n" + extra + "\n").encode()),
                     overwrite=args.overwrite)
    print(table)
    print()
    print(extra)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (python -m kinmo_core.eval.generation_eval)."""
    import shlex
    import sys

    from kinmo_core.eval.generation_options import add_arguments

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    try:
        return run(args, shlex.join(["python", "-m", "kinmo_core.eval.generation_eval", *argv]))
    except KinmoInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
