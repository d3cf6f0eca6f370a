"""Train every component of the default model in order and assemble `kinmo_core/assets/default/`.

    python -m training.build_default --data data/synth20k data/bandai:8 --runs runs/default [--htma H] [--reasoner R]

Steps (each a separate `python -m training.<trainer>` process, skipped when its output already exists, so an
interrupted build resumes): rvq, evaluator (-> kinmo_core/assets/evaluator), length_estimator, mask_transformer,
residual_transformer, control_transformer (the masked transformer fine-tuned with the spatial-control branch);
then the pipeline folder is assembled with a `pipeline.json` recording every command, the data version and the
commit. Conditioning is HTMA when --htma names a trained HTMA folder, else raw sentence embeddings.
The Motion Reasoner (--reasoner, trained by its own trainer) is copied in when given.

    python -m training.build_default --assemble-only --rvq R --mask M --residual S [--length L] [--control C] \\
        --cond sentence --out runs/pipe_sentence_l3

assembles a pipeline from already trained parts (the ablation rows of BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from training.common import ROOT, data_version, git_commit

ASSETS = ROOT / "kinmo_core" / "assets"


def _run(cmd: list[str], log: list[dict]) -> None:
    print("+ " + " ".join(cmd), flush=True)
    t0 = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True)
    log.append({"command": " ".join(["python"] + cmd[1:]), "seconds": round(time.time() - t0, 1)})


def _meta(folder: Path) -> dict:
    from kinmo_core.models.io import read_config

    return read_config(folder).get("meta", {})


def assemble(out: Path, rvq: Path, mask: Path, residual: Path, length: Path | None, cond: str,
             htma: Path | None = None, reasoner: Path | None = None, levels: int = 3, commands: list | None = None,
             data: list[str] | None = None, overwrite: bool = False, control: Path | None = None) -> Path:
    """Build a pipeline folder from trained component folders; return it."""
    import numpy as np

    from kinmo_core.conditioning import make_conditioner
    from kinmo_core.models.io import load_pretrained
    from kinmo_core.models.length_estimator import LengthEstimator, LengthEstimatorConfig
    from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig
    from kinmo_core.models.residual_transformer import ResidualTransformer, ResidualTransformerConfig
    from kinmo_core.models.rvq import RVQVAE, RVQConfig
    from kinmo_core.pipeline import GenerationSettings, KinMoPipeline, PipelineParts

    for folder in (mask, residual) + ((control,) if control else ()):
        trained = _meta(folder).get("cond")
        if trained is not None and trained != cond:
            raise SystemExit(f"{folder} was trained with --cond {trained}, not {cond}")
    parts = PipelineParts(
        rvq=load_pretrained(RVQVAE, RVQConfig, rvq),
        mean=np.load(rvq / "Mean.npy"),
        std=np.load(rvq / "Std.npy"),
        mask_transformer=load_pretrained(MaskTransformer, MaskTransformerConfig, mask),
        residual_transformer=load_pretrained(ResidualTransformer, ResidualTransformerConfig, residual),
        conditioner=make_conditioner(cond, htma),
        length_estimator=load_pretrained(LengthEstimator, LengthEstimatorConfig, length) if length else None,
        control_transformer=load_pretrained(MaskTransformer, MaskTransformerConfig, control) if control else None,
    )
    components = {name: _meta(folder) for name, folder in (("rvq", rvq), ("mask_transformer", mask),
                                                           ("residual_transformer", residual),
                                                           ("length_estimator", length),
                                                           ("control_transformer", control)) if folder}
    if htma:
        components["htma"] = _meta(htma)
    if reasoner:
        components["reasoner"] = _meta(reasoner)
    if not commands:
        # Assembled from parts trained one by one: each part's own recorded command reproduces it.
        commands = [{"component": name, "command": meta["command"], "minutes": meta.get("minutes")}
                    for name, meta in components.items() if meta.get("command")]
    manifest = {
        "built_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "commit": git_commit(),
        "data": data,
        "data_version": data_version(data) if data else None,
        "commands": commands or [],
        "components": components,
    }
    pipe = KinMoPipeline(parts, GenerationSettings(levels=levels))
    pipe.manifest = manifest
    if out.exists() and overwrite:
        for name in ("rvq", "mask_transformer", "residual_transformer", "length_estimator", "htma", "reasoner",
                     "control_transformer"):
            shutil.rmtree(out / name, ignore_errors=True)
    pipe.save_pretrained(out, overwrite=overwrite, reasoner_from=str(reasoner) if reasoner else None)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the build; returns an exit code."""
    from kinmo_core.conditioning import CONDITIONER_KINDS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", default=[str(ROOT / "data" / "synth20k"), str(ROOT / "data" / "bandai") + ":8"],
                   help="dataset folders (FOLDER:N repeats one N times), as for every trainer")
    p.add_argument("--annotations", nargs="*", default=None,
                   help="annotations.json per --data folder (default: each folder's annotations.json)")
    p.add_argument("--runs", default=str(ROOT / "runs" / "default"), help="folder for the trained components")
    p.add_argument("--out", default=str(ASSETS / "default"), help="pipeline folder to assemble")
    p.add_argument("--evaluator-out", default=str(ASSETS / "evaluator"))
    p.add_argument("--htma", default=None, help="trained HTMA folder: condition on HTMA (else sentence embeddings)")
    p.add_argument("--reasoner", default=None, help="trained Motion Reasoner folder to include")
    p.add_argument("--skip-evaluator", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    for name in ("rvq", "eval", "length", "mask", "residual", "control"):
        p.add_argument(f"--{name}-steps", type=int, default=None, help=f"steps of the {name} trainer (its default)")
    p.add_argument("--overwrite", action="store_true", help="replace an assembled pipeline in --out")
    p.add_argument("--assemble-only", action="store_true")
    p.add_argument("--rvq", default=None)
    p.add_argument("--mask", default=None)
    p.add_argument("--residual", default=None)
    p.add_argument("--length", default=None)
    p.add_argument("--control", default=None, help="trained control transformer (train_generator --control)")
    p.add_argument("--cond", choices=CONDITIONER_KINDS, default=None)
    p.add_argument("--levels", type=int, choices=(1, 2, 3), default=3, help="default levels of the pipeline")
    args = p.parse_args(argv)
    cond = args.cond or ("htma" if args.htma else "sentence")
    if args.assemble_only:
        if not (args.rvq and args.mask and args.residual):
            raise SystemExit("--assemble-only needs --rvq, --mask and --residual")
        out = assemble(Path(args.out), Path(args.rvq), Path(args.mask), Path(args.residual),
                       Path(args.length) if args.length else None, cond, Path(args.htma) if args.htma else None,
                       Path(args.reasoner) if args.reasoner else None, args.levels, data=args.data,
                       overwrite=args.overwrite, control=Path(args.control) if args.control else None)
        print(f"assembled {out}")
        return 0
    runs = Path(args.runs)
    py = sys.executable
    common = ["--data", *args.data, "--seed", str(args.seed)] + (["--threads", str(args.threads)] if args.threads
                                                                 else [])
    log: list[dict] = []
    plan = [("rvq", runs / "rvq", ["-m", "training.train_rvq"], args.rvq_steps)]
    if not args.skip_evaluator:
        plan.append(("evaluator", Path(args.evaluator_out), ["-m", "training.train_evaluator", "--small", "--cache",
                                                             str(runs / "cache")], args.eval_steps))
    plan.append(("length_estimator", runs / "length_estimator",
                 ["-m", "training.train_length", "--cache", str(runs / "cache")], args.length_steps))
    gen = ["--rvq", str(runs / "rvq"), "--cond", cond, "--levels", "3", "--cache", str(runs / "cache")]
    gen += (["--htma", args.htma] if args.htma else []) + (["--annotations", *args.annotations] if args.annotations
                                                           else [])
    plan.append(("mask_transformer", runs / f"mask_{cond}_l3", ["-m", "training.train_generator", *gen],
                 args.mask_steps))
    plan.append(("residual_transformer", runs / f"residual_{cond}_l3", ["-m", "training.train_residual", *gen],
                 args.residual_steps))
    plan.append(("control_transformer", runs / f"control_{cond}_l3",
                 ["-m", "training.train_generator", "--control", "--init", str(runs / f"mask_{cond}_l3"), *gen],
                 args.control_steps))
    for name, out, cmd, steps in plan:
        if (out / "config.json").is_file():
            print(f"{name}: {out} exists, kept")
            log.append({"command": f"(kept existing {out})", "provenance": _meta(out).get("command")})
            continue
        _run([py, *cmd, *common, "--out", str(out)] + (["--steps", str(steps)] if steps else []), log)
    folder = assemble(Path(args.out), runs / "rvq", runs / f"mask_{cond}_l3", runs / f"residual_{cond}_l3",
                      runs / "length_estimator", cond, Path(args.htma) if args.htma else None,
                      Path(args.reasoner) if args.reasoner else None, args.levels, log, args.data, args.overwrite,
                      runs / f"control_{cond}_l3")
    print(f"assembled {folder}")
    print(json.dumps(log, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
