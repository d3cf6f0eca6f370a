"""Frozen offline text encoders: shapes, normalisation, caching, errors, laziness."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from kinmo_core.errors import KinmoInputError
from kinmo_core.text import EMBED_DIM, SentenceEncoder, TokenEncoder, get_sentence_encoder, get_token_encoder


@pytest.fixture(scope="module")
def sentence() -> SentenceEncoder:
    return get_sentence_encoder()


def test_sentence_embeddings_are_unit_norm_and_semantic(sentence):
    emb = sentence.encode(["a person walks forward", "someone strolls ahead", "the head nods quickly"])
    assert emb.shape == (3, EMBED_DIM) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # Paraphrases are closer than unrelated sentences.
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


def test_cache_dedupes_and_returns_identical_vectors(sentence):
    before = sentence.encoded_count
    texts = ["cache probe one", "cache probe two", "cache probe one"]
    first = sentence.encode(texts)
    assert sentence.encoded_count - before == 2  # the repeated string is encoded once
    again = sentence.encode(texts[::-1])
    assert sentence.encoded_count - before == 2  # all hits
    np.testing.assert_array_equal(first[0], again[2])
    np.testing.assert_array_equal(first[0], first[2])


def test_disk_cache_round_trip(tmp_path, sentence):
    sentence.encode(["disk cache sentence"])
    path = sentence.save_cache(tmp_path / "emb.npz")
    fresh = SentenceEncoder(cache_path=path)
    assert fresh.cache_size() == sentence.cache_size()
    out = fresh.encode(["disk cache sentence"])
    assert fresh.encoded_count == 0  # served from the file, the model was never loaded
    np.testing.assert_array_equal(out[0], sentence.encode(["disk cache sentence"])[0])


def test_bad_paths_and_inputs_raise_input_errors(tmp_path, sentence):
    with pytest.raises(KinmoInputError, match="not found"):
        SentenceEncoder(tmp_path / "missing")
    with pytest.raises(KinmoInputError, match="config.json"):
        TokenEncoder(tmp_path)
    with pytest.raises(KinmoInputError):
        sentence.encode([1, 2])  # type: ignore[list-item]
    (tmp_path / "junk.npz").write_bytes(b"not an npz")
    with pytest.raises(KinmoInputError, match="cache"):
        sentence.load_cache(tmp_path / "junk.npz")


def test_token_features_match_sentence_embedding(sentence):
    tok = get_token_encoder()
    feats, mask = tok.encode(["a person waves the left hand", "kick"])
    assert feats.shape[0] == 2 and feats.shape[2] == EMBED_DIM and mask.shape == feats.shape[:2]
    assert mask.dtype.is_floating_point is False and bool(mask[0].all()) and not bool(mask[1].all())
    pooled = tok.mean_pool(["a person waves the left hand"]).numpy()
    np.testing.assert_allclose(pooled[0], sentence.encode(["a person waves the left hand"])[0], atol=1e-5)
    assert get_token_encoder() is tok


def test_importing_the_package_is_cheap():
    code = "import sys, kinmo_core.text; print('sentence_transformers' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
