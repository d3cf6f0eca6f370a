"""Retrieval with HTMA: indexes built once and reused, version checks, level padding, CLI errors, evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kinmo_core.alignment import HTMAAligner, check_descriptions, check_query
from kinmo_core.cli.main import main
from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.models.htma import HTMA, HTMAConfig
from kinmo_core.models.io import save_pretrained
from kinmo_core.motion.kinematic import GROUPS, PAIRS

ACTIONS = ["walks forward", "waves the left hand", "jumps in place", "kicks with the right leg", "sits down",
           "raises both arms", "turns around", "crouches low"]


def descriptions_for(action: str) -> dict:
    """Descriptions that differ between motions (enough for shape and plumbing checks)."""
    return {"groups": {g: f"the {g.replace('_', ' ')} moves while the person {action}" for g in GROUPS},
            "interactions": {p: f"{p.replace('|', ' and ').replace('_', ' ')} stay apart as the person {action}"
                             for p in PAIRS}}


def make_dataset(root: Path, n: int = 40, seed: int = 0, annotations: bool = True) -> Path:
    """A small HumanML3D-layout folder with random features, captions, splits, statistics and annotations."""
    rng = np.random.default_rng(seed)
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    ids = [f"{i:06d}" for i in range(n)]
    motions = {}
    for i, mid in enumerate(ids):
        feats = rng.standard_normal((int(rng.integers(40, 64)), 263)).astype(np.float32)
        np.save(root / "new_joint_vecs" / f"{mid}.npy", feats)
        action = ACTIONS[i % len(ACTIONS)]
        caps = [f"a person {action} {i}", f"someone {action} number {i}"]
        (root / "texts" / f"{mid}.txt").write_text("".join(f"{c}#a/DET#0.0#0.0\n" for c in caps))
        motions[mid] = {"captions": caps, **descriptions_for(action)}
    for split, part in (("train", ids[: n // 2]), ("val", ids[n // 2: 3 * n // 4]), ("test", ids[3 * n // 4:]),
                        ("all", ids)):
        (root / f"{split}.txt").write_text("\n".join(part) + "\n")
    np.save(root / "Mean.npy", np.zeros(263, np.float32))
    np.save(root / "Std.npy", np.ones(263, np.float32))
    if annotations:
        (root / "annotations.json").write_text(json.dumps(
            {"format_version": 1, "kind": "kinmo-annotations", "dataset": str(root), "complete": True,
             "annotator": {"name": "test", "version": "0"}, "motions": motions, "failures": {}}))
    return root


def tiny_model(folder: Path, seed: int = 0, levels: int = 3) -> Path:
    """Save a tiny random HTMA with statistics, as training/train_htma.py lays it out."""
    torch.manual_seed(seed)
    cfg = HTMAConfig(latent_dim=16, ff_dim=32, n_layers=1, n_heads=2, dropout=0.0, levels=levels)
    save_pretrained(HTMA(cfg).half(), cfg, folder)
    np.save(folder / "Mean.npy", np.zeros(263, np.float32))
    np.save(folder / "Std.npy", np.ones(263, np.float32))
    return folder


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("retrieval")
    mp = pytest.MonkeyPatch()
    mp.setenv("KINMO_CACHE", str(base / "cache"))
    yield {"data": make_dataset(base / "data"), "model": tiny_model(base / "model"),
           "other": tiny_model(base / "other", seed=1), "base": base}
    mp.undo()


@pytest.fixture(scope="module")
def aligner(env) -> HTMAAligner:
    return HTMAAligner.from_pretrained(env["model"])


def test_index_is_built_once_and_reused(env, aligner) -> None:
    from kinmo_core.retrieval import search as retrieval

    index, built = retrieval.motion_index(aligner, env["data"])
    assert built and len(index) == 40 and index.dim == 3 * 16
    assert (env["data"] / ".kinmo_index" / f"motions-{aligner.version[:16]}.safetensors").is_file()
    again, built2 = retrieval.motion_index(aligner, env["data"])
    assert not built2 and np.array_equal(again.embeddings, index.embeddings)
    # The index equals what the aligner computes directly.
    feats = [np.load(env["data"] / "new_joint_vecs" / f"{i}.npy") for i in index.ids]
    direct = aligner.embed(aligner.encode_motions(feats))
    assert np.allclose(direct, index.embeddings, atol=1e-5)


def test_index_of_another_model_version_is_refused(env, aligner, tmp_path) -> None:
    from kinmo_core.retrieval import search as retrieval

    path = tmp_path / "idx"
    retrieval.motion_index(aligner, env["data"], index_path=path)
    other = HTMAAligner.from_pretrained(env["other"])
    assert other.version != aligner.version
    with pytest.raises(KinmoModelError, match="model version"):
        retrieval.motion_index(other, env["data"], index_path=path)
    code = main(["retrieve", "--text", "a person waves", "--motions", str(env["data"]), "--model", str(env["other"]),
                 "--index", str(path), "--levels", "1"])
    assert code == 2


def test_stale_index_is_rebuilt_or_refused(env, aligner, tmp_path) -> None:
    import shutil

    from kinmo_core.retrieval import search as retrieval

    data = tmp_path / "data"
    shutil.copytree(env["data"], data, ignore=shutil.ignore_patterns(".kinmo_index"))
    first, _ = retrieval.motion_index(aligner, data)
    (data / "new_joint_vecs" / "000000.npy").unlink()
    (data / "all.txt").write_text("\n".join(f"{i:06d}" for i in range(1, 40)) + "\n")
    second, built = retrieval.motion_index(aligner, data)
    assert built and len(second) == len(first) - 1
    explicit = tmp_path / "explicit"
    retrieval.motion_index(aligner, env["data"], index_path=explicit)
    with pytest.raises(KinmoInputError, match="--rebuild"):
        retrieval.motion_index(aligner, data, index_path=explicit)
    third, built = retrieval.motion_index(aligner, data, index_path=explicit, rebuild=True)
    assert built and len(third) == 39


def test_fewer_levels_rank_like_their_own_cosine(env, aligner) -> None:
    from kinmo_core.retrieval import search as retrieval

    index, _ = retrieval.motion_index(aligner, env["data"])
    text = "a person waves the left hand"
    hits, desc = retrieval.search_text(aligner, index, text, k=40, levels=1)
    assert desc is None and len(hits) == 40
    mu_t = aligner.encode_texts([text], levels=1)
    feats = [np.load(env["data"] / "new_joint_vecs" / f"{i}.npy") for i in index.ids]
    mu_m = aligner.encode_motions(feats)
    cos = aligner.embed(mu_m, 1) @ aligner.embed(mu_t, 1)[0]
    expected = np.argsort(-cos, kind="stable")
    assert [h.index for h in hits][:5] == list(expected[:5])
    assert np.allclose([h.score for h in hits], cos[[h.index for h in hits]], atol=1e-4)
    # Three levels with given descriptions use every level; the descriptions come back as used.
    given = descriptions_for("waves the left hand")
    hits3, used = retrieval.search_text(aligner, index, text, k=3, descriptions=given)
    assert used == check_descriptions(given) and len(hits3) == 3
    assert hits3[0].score >= hits3[1].score >= hits3[2].score


def test_motion_to_text_search(env, aligner) -> None:
    from kinmo_core.retrieval import search as retrieval

    index, built = retrieval.text_index(aligner, env["data"], "annotations")
    assert built and len(index) == 80 and index.ids[0] == "000000#0"
    feats = np.load(env["data"] / "new_joint_vecs" / "000003.npy")
    hits = retrieval.search_motion(aligner, index, feats, k=4)
    assert len(hits) == 4 and all(h.text for h in hits)


def test_bad_queries_and_inputs_give_one_line_errors(env, capsys, tmp_path) -> None:
    data, model = str(env["data"]), str(env["model"])
    for args in (["retrieve", "--text", "   ", "--motions", data, "--model", model],
                 ["retrieve", "--text", "walk " * 400, "--motions", data, "--model", model],
                 ["retrieve", "--text", "a person walks", "--model", model],
                 ["retrieve", "--text", "a person walks", "--motions", str(tmp_path / "missing"), "--model", model],
                 ["retrieve", "--text", "a person walks", "--motions", data, "--model", str(tmp_path)],
                 ["retrieve", "--text", "a person walks", "--motions", data, "--model", model, "--k", "0"]):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    with pytest.raises(KinmoInputError):
        check_query("")
    with pytest.raises(KinmoInputError):
        check_descriptions({"groups": {}, "interactions": {}})


def test_text_dataset_without_annotations(env, tmp_path, capsys) -> None:
    bare = make_dataset(tmp_path / "bare", n=8, annotations=False)
    motion = env["data"] / "new_joint_vecs" / "000001.npy"
    code = main(["retrieve", "--motion", str(motion), "--texts", str(bare), "--model", str(env["model"]),
                 "--text-descriptions", "annotations"])
    err = capsys.readouterr().err
    assert code == 2 and "no annotations" in err
    # With one level no descriptions are needed.
    code = main(["retrieve", "--motion", str(motion), "--texts", str(bare), "--model", str(env["model"]),
                 "--levels", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["results"]) == 5


def test_cli_text_query_with_descriptions_file(env, tmp_path, capsys) -> None:
    desc = tmp_path / "desc.json"
    desc.write_text(json.dumps(descriptions_for("jumps in place")))
    code = main(["retrieve", "--text", "a person jumps in place", "--motions", str(env["data"]), "--model",
                 str(env["model"]), "--descriptions", str(desc), "--k", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["rank"] for r in out["results"]] == [1, 2, 3]
    assert out["query"]["descriptions"]["groups"]["torso"].startswith("the torso")


def test_eval_retrieval_cli(env, tmp_path, capsys) -> None:
    out_json = tmp_path / "res.json"
    code = main(["eval", "retrieval", "--data", str(env["data"]), "--split", "all", "--model",
                 f"full={env['model']}", "--model", f"other={env['other']}", "--markdown", "--json", str(out_json)])
    text = capsys.readouterr().out
    assert code == 0 and "| (a) All | full |" in text and "| other |" in text and "(d) Small batches" in text
    res = json.loads(out_json.read_text())
    m = res["full"]["metrics"]
    assert set(m) == {"all", "threshold", "dissimilar", "small_batches"} and res["full"]["pairs"] == 40
    assert 0.0 <= m["all"]["t2m/R@1"] <= m["all"]["t2m/R@10"] <= 100.0
    assert main(["eval", "retrieval", "--data", str(env["data"]), "--model", str(env["model"]), "--json",
                 str(out_json)]) == 2


def test_folder_of_motion_files(env, aligner, tmp_path) -> None:
    from kinmo_core.motion.file import Motion
    from kinmo_core.retrieval import search as retrieval

    fixtures = Path(__file__).parent / "fixtures"
    (tmp_path / "clips" / "sub").mkdir(parents=True)
    for name, rel in (("000612", "a.npz"), ("012314", "sub/b.npz")):
        feats = np.load(fixtures / f"{name}_new_joint_vecs.npy")
        Motion.from_features(feats, text=f"clip {name}").save(tmp_path / "clips" / rel)
    index, built = retrieval.motion_index(aligner, tmp_path / "clips")
    assert built and index.ids == ["a.npz", "sub/b.npz"] and index.texts == ["clip 000612", "clip 012314"]
    hits, _ = retrieval.search_text(aligner, index, "a person walks", k=5, levels=1)
    assert len(hits) == 2 and {h.id for h in hits} == {"a.npz", "sub/b.npz"}


class _CountingEncoder:
    """A stand-in token encoder that records which texts it was asked to encode."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen += list(texts)
        feats = torch.stack([torch.full((3, 4), float(len(t))) for t in texts])
        return feats, torch.ones(len(texts), 3, dtype=torch.bool)

    def mean_pool(self, texts):
        self.seen += list(texts)
        return torch.nn.functional.normalize(torch.tensor([[float(len(t)), 1.0, 0.0, 0.0] for t in texts]), dim=-1)


def test_text_feature_cache_encodes_each_text_once_across_sets(tmp_path) -> None:
    from kinmo_core.alignment import TextFeatureCache

    def cache() -> tuple[TextFeatureCache, _CountingEncoder]:
        c = TextFeatureCache(None, tmp_path, progress=False)
        c._encoder, c._id = _CountingEncoder(), "fake"
        return c, c._encoder

    first, enc = cache()
    a = first.tokens(["a walk", "a run"])
    assert sorted(enc.seen) == ["a run", "a walk"] and a["a run"].shape == (3, 4)
    # A new process with an overlapping set encodes only the new text and reads the rest from disk.
    second, enc2 = cache()
    b = second.tokens(["a run", "a jump now"])
    assert enc2.seen == ["a jump now"]
    np.testing.assert_array_equal(b["a run"], a["a run"])
    second.pooled(["x", "yy"])
    assert second.known("pooled", ["yy", "zzz"]).keys() == {"yy"}
    # A damaged file is ignored and its texts recomputed.
    for f in (tmp_path / "text_features").glob("tokens-*.npz"):
        f.write_bytes(b"broken")
    third, enc3 = cache()
    third.tokens(["a walk"])
    assert enc3.seen == ["a walk"]
