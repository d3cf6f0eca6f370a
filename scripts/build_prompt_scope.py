"""Build a pipeline's out-of-distribution prompt check: prompt_scope.safetensors beside the model.

    python scripts/build_prompt_scope.py [--model kinmo_core/assets/default] [--data DIR[:W] ...]
        [--synth N --synth-seed S] [--bandai DIR] [--calibration FILE] [--overwrite]

Training captions come from the corpus folders the model was trained on (HumanML3D layout: the captions of the
motions in train.txt), or, where those folders are gone, are regenerated: `--synth N` the captions of the first N
motions of `kinmo corpus synth --seed S` (deterministic; the captions alone take about a minute) and `--bandai DIR`
the Bandai-Namco label captions of `kinmo corpus import-bvh DIR` (seed 0), each with its mirrored copy, training
split only. By default the default model's manifest (pipeline.json "data") names synth20k and bandai; this script
regenerates those. The captions are embedded with MiniLM, deduplicated, reduced to a cover (kinmo_core/text/scope.py)
and the threshold is calibrated on the labelled prompts of --calibration (kept apart from the benchmark lists).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CALIBRATION = ROOT / "benchmarks" / "fixtures" / "prompts_calibration.txt"


def corpus_captions(folder: Path) -> list[str]:
    """Captions of the training split of a HumanML3D-layout corpus folder."""
    from kinmo_core.data import layout

    out = []
    for mid in layout.read_split(folder, "train"):
        out += [t["caption"] for t in layout.read_texts(folder / "texts" / f"{mid}.txt")]
    return out


def synth_captions(n: int, seed: int) -> list[str]:
    """Captions (with mirrors) of the training split of `kinmo corpus synth -n N --seed S`, without the motions."""
    from tqdm import tqdm

    from kinmo_core.data import layout
    from kinmo_core.data.synth import synth_captions as captions_of

    ids = [f"{i:06d}" for i in range(n)]
    split = layout.assign_splits(ids, seed)
    out = []
    for i in tqdm(range(n), desc="synth captions", unit="motion", file=sys.stderr):
        if split[ids[i]] == "train":
            caps = captions_of(seed, i)
            out += caps + layout.mirrored_captions(caps)
    return out


def bandai_captions(src: Path, seed: int = 0) -> list[str]:
    """Captions (with mirrors) of the training split of `kinmo corpus import-bvh SRC` for the Bandai-Namco set."""
    from kinmo_core.data import layout, mocap
    from kinmo_core.errors import KinmoInputError

    files = sorted(src.rglob("*.bvh"))
    cfg = mocap.find_bandai_cfg(src)
    if cfg is None:
        raise KinmoInputError(f"{src}: no Bandai-Namco cfg/ labels beside it")
    caps, seen = {}, set()
    for k, f in enumerate(files):  # ids and caption seeds as import_bvh_folder makes them
        mid = mocap._clean_id(f.stem)
        if mid in seen:
            mid = f"{mid}_{k}"
        seen.add(mid)
        lab = mocap.bandai_labels(f, cfg)
        caps[mid] = mocap.bandai_captions(lab["content"], lab["style"], np.random.default_rng([seed, k]))
    split = layout.assign_splits(list(caps), seed)
    out = []
    for mid, c in caps.items():
        if split[mid] == "train":
            out += c + layout.mirrored_captions(c)
    return out


def embed(texts: list[str], cache: Path | None = None) -> np.ndarray:
    """MiniLM sentence embeddings of texts; with a cache (.npz of captions + embeddings) only new texts are encoded."""
    from tqdm import tqdm

    from kinmo_core.conditioning import get_minilm

    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            known = dict(zip(z["captions"].tolist(), z["embeddings"], strict=True))
    missing = [t for t in texts if t not in known]
    enc = get_minilm()
    for s in tqdm(range(0, len(missing), 2048), desc="embedding", unit="chunk", file=sys.stderr):
        known.update(zip(missing[s:s + 2048], enc.encode(missing[s:s + 2048]), strict=True))
    out = np.stack([known[t] for t in texts]).astype(np.float32)
    if cache is not None and missing:
        np.savez(cache, captions=np.array(texts), embeddings=out)
    return out


def read_calibration(path: Path) -> tuple[list[str], list[str]]:
    """The labelled calibration prompts: (in-scope, out-of-scope)."""
    ins, outs = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, text = line.split("\t", 1)
        (ins if label == "in" else outs).append(text.strip())
    return ins, outs


def main(argv: list[str] | None = None) -> int:
    """Build and write the scope file; print what it holds."""
    import torch

    from kinmo_core.pipeline import minilm_encode
    from kinmo_core.text.scope import COVER_SIMILARITY, PromptScope, calibrate_threshold, greedy_cover

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "kinmo_core" / "assets" / "default")
    p.add_argument("--data", nargs="*", default=[], help="HumanML3D-layout corpus folders (a :W suffix is ignored)")
    p.add_argument("--synth", type=int, default=None, help="regenerate the captions of a synthetic corpus of N motions")
    p.add_argument("--synth-seed", type=int, default=0)
    p.add_argument("--bandai", type=Path, default=None, help="Bandai-Namco data folder to regenerate captions from")
    p.add_argument("--calibration", type=Path, default=DEFAULT_CALIBRATION)
    p.add_argument("--cover", type=float, default=COVER_SIMILARITY)
    p.add_argument("--cache", type=Path, default=None, help="embeddings cache (.npz), reused and updated")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if not args.data and args.synth is None and args.bandai is None:
        args.synth = 20000  # the default model's manifest: data/synth20k (seed 0) and data/bandai
        args.bandai = ROOT.parent / "shared" / "data" / "bandai-namco-1" / "data"
    t0 = time.perf_counter()
    captions, sources = [], []
    for d in args.data:
        folder = Path(d.rsplit(":", 1)[0] if ":" in d and not Path(d).exists() else d)
        captions += corpus_captions(folder)
        sources.append(str(folder.name))
    if args.synth is not None:
        captions += synth_captions(args.synth, args.synth_seed)
        sources.append(f"kinmo corpus synth -n {args.synth} --seed {args.synth_seed} (train split, mirrored)")
    if args.bandai is not None:
        captions += bandai_captions(args.bandai)
        sources.append("kinmo corpus import-bvh bandai-namco-1 (train split, mirrored)")
    unique = sorted(set(captions))
    print(f"{len(captions)} training captions, {len(unique)} distinct", file=sys.stderr)
    emb = embed(unique, args.cache)
    # A seeded order so the cover does not depend on alphabetical runs of similar captions.
    order = np.random.default_rng(0).permutation(len(unique))
    kept = order[greedy_cover(emb[order], args.cover)]
    scope = PromptScope(emb[kept], threshold=0.0, encode=minilm_encode)
    ins, outs = read_calibration(args.calibration)
    s_in, s_out = scope.scores(ins), scope.scores(outs)
    scope.threshold = calibrate_threshold(s_in, s_out)
    scope.meta = {"captions": str(len(captions)), "distinct": str(len(unique)), "stored": str(len(kept)),
                  "cover_similarity": f"{args.cover}", "sources": "; ".join(sources),
                  "encoder": "all-MiniLM-L6-v2 mean-pooled (kinmo_core.conditioning.get_minilm)",
                  "calibration": f"{args.calibration.name}: {len(ins)} in, {len(outs)} out; "
                                 f"{int((s_in < scope.threshold).sum())} in warned, "
                                 f"{int((s_out >= scope.threshold).sum())} out missed"}  # fmt: skip
    path = scope.save(args.model, overwrite=args.overwrite)
    print(f"{path}: {len(kept)} of {len(unique)} captions (cover {args.cover}), threshold {scope.threshold:.3f}; "
          f"calibration: {scope.meta['calibration']}; {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
