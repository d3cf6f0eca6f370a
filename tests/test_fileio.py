"""Atomic output files: the one implementation in kinmo_core.fileio and every writer that goes through it."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

from kinmo_core.errors import KinmoInputError
from kinmo_core.fileio import atomic_output, write_atomic

UMASK = 0o027  # not the default 022, so a hard-coded 0644 would fail as well as mkstemp's private 0600
EXPECTED_MODE = 0o640


@pytest.fixture
def umask():
    old = os.umask(UMASK)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_finished_files_get_the_umask_mode_not_0600(tmp_path, umask):
    with atomic_output(tmp_path / "a.txt") as tmp:
        tmp.write_text("a")
    write_atomic(tmp_path / "b.bin", lambda f: f.write(b"b"))
    assert _mode(tmp_path / "a.txt") == EXPECTED_MODE
    assert _mode(tmp_path / "b.bin") == EXPECTED_MODE


def test_a_failure_inside_the_block_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "data.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output(target, overwrite=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    with pytest.raises(ValueError, match="bad"):
        write_atomic(target, lambda f: (f.write(b"half"), (_ for _ in ()).throw(ValueError("bad"))), overwrite=True)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_an_existing_file_is_kept_unless_overwrite(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("mine")
    with pytest.raises(KinmoInputError, match="already exists"):
        write_atomic(target, lambda f: f.write(b"new"))
    assert target.read_text() == "mine"
    write_atomic(target, lambda f: f.write(b"new"), overwrite=True)
    assert target.read_text() == "new"


def _bvh(path):
    from kinmo_core.motion.bvh import write_bvh

    rot = np.zeros((2, 22, 4))
    rot[..., 0] = 1.0
    write_bvh(path / "m.bvh", rot, np.zeros((2, 3)))
    return [path / "m.bvh"]


def _annotations_json(path):
    from kinmo_core.annotate.annotations import write_json_atomic

    write_json_atomic(path / "sub" / "a.json", {"x": "é"})
    write_json_atomic(path / "sub" / "a.json", {"x": "é"})  # its own file: replaced, not refused
    return [path / "sub" / "a.json"]


def _review_sheet(path):
    from kinmo_core.annotate.agreement import write_review_sheet

    rows = [{"id": "a", "field": "torso", "verdict": "", "text": "t", "captions": "c"}]
    return [write_review_sheet(rows, path / "r.csv")]


def _answer_cache(path):
    from kinmo_core.annotate.llm import AnswerCache

    AnswerCache(path).put("k", {"a": 1})
    AnswerCache(path).put("k", {"a": 2})
    return [path / "k.json"]


def _layout(path):
    from kinmo_core.data.layout import save_npy_atomic, write_text_atomic

    write_text_atomic(path / "t.txt", "x\n")
    save_npy_atomic(path / "a.npy", np.ones(3, np.float32))
    return [path / "t.txt", path / "a.npy"]


def _index(path):
    from kinmo_core.retrieval.index import RetrievalIndex

    w = RetrievalIndex.build(np.eye(3, dtype=np.float32), ["a", "b", "c"], model_version="v").save(path / "i")
    return [w, w.with_suffix(".json")]


def _model(path):
    from dataclasses import dataclass

    from kinmo_core.models.io import CONFIG_NAME, WEIGHTS_NAME, save_pretrained

    @dataclass
    class Cfg:
        n: int = 2

    save_pretrained(torch.nn.Linear(2, 2), Cfg(), path / "m")
    return [path / "m" / WEIGHTS_NAME, path / "m" / CONFIG_NAME]


def _text_cache(path):
    from kinmo_core.text.encoders import SentenceEncoder

    return [SentenceEncoder().save_cache(path / "emb.npz")]


WRITERS = [_bvh, _annotations_json, _review_sheet, _answer_cache, _layout, _index, _model, _text_cache]


@pytest.mark.parametrize("writer", WRITERS, ids=[w.__name__.strip("_") for w in WRITERS])
def test_every_writer_goes_through_fileio(writer, tmp_path, umask):
    paths = writer(tmp_path)
    for p in paths:
        assert p.is_file() and _mode(p) == EXPECTED_MODE, f"{p.name}: mode {oct(_mode(p))}"
    leftovers = [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    assert not leftovers
