"""`kinmo generate TEXT -o DIR`: text (and optional per-part descriptions) to motion files.

One motion: DIR/motion.npz (the motion file contract), DIR/motion.bvh, DIR/descriptions.json (the Motion Reasoner's
per-part descriptions: edit them and pass them back with --descriptions) and, with --preview, DIR/preview.gif.
Several motions (--num K, or --prompts FILE with one prompt per line): the same files in DIR/000/, DIR/001/, ...
and DIR/index.json listing each folder's prompt and seed.
With --control FILE.json the motion meets spatial constraints (kinmo_core.control) and DIR/control.json reports the
residual error per constraint and where the file's coordinates were placed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from kinmo_core.cli.printable import printable


def register(subparsers) -> None:
    """Add the `generate` subcommand."""
    p = subparsers.add_parser(
        "generate",
        help="generate motion from text (.npz, .bvh, descriptions.json, optional GIF preview)",
        description="Generate 3D human motion from a text prompt, coarse to fine: global text, then per-body-part "
        "descriptions, then part interactions.",
    )
    p.add_argument("text", nargs="?", default=None, help="the prompt, e.g. 'a person waves with the left hand'")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder (created if needed)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, default=None, help="length in seconds (1 to 10; default: estimated)")
    length.add_argument("--frames", type=int, default=None, help="length in frames at 20 fps (20 to 200)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same motion)")
    p.add_argument("--num", type=int, default=1, help="motions per prompt")
    p.add_argument("--levels", type=int, choices=(1, 2, 3), default=None,
                   help="text levels used: 1 global, 2 + groups, 3 + interactions (default: the model's)")
    p.add_argument("--descriptions", type=Path, default=None,
                   help="descriptions.json to use instead of the Motion Reasoner's (e.g. an edited one)")
    p.add_argument("--prompts", type=Path, default=None, help="text file with one prompt per line (batch)")
    p.add_argument("--model", type=Path, default=None, help="pipeline folder (default: the model in the package)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--preview", action="store_true", help="also write a stick-figure preview.gif")
    p.add_argument("--one-pass", action="store_true",
                   help="decode once under all levels instead of coarse to fine (about 25%% faster; see BENCHMARKS)")
    p.add_argument("--control", type=Path, default=None,
                   help="control file (JSON): paths, joint trajectories, targets, pins, keyframes (see README)")
    p.add_argument("--control-method", default=None, choices=("branch+ik", "branch", "guidance+ik", "ik", "guidance"),
                   help="how constraints are met: branch = the generator's trained control branch, ik = a joint-space "
                        "correction (default branch+ik when the model has the branch, else ik; see BENCHMARKS.md); "
                        "control.json reports the residuals")
    p.add_argument("--loop", action="store_true",
                   help="seamless loop: the last frame runs into the first (in-place actions return to the start, "
                   "locomotion advances by a constant offset per cycle)")
    p.add_argument("--no-cleanup", action="store_true",
                   help="keep the decoder's motion as it is: no foot-contact cleanup (planted feet locked, nothing "
                   "under the floor) and no jitter filter")
    p.add_argument("--batch", type=int, default=32, help="motions generated at once")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def _prompts(args: argparse.Namespace) -> list[str]:
    from kinmo_core.errors import KinmoInputError

    if args.prompts is not None and args.text is not None:
        raise KinmoInputError("give a prompt or --prompts FILE, not both")
    if args.prompts is not None:
        try:
            lines = args.prompts.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise KinmoInputError(f"{args.prompts}: not a UTF-8 text file") from None
        prompts = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        if not prompts:
            raise KinmoInputError(f"{args.prompts}: no prompts (one per line)")
        return prompts
    if args.text is None:
        raise KinmoInputError("give a prompt, e.g. kinmo generate \"a person jumps\" -o out")
    return [args.text]


def _read_descriptions(path: Path) -> dict:
    from kinmo_core.errors import KinmoInputError
    from kinmo_core.motion.file import normalize_descriptions

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KinmoInputError(f"{path}: not a UTF-8 JSON file") from None
    d = normalize_descriptions(text, where=path)
    if d is None or not any(v.strip() for section in d.values() for v in section.values()):
        raise KinmoInputError(f"{path}: no descriptions in the file (every part is empty)")
    return d


def _write_json(path: Path, obj, overwrite: bool) -> None:
    from kinmo_core.fileio import write_atomic

    write_atomic(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()), overwrite=overwrite)


def run(args: argparse.Namespace) -> int:
    """Generate and write the motions."""
    from tqdm import tqdm

    from kinmo_core.cli.printable import warnings_on_one_line
    from kinmo_core.errors import KinmoInputError
    from kinmo_core.fileio import check_output_folder
    from kinmo_core.limits import MAX_NUM
    from kinmo_core.pipeline import KinMoPipeline, clean_text, frames_for

    warnings_on_one_line()
    prompts = [clean_text(t) for t in _prompts(args)]
    n_frames = frames_for(args.seconds, args.frames)
    if not 1 <= args.num <= MAX_NUM:
        raise KinmoInputError(f"--num must be from 1 to {MAX_NUM}, got {args.num}")
    if args.batch < 1:
        raise KinmoInputError(f"--batch must be at least 1, got {args.batch}")
    given = _read_descriptions(args.descriptions) if args.descriptions is not None else None
    if given is not None and len(prompts) > 1:
        raise KinmoInputError("--descriptions applies to one prompt; it cannot be used with --prompts")
    out: Path = args.output
    if out.exists() and not out.is_dir():
        raise KinmoInputError(f"{out}: exists and is not a folder")
    check_output_folder(out)
    jobs = [(p, k) for p in prompts for k in range(args.num)]
    folders = [out] if len(jobs) == 1 else [out / f"{i:03d}" for i in range(len(jobs))]
    constraints = None
    if args.control is not None and args.loop:
        raise KinmoInputError("--loop cannot be combined with --control")
    if args.control is not None:
        from kinmo_core.control import load_control

        constraints = load_control(args.control)
    names = ["motion.npz", "motion.bvh", "descriptions.json"] + (["preview.gif"] if args.preview else [])
    names += ["control.json"] if constraints is not None else []
    if not args.overwrite:
        clash = [str(f / n) for f in folders for n in names if (f / n).exists()]
        # A single motion into a folder of batch output (index.json, 000/...) would mix two runs' files.
        if (out / "index.json").exists():
            clash.append(str(out / "index.json"))
        if len(jobs) == 1 and (out / "000").exists():
            clash.append(str(out / "000"))
        if clash:
            raise KinmoInputError(f"{printable(clash[0])}: already exists; pass --overwrite to replace it")
    pipe = KinMoPipeline.from_pretrained(args.model, device=args.device)
    if args.one_pass:
        pipe.settings = dataclasses.replace(pipe.settings, coarse_to_fine=False)
    levels = args.levels if args.levels is not None else pipe.settings.levels
    unique = list(dict.fromkeys(prompts))
    # Out-of-scope prompts are still generated; the warning says not to expect much.
    for warning in pipe.prompt_warnings(unique):
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    # One set of descriptions per prompt, shared by its --num samples (and written next to each of them).
    if given is not None:
        descs = {prompts[0]: given}
    elif levels > 1 and pipe.has_reasoner:
        descs = dict(zip(unique, pipe.expand(unique, seed=args.seed), strict=True))
    else:
        descs = {}
    index = []
    bar = tqdm(total=len(jobs), desc="generate", unit="motion", disable=len(jobs) == 1)
    for start in range(0, len(jobs), args.batch):
        chunk = jobs[start:start + args.batch]
        texts = [p for p, _ in chunk]
        seed = args.seed + start
        if constraints is None:
            motions = pipe.generate(texts, frames=n_frames, seed=seed, levels=levels,
                                    descriptions=[descs.get(p) for p in texts], loop=args.loop,
                                    cleanup=not args.no_cleanup)
            reports = [None] * len(motions)
        else:
            from kinmo_core.control.generate import generate_controlled

            motions, reports = generate_controlled(pipe, texts, constraints, frames=n_frames, seed=seed,
                                                   levels=levels, descriptions=[descs.get(p) for p in texts],
                                                   method=args.control_method)
        for i, m in enumerate(motions):
            folder = folders[start + i]
            folder.mkdir(parents=True, exist_ok=True)
            m.save(folder / "motion.npz", overwrite=args.overwrite)
            m.to_bvh(folder / "motion.bvh", overwrite=args.overwrite)
            _write_json(folder / "descriptions.json", m.descriptions or {"groups": {}, "interactions": {}},
                        args.overwrite)
            if reports[i] is not None:
                _write_json(folder / "control.json", reports[i], args.overwrite)
            if args.preview:
                from kinmo_core.render import render_motion

                render_motion(m.joints, folder / "preview.gif", title=m.text, overwrite=args.overwrite,
                              progress=False)
            index.append({"folder": folder.name if len(jobs) > 1 else ".", "text": m.text, "seed": seed,
                          "batch_index": i, "frames": m.num_frames})
            bar.update(1)
    bar.close()
    if len(jobs) > 1:
        _write_json(out / "index.json", {"levels": levels, "motions": index}, args.overwrite)
    for item in index:
        print(printable(f"{out / item['folder']}: {item['frames']} frames, {item['text']!r}"))
    return 0
