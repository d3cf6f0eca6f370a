"""Where the side is lost (issue 21): conditions of a prompt and of its mirror, level by level, and whether the
generator responds to the difference.

For the left/right part-following prompts (`kinmo_core.eval.part_prompts`; the 18 up/down looks have no mirror
text), the prompt's mirror is its text with left and right swapped and its descriptions mirrored
(`reasoner.mirror_descriptions`: sided fields swapped, left/right swapped in every text); the Reasoner's own
descriptions of the mirrored text are compared too. Conditions come from the pipeline's conditioner (levels: caption,
groups, interactions):

- cosine between a prompt's and its mirror's condition at each level, against two yardsticks: the mean cosine to the
  other prompts of the same check (same part, action and side, other wording) and to the prompts of the mirrored
  check (the prompt's own word-for-word mirror left out); their difference (the side margin) and the share of
  prompts whose condition lies closer, on average, to its own check's prompts than to the mirrored check's.
- generation from the same seed and length under the true conditions, the mirrored ones, and with only level 1 or
  only levels 2-3 mirrored; each motion is measured with the prompt's check and its mirror check
  (`part_following.check_part`).

Run: `python benchmarks/bench_side.py --threads 1 [--model PATH] [--limit N] [--json runs/side.json]`.
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

from kinmo_core.data.captions import mirror_text  # noqa: E402
from kinmo_core.eval.part_following import check_part, mirror_check  # noqa: E402
from kinmo_core.eval.part_prompts import PART_PROMPTS  # noqa: E402
from kinmo_core.reasoner import mirror_descriptions  # noqa: E402

LEVELS = ("caption", "groups", "interactions")


class _FixedConditions:
    """Hands the pipeline prepared conditions (one batch) in place of its conditioner."""

    def __init__(self, cond: torch.Tensor, present: torch.Tensor) -> None:
        self.cond, self.present = cond, present

    def __call__(self, captions, descriptions=None):
        return self.cond, self.present


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a, b, dim=-1)


def condition_figures(cond: torch.Tensor, cond_m: torch.Tensor, cond_mr: torch.Tensor, checks: list[tuple],
                      texts: list[str]) -> dict:
    """Per level: cosine to the exact mirror and the Reasoner's mirror, the two yardsticks, centroid accuracy."""
    unit = torch.nn.functional.normalize(cond, dim=-1)  # (N, 3, D)
    sims = torch.einsum("ild,jld->lij", unit, unit)  # (3, N, N)
    n = len(checks)
    same = torch.tensor([[checks[i] == checks[j] and i != j for j in range(n)] for i in range(n)])
    # a prompt's word-for-word mirror among the other side's prompts is left out: it would measure wording, not side
    mirrored = torch.tensor([[checks[j] == mirror_check(*checks[i]) and texts[j] != mirror_text(texts[i])
                              for j in range(n)] for i in range(n)])
    out = {}
    for lv, name in enumerate(LEVELS):
        s = sims[lv]
        own = (s * same).sum(1) / same.sum(1).clamp(min=1)
        other = (s * mirrored).sum(1) / mirrored.sum(1).clamp(min=1)
        out[name] = {
            "cos_exact_mirror": float(_cos(cond[:, lv], cond_m[:, lv]).mean()),
            "cos_reasoner_mirror": float(_cos(cond[:, lv], cond_mr[:, lv]).mean()),
            "cos_same_check_other_wording": float(own.mean()),
            "cos_mirrored_check_prompts": float(other.mean()),
            "side_margin": float((own - other).mean()),
            "side_from_condition": float((own > other).float().mean()),
        }
    return out


def generate_checks(pipe, texts: list[str], cond: torch.Tensor, present: torch.Tensor, frames: int, seed: int,
                    batch: int, checks: list[tuple]) -> dict:
    """Generate every prompt under the given conditions; return the shares of named / mirrored / followed checks."""
    from kinmo_core.motion.features import features_to_joints

    real = pipe.parts.conditioner
    named, other, followed = [], [], []
    try:
        for a in range(0, len(texts), batch):
            sl = slice(a, a + batch)
            pipe.parts.conditioner = _FixedConditions(cond[sl], present[sl])
            # descriptions are given (conditions fixed), so the pipeline does not call the Reasoner
            feats, _ = pipe.generate_features(texts[sl], frames, seed=seed, descriptions=[{}] * len(texts[sl]))
            for f, chk in zip(feats, checks[sl], strict=True):
                r = check_part(np.asarray(features_to_joints(f)), *chk)
                named.append(r.named)
                other.append(r.other)
                followed.append(r.followed)
    finally:
        pipe.parts.conditioner = real
    per_check: dict[str, list[int]] = {}
    for chk, a, b in zip(checks, named, other, strict=True):
        row = per_check.setdefault("/".join(chk), [0, 0, 0])
        row[0] += 1
        row[1] += a
        row[2] += b
    return {"named_side_acts": float(np.mean(named)), "other_side_acts": float(np.mean(other)),
            "followed": float(np.mean(followed)), "per_check": {k: {"prompts": v[0], "named": v[1], "other": v[2]}
                                                                for k, v in sorted(per_check.items())}}


def main(argv: list[str] | None = None) -> int:
    """Run the diagnostic and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="pipeline folder (default: the shipped model)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0, help="motion length (part following's default, 5 s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--limit", type=int, default=None, help="first N left/right prompts only")
    parser.add_argument("--no-generate", action="store_true", help="conditions only")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from kinmo_core.pipeline import KinMoPipeline

    t0 = time.perf_counter()
    pipe = KinMoPipeline.from_pretrained(args.model)
    prompts = [p for p in PART_PROMPTS if p.side in ("left", "right")][: args.limit]
    texts = [p.text for p in prompts]
    mtexts = [mirror_text(t) for t in texts]
    checks = [(p.group, p.action, p.side) for p in prompts]
    desc = pipe.expand(texts, seed=args.seed)
    desc_m = [mirror_descriptions(d) for d in desc]
    desc_mr = pipe.expand(mtexts, seed=args.seed)
    conditioner = pipe.parts.conditioner
    with torch.no_grad():
        cond, present = conditioner(texts, desc)
        cond_m, present_m = conditioner(mtexts, desc_m)
        cond_mr, _ = conditioner(mtexts, desc_mr)
        # the same texts as plain MiniLM sentence embeddings (what the HTMA reads): is the side lost before it?
        from kinmo_core.conditioning import SentenceConditioner

        sentence = SentenceConditioner()
        cond_s, _ = sentence(texts, desc)
        cond_sm, _ = sentence(mtexts, desc_m)
    report: dict = {"model": args.model or "shipped", "conditioner": getattr(conditioner, "kind", "?"),
                    "prompts": len(prompts), "conditions": condition_figures(cond, cond_m, cond_mr, checks, texts),
                    "minilm_sentence": condition_figures(cond_s, cond_sm, cond_sm, checks, texts)}
    print(f"{len(prompts)} left/right part-following prompts, conditioner {report['conditioner']} "
          f"(dim {cond.shape[-1]})")
    print("| level | cos(prompt, exact mirror) | cos(prompt, Reasoner's mirror) | cos to same check, other wording "
          "| cos to the mirrored check's prompts | side margin | side readable from the condition |")
    print("|---|---|---|---|---|---|---|")
    for name, r in report["conditions"].items():
        print(f"| {name} | {r['cos_exact_mirror']:.3f} | {r['cos_reasoner_mirror']:.3f} | "
              f"{r['cos_same_check_other_wording']:.3f} | {r['cos_mirrored_check_prompts']:.3f} | "
              f"{r['side_margin']:+.3f} | {r['side_from_condition']:.0%} |")
    for name, r in report["minilm_sentence"].items():
        print(f"| {name}, MiniLM sentence embedding (HTMA's input) | {r['cos_exact_mirror']:.3f} | - | "
              f"{r['cos_same_check_other_wording']:.3f} | {r['cos_mirrored_check_prompts']:.3f} | "
              f"{r['side_margin']:+.3f} | {r['side_from_condition']:.0%} |")
    if not args.no_generate:
        frames = int(round(args.seconds * 20))
        mixed_1 = torch.cat([cond_m[:, :1], cond[:, 1:]], dim=1)
        mixed_23 = torch.cat([cond[:, :1], cond_m[:, 1:]], dim=1)
        variants = {"true conditions": (cond, present), "all levels mirrored": (cond_m, present_m),
                    "caption level mirrored only": (mixed_1, present & present_m),
                    "group + interaction levels mirrored only": (mixed_23, present & present_m)}
        report["generation"] = {}
        print(f"\ngeneration, {frames} frames, seed {args.seed}; each motion measured with the prompt's check "
              "(named side) and its mirror check (other side)")
        print("| conditions | named side acts | other side acts | followed (named, not other) |")
        print("|---|---|---|---|")
        for name, (c, pr) in variants.items():
            r = generate_checks(pipe, texts, c, pr, frames, args.seed, args.batch, checks)
            report["generation"][name] = r
            print(f"| {name} | {r['named_side_acts']:.1%} | {r['other_side_acts']:.1%} | {r['followed']:.1%} |",
                  flush=True)
    report["seconds"] = time.perf_counter() - t0
    print(f"\n({report['seconds']:.0f} s, torch {torch.__version__}, {torch.get_num_threads()} thread(s))")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
