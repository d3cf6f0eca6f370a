"""Every trainer runs under `torchrun --nproc_per_node 2` (DDP over gloo on the CPU) at tiny size, and its loss falls.

Data: a HumanML3D-layout folder built from the two real HumanML3D fixture motions, with annotations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from humanml3d_fake import CAPTIONS, make_humanml3d
from test_retrieval import descriptions_for

ROOT = Path(__file__).resolve().parents[1]


def write_annotations(root: Path) -> Path:
    """A KinMo annotations.json for every motion of the folder (test descriptions, one set per source motion)."""
    motions = {}
    for f in sorted((root / "new_joint_vecs").glob("*.npy")):
        caps = [line.split("#")[0] for line in (root / "texts" / f"{f.stem}.txt").read_text().splitlines()]
        action = "walks forward" if "walk" in caps[0] else "jumps in place"
        motions[f.stem] = {"captions": caps, **descriptions_for(action)}
    path = root / "annotations.json"
    path.write_text(json.dumps({"format_version": 1, "kind": "kinmo-annotations", "dataset": str(root),
                                "complete": True, "annotator": {"name": "test", "version": "0"},
                                "motions": motions, "failures": {}}))
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from kinmo_core.pipeline import random_pipeline

    base = tmp_path_factory.mktemp("ddp")
    data = make_humanml3d(base / "data")
    write_annotations(data)
    random_pipeline("tiny", seed=1).save_pretrained(base / "pipe")
    assert CAPTIONS
    return {"base": base, "data": data, "rvq": base / "pipe" / "rvq"}


def torchrun(target: str, args: list[str], base: Path, nproc: int = 2, timeout: float = 240,
             script: bool = False) -> None:
    """Run `python -m torch.distributed.run --nproc_per_node nproc [-m] target args` and check it succeeded."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "KINMO_CACHE": str(base / "kcache"), "TQDM_DISABLE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           *([] if script else ["-m"]), target, *args]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def losses(out: Path) -> list[float]:
    """The logged training losses, in step order."""
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


COMMON = ["--threads", "1", "--log-every", "1", "--seed", "0"]
TRAINERS = {
    "rvq": ("training.train_rvq", ["--size", "tiny", "--steps", "16", "--batch", "4", "--lr", "3e-3",
                                   "--window", "40", "--eval-every", "0", "--checkpoint-every", "8"]),
    "mask": ("training.train_generator", ["--size", "tiny", "--steps", "16", "--batch", "8", "--lr", "3e-3",
                                          "--cond", "sentence", "--levels", "3", "--eval-every", "0", "--rvq", "RVQ"]),
    "residual": ("training.train_residual", ["--size", "tiny", "--steps", "16", "--batch", "8", "--lr", "3e-3",
                                             "--cond", "sentence", "--levels", "3", "--eval-every", "0",
                                             "--rvq", "RVQ"]),
    "htma": ("training.train_htma", ["--size", "tiny", "--steps", "16", "--batch", "4", "--lr", "1e-3", "--crop", "40",
                                     "--eval-every", "0"]),
    "reasoner": ("training.train_reasoner", ["--size", "tiny", "--steps", "16", "--batch", "8", "--lr", "3e-3"]),
    "length": ("training.train_length", ["--size", "tiny", "--steps", "16", "--batch", "16", "--lr", "1e-2"]),
    "evaluator": ("training.train_evaluator", ["--size", "tiny", "--steps", "16", "--batch", "4", "--lr", "1e-3",
                                               "--eval-every", "0", "--loss", "infonce"]),
}


@pytest.fixture(scope="module")
def trained(env) -> dict[str, Path]:
    """Every trainer, one after another, in one `torchrun --nproc_per_node 2` launch; returns their --out folders."""
    jobs, outs = [], {}
    for name, (module, extra) in TRAINERS.items():
        out = env["base"] / name
        extra = [str(env["rvq"]) if a == "RVQ" else a for a in extra]
        args = ["--data", str(env["data"]), "--out", str(out), *COMMON, *extra]
        if name in ("mask", "residual", "length", "evaluator"):
            args += ["--cache", str(env["base"] / "cache")]
        if name == "reasoner":
            args += ["--cache-dir", str(env["base"] / "rcache")]
        jobs.append([module, args])
        outs[name] = out
    (env["base"] / "jobs.json").write_text(json.dumps(jobs))
    torchrun(str(ROOT / "tests" / "ddp_driver.py"), [str(env["base"] / "jobs.json")], env["base"], script=True)
    return outs


@pytest.mark.parametrize("name", list(TRAINERS))
def test_two_process_gloo_run_finishes_and_its_loss_falls(trained, name) -> None:
    out = trained[name]
    meta = json.loads((out / "config.json").read_text())["meta"]
    assert meta["world_size"] == 2 and meta["device"] == "cpu"
    loss = losses(out)
    assert len(loss) >= 16
    first, last = sum(loss[:3]) / 3, sum(loss[-3:]) / 3
    assert last < first, f"{name}: loss did not fall ({first:.4f} -> {last:.4f}): {loss}"


def test_a_ddp_checkpoint_holds_every_rank_and_resumes_under_torchrun(env, trained) -> None:
    import shutil

    import torch
    from safetensors.torch import load_file

    from training.checkpoint import load_checkpoint

    ck = trained["rvq"] / "checkpoints" / "step-00000008"
    _, _, meta = load_checkpoint(ck)
    assert meta["world_size"] == 2 and len(meta["ranks"]) == 2
    samplers = [r["objects"]["batches"]["sampler"] for r in meta["ranks"]]
    assert samplers[0] == samplers[1]  # same epoch and position, over different shards
    out = env["base"] / "rvq_resumed"
    shutil.copytree(ck, out / "checkpoints" / ck.name)
    module, extra = TRAINERS["rvq"]
    # Started alone by torchrun, the trainer joins the process group itself.
    torchrun(module, ["--data", str(env["data"]), "--out", str(out), *COMMON, *extra, "--resume", str(out)],
             env["base"])
    a = load_file(str(trained["rvq"] / "model.safetensors"))
    b = load_file(str(out / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_trained_parts_assemble_into_a_pipeline_that_generates(env, trained) -> None:
    """The README's last step: the DDP-trained parts become a pipeline folder with a model card, and it generates."""
    from kinmo_core.pipeline import KinMoPipeline
    from training.build_default import assemble

    out = assemble(env["base"] / "pipeline", env["rvq"], trained["mask"], trained["residual"], trained["length"],
                   "sentence", reasoner=trained["reasoner"], data=[str(env["data"])])
    card = (out / "README.md").read_text()
    assert "torchrun --nproc_per_node 2 -m ddp_driver" in card  # the launch that trained the parts
    assert "| mask_transformer | val_acc |" in card and "license: mit" in card
    pipe = KinMoPipeline.from_pretrained(out)
    motion = pipe("a person walks forward and then turns around.", seconds=2, seed=0)
    assert motion.joints.shape[1:] == (22, 3) and len(motion.joints) >= 20
