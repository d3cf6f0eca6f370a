"""The retrieval index: top-k search, save/load with version checks, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.retrieval.index import RetrievalIndex


@pytest.fixture()
def index() -> RetrievalIndex:
    rng = np.random.default_rng(0)
    e = rng.normal(size=(500, 24))
    return RetrievalIndex.build(e, [f"m{i:04d}" for i in range(500)], [f"text {i}" for i in range(500)], "v1")


def test_build_normalises_to_float32(index):
    assert index.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(index.embeddings, axis=1), 1.0, atol=1e-6)
    assert len(index) == 500 and index.dim == 24


def test_query_matches_full_sort(index):
    rng = np.random.default_rng(1)
    for _ in range(5):
        q = rng.normal(size=24)
        hits = index.query(q, k=7)
        scores = index.embeddings @ (q / np.linalg.norm(q))
        expected = np.argsort(-scores)[:7]
        assert [h.index for h in hits] == expected.tolist()
        assert [h.id for h in hits] == [f"m{i:04d}" for i in expected]
        np.testing.assert_allclose([h.score for h in hits], scores[expected], rtol=1e-5)
    # A stored vector finds itself first with similarity 1.
    hit = index.query(index.embeddings[123] * 5.0, k=1)[0]
    assert hit.id == "m0123" and hit.text == "text 123" and hit.score == pytest.approx(1.0, abs=1e-5)


def test_batch_search_and_k_larger_than_index(index):
    idx, scores = index.search(index.embeddings[:3], k=1000)
    assert idx.shape == (3, 500)
    assert (np.diff(scores, axis=1) <= 1e-7).all()
    assert idx[:, 0].tolist() == [0, 1, 2]


def test_save_load_round_trip(tmp_path, index):
    path = index.save(tmp_path / "motions")
    assert path.name == "motions.safetensors" and (tmp_path / "motions.json").is_file()
    loaded = RetrievalIndex.load(tmp_path / "motions.safetensors", expected_version="v1")
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
    assert loaded.ids == index.ids and loaded.texts == index.texts and loaded.model_version == "v1"
    assert [h.id for h in loaded.query(index.embeddings[7], 3)] == [h.id for h in index.query(index.embeddings[7], 3)]
    assert not list(tmp_path.glob(".tmp-*"))


def test_load_refuses_other_model_version(tmp_path, index):
    index.save(tmp_path / "idx")
    with pytest.raises(KinmoModelError, match="model version"):
        RetrievalIndex.load(tmp_path / "idx", expected_version="v2")


def test_save_refuses_to_overwrite(tmp_path, index):
    index.save(tmp_path / "idx")
    with pytest.raises(KinmoInputError, match="already exists"):
        index.save(tmp_path / "idx")
    index.save(tmp_path / "idx", overwrite=True)


def test_damaged_or_mismatched_files(tmp_path, index):
    index.save(tmp_path / "a")
    weights = tmp_path / "a.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(KinmoModelError, match="damaged"):
        RetrievalIndex.load(weights)
    index.save(tmp_path / "b")
    (tmp_path / "b.json").write_text("{not json")
    with pytest.raises(KinmoModelError, match="damaged"):
        RetrievalIndex.load(tmp_path / "b")
    # Embeddings of one index with the sidecar of another.
    other = RetrievalIndex.build(np.random.default_rng(9).normal(size=(500, 24)), index.ids, index.texts, "v1")
    other.save(tmp_path / "c")
    index.save(tmp_path / "d")
    (tmp_path / "d.json").write_text((tmp_path / "c.json").read_text())
    with pytest.raises(KinmoModelError, match="checksum"):
        RetrievalIndex.load(tmp_path / "d")
    with pytest.raises(KinmoModelError, match="not found"):
        RetrievalIndex.load(tmp_path / "missing")
    meta = json.loads((tmp_path / "c.json").read_text())
    assert meta["count"] == 500 and meta["dim"] == 24


def test_clear_errors(index):
    with pytest.raises(KinmoInputError, match="zero motions"):
        RetrievalIndex.build(np.zeros((0, 8)), [], model_version="v")
    with pytest.raises(KinmoInputError, match="ids"):
        RetrievalIndex.build(np.ones((3, 8)), ["a", "b"], model_version="v")
    with pytest.raises(KinmoInputError, match="unique"):
        RetrievalIndex.build(np.ones((2, 8)), ["a", "a"], model_version="v")
    with pytest.raises(KinmoInputError, match="zero vectors"):
        RetrievalIndex.build(np.zeros((2, 8)), ["a", "b"], model_version="v")
    with pytest.raises(KinmoInputError, match="model_version"):
        RetrievalIndex.build(np.ones((2, 8)), ["a", "b"])
    with pytest.raises(KinmoInputError, match=r"shape \(24,\)"):
        index.query(np.ones(25))
    with pytest.raises(KinmoInputError, match="k must"):
        index.query(np.ones(24), k=0)
    with pytest.raises(KinmoInputError, match="zero vector"):
        index.query(np.zeros(24))
    empty = RetrievalIndex(np.zeros((0, 24), np.float32), [], [], "v")
    with pytest.raises(KinmoInputError, match="empty"):
        empty.query(np.ones(24))


def test_index_of_htma_embeddings_tied_to_the_model_version(tmp_path):
    torch = pytest.importorskip("torch")
    from kinmo_core.eval.retrieval_metrics import retrieval_all
    from kinmo_core.models import io
    from kinmo_core.models.htma import HTMA, HTMAConfig

    torch.manual_seed(0)
    cfg = HTMAConfig(motion_dim=12, text_dim=10, latent_dim=16, ff_dim=32, n_layers=1, n_heads=2, dropout=0.0)
    model = HTMA(cfg).eval()
    g = torch.Generator().manual_seed(1)
    motion, mask = torch.randn(20, 15, 12, generator=g), torch.ones(20, 15, dtype=torch.bool)
    with torch.no_grad():
        mu, _ = model.encode_motion(motion, mask)
        emb = HTMA.retrieval_embedding(mu)
    version = io.model_version(model, cfg)
    index = RetrievalIndex.build(emb, [f"clip{i}" for i in range(20)], model_version=version)
    index.save(tmp_path / "htma")
    loaded = RetrievalIndex.load(tmp_path / "htma", expected_version=io.model_version(model, cfg))
    assert loaded.query(emb[4], k=1)[0].id == "clip4"
    assert retrieval_all(emb.numpy(), loaded.embeddings)["t2m/R@1"] == 100.0
    with torch.no_grad():
        model.motion_encoder.proj.weight.mul_(1.01)  # a retrained model must not reuse the old index
    with pytest.raises(KinmoModelError, match="rebuild"):
        RetrievalIndex.load(tmp_path / "htma", expected_version=io.model_version(model, cfg))


@pytest.mark.parametrize("noise", [None, 1e-2])
def test_large_index_two_stage_search_is_exact(noise):
    """Above TWO_STAGE_MIN the float16 scan plus float32 rescoring returns the exact float32 top k."""
    from kinmo_core.retrieval import index as index_module

    rng = np.random.default_rng(3)
    n = index_module.TWO_STAGE_MIN + 500
    if noise is None:  # spread-out embeddings: the float16 candidates are proven to hold the top k
        e = rng.normal(size=(n, 64)).astype(np.float32)
        queries = rng.normal(size=(4, 64)).astype(np.float32)
    else:  # near-duplicates closer than float16 resolves: the check falls back to a float32 scan
        base = rng.normal(size=64).astype(np.float32)
        e = base + noise * rng.normal(size=(n, 64)).astype(np.float32)
        queries = np.stack([base, base + noise * rng.normal(size=64).astype(np.float32)])
    idx = RetrievalIndex.build(e, [str(i) for i in range(n)], model_version="v")
    found, scores = idx.search(queries, k=10)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    exact = q.astype(np.float64) @ idx.embeddings.T.astype(np.float64)
    for row in range(len(q)):
        expected = np.sort(exact[row])[::-1][:10]
        np.testing.assert_allclose(scores[row], expected, atol=1e-6)
        np.testing.assert_allclose(exact[row, found[row]], expected, atol=1e-6)
