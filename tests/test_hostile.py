"""Hostile input: every catalogued case (tests/hostile.py) ends cleanly, plus hypothesis fuzzing of the BVH parser,
motion files and the worker protocol, and the failures that need a stand-in (disk full, closed pipe, races)."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import hostile
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinmo_core.cli.main import main
from kinmo_core.cli.worker import serve
from kinmo_core.errors import KinmoInputError

ROOT = Path(__file__).resolve().parents[1]
QUICK = [c for c in hostile.CASES if not c.slow]
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_the_catalogue_has_the_kinds_of_the_issue():
    kinds = [c.kind for c in hostile.CASES]
    assert len(kinds) == len(set(kinds)) and len(kinds) >= 150
    assert {c.group for c in hostile.CASES} == {"bvh", "npy", "npz", "cli", "files", "worker"}


@pytest.mark.parametrize("case", QUICK, ids=[c.kind for c in QUICK])
def test_hostile_case_ends_cleanly(case, tmp_path):
    assert hostile.run_in_process(case, tmp_path) == []


# ------------------------------------------------------------------------------------------ fuzzing
_TOKENS = st.sampled_from(["HIERARCHY", "ROOT", "JOINT", "End", "Site", "{", "}", "OFFSET", "CHANNELS", "3", "6",
                           "Xrotation", "Yrotation", "Zrotation", "Xposition", "MOTION", "Frames:", "Frame", "Time:",
                           "0.05", "1e308", "nan", "-1", "2", "hips", "hips", "\n", "1000000", "0"])


@FUZZ
@given(st.lists(_TOKENS, max_size=80), st.integers(0, 3000), st.binary(max_size=40))
def test_bvh_parser_fuzz_only_raises_input_errors(tmp_path, tokens, cut, junk):
    from kinmo_core.motion.file import load_motion

    base = hostile.base_bvh()
    text = (" ".join(tokens) + "\n" + base[cut:]).encode() + junk
    p = tmp_path / "f.bvh"
    p.write_bytes(b"HIERARCHY\n" + text if tokens[:1] != ["HIERARCHY"] else text)
    try:
        load_motion(p)
    except KinmoInputError as e:
        assert "\n" not in str(e).strip()


@FUZZ
@given(st.integers(0, 200), st.binary(min_size=1, max_size=8))
def test_bvh_body_byte_flips_only_raise_input_errors(tmp_path, at, junk):
    from kinmo_core.motion.file import load_motion

    data = bytearray(hostile.base_bvh().encode())
    pos = len(data) * at // 201
    data[pos:pos + len(junk)] = junk
    p = tmp_path / "f.bvh"
    p.write_bytes(bytes(data))
    try:
        load_motion(p)
    except KinmoInputError:
        pass


@FUZZ
@given(st.sampled_from(sorted(hostile.npz_members())), st.sampled_from(["shape", "dtype", "bytes", "value"]),
       st.integers(0, 2**40), st.binary(max_size=64))
def test_motion_file_fuzz_only_raises_input_errors(tmp_path, key, how, n, junk):
    from kinmo_core.motion.file import load_motion

    arrays = hostile.npz_members()
    extra = {}
    if how == "shape":
        extra[f"{key}.npy"] = hostile.npy_header((n % 10**12, 263))
        arrays.pop(key)
    elif how == "dtype":
        arrays[key] = arrays[key].astype(np.float16 if n % 2 else np.int8) if arrays[key].dtype.kind != "U" else \
            np.array(n)
    elif how == "bytes":
        extra[f"{key}.npy"] = junk
        arrays.pop(key)
    else:
        a = arrays[key]
        if a.dtype.kind == "f":
            a = a.copy()
            a.reshape(-1)[n % a.size] = [np.nan, np.inf, 1e38, -0.0][n % 4]
        arrays[key] = a
    p = hostile.write_npz(tmp_path / "f.npz", arrays, extra)
    try:
        load_motion(p)
    except KinmoInputError:
        pass


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                     max_leaves=20)
_METHODS = st.sampled_from(["ping", "load_motion", "generate", "expand", "cancel", "nope", 5, None])
_KEYS = st.sampled_from(["text", "seed", "num", "seconds", "frames", "levels", "descriptions", "model", "out",
                         "path", "rig", "as", "bvh", "echo", "id"])


@FUZZ
@given(st.lists(st.one_of(
    _JSON.map(json.dumps),
    st.fixed_dictionaries({"id": _JSON, "method": _METHODS, "params": st.dictionaries(_KEYS, _JSON, max_size=4)}
                          ).map(json.dumps),
    st.text(max_size=30).filter(lambda s: "\n" not in s and "\r" not in s),
), min_size=1, max_size=6))
def test_worker_protocol_fuzz_answers_everything_and_keeps_serving(tmp_path, lines):
    # Requests that would load the packaged model are left out: they are valid and slow, not hostile.
    def loads_model(line: str) -> bool:
        try:
            msg = json.loads(line)
        except ValueError:
            return False
        p = msg.get("params") if isinstance(msg, dict) else None
        return isinstance(msg, dict) and msg.get("method") in ("generate", "expand") and isinstance(p, dict) \
            and isinstance(p.get("text"), str) and p["text"].strip() != ""

    lines = [ln for ln in lines if not loads_model(ln)]
    (tmp_path / "allowed").mkdir(exist_ok=True)
    text = "".join(ln + "\n" for ln in lines) + '{"id": "final", "method": "ping"}\n'
    out, err = io.StringIO(), io.StringIO()
    assert serve(io.StringIO(text), out, err, allowed_dirs=[tmp_path / "allowed"]) == 0
    replies = [json.loads(ln) for ln in out.getvalue().splitlines()]
    assert replies[-1]["id"] == "final" and replies[-1]["result"]["pong"] is True
    for r in replies[1:]:
        if "error" in r:
            assert r["error"]["type"] != "internal", r
    assert "Traceback" not in err.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["allowed"]  # nothing written outside the allowed folder


# ------------------------------------------------------------------ failures that need a stand-in
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EACCES, errno.EIO])
def test_os_failures_while_writing_are_one_line_exit_1(tmp_path, monkeypatch, capsys, code):
    import kinmo_core.fileio as fileio

    src = tmp_path / "in.npz"
    src.write_bytes(hostile.base_npz())

    def fail(*a, **k):
        raise OSError(code, os.strerror(code), str(tmp_path / "out.npz"))

    monkeypatch.setattr(fileio.os, "fsync", fail)
    assert main(["convert", str(src), "-o", str(tmp_path / "out.npz")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and os.strerror(code) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz"]  # no half file, no temporary file


def test_a_file_size_limit_is_one_line_exit_1(tmp_path):
    src = tmp_path / "in.npz"
    src.write_bytes(hostile.base_npz())
    script = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)); "
              "from kinmo_core.cli.main import main; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", script, "convert", str(src), "-o", str(tmp_path / "o.bvh")],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "too large" in r.stderr, r.stderr
    assert not (tmp_path / "o.bvh").exists()


def test_a_closed_pipe_exits_quietly(tmp_path):
    src = tmp_path / "in.npz"
    src.write_bytes(hostile.base_npz())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # `head -c 0` exits at once, so the command's first write meets a closed pipe.
    cmd = f"{sys.executable} -m kinmo_core.cli.main info {src} | head -c 0; echo code=${{PIPESTATUS[0]}}"
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.stderr == "" and r.stdout.strip() == "code=141", (r.stdout, r.stderr)


def test_broken_pipe_inside_a_command_is_quiet(tmp_path, monkeypatch, capsys):
    class Closed(io.StringIO):
        def write(self, s):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    src = tmp_path / "in.npz"
    src.write_bytes(hostile.base_npz())
    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["info", str(src), "--json"]) == 141
    assert capsys.readouterr().err == ""


def test_no_clobber_is_atomic_when_another_writer_wins(tmp_path):
    from kinmo_core.fileio import atomic_output

    target = tmp_path / "o.txt"
    with pytest.raises(KinmoInputError, match="already exists"):
        with atomic_output(target) as tmp:
            tmp.write_text("mine")
            target.write_text("theirs")  # another process created it after our check
    assert target.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["o.txt"]


def test_of_many_concurrent_writers_exactly_one_wins(tmp_path):
    from kinmo_core.fileio import write_atomic

    target, wins, barrier = tmp_path / "o.bin", [], threading.Barrier(8)

    def write(i: int) -> None:
        barrier.wait()
        try:
            write_atomic(target, lambda f: f.write(bytes([i]) * 100_000))
            wins.append(i)
        except KinmoInputError:
            pass

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and target.read_bytes() == bytes(wins) * 100_000


def test_retrieve_skips_a_nan_motion_and_names_it(tmp_path):
    from kinmo_core.retrieval.search import load_motion_set

    for name in ("a", "b"):
        (tmp_path / f"{name}.npz").write_bytes(hostile.base_npz())
    bad = hostile.npz_members()
    bad["features"] = np.full_like(bad["features"], np.nan)
    hostile.write_npz(tmp_path / "broken.npz", bad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ms = load_motion_set(tmp_path)
    assert ms.ids == ["a.npz", "b.npz"]
    assert any("broken.npz" in str(w.message) and "NaN" in str(w.message) for w in caught)


def test_retrieve_skips_a_nan_motion_of_a_humanml3d_folder(tmp_path):
    from kinmo_core.retrieval.search import load_motion_set

    (tmp_path / "new_joint_vecs").mkdir()
    feats = np.load(hostile.FIXTURES / "012314_new_joint_vecs.npy")
    np.save(tmp_path / "new_joint_vecs" / "000001.npy", feats)
    np.save(tmp_path / "new_joint_vecs" / "000002.npy", np.where(np.arange(263) == 5, np.nan, feats))
    with pytest.warns(UserWarning, match="000002"):
        ms = load_motion_set(tmp_path)
    assert ms.ids == ["000001"]


def test_the_worker_survives_a_real_pipe_of_hostile_bytes(tmp_path):
    lines = [b"\xff\xfe\n", b"[" * 100_000 + b"\n", b'{"id": {"a": 1}, "method": "ping"}\n',
             b'{"method": "cancel", "params": 5}\n', b'{"id": 2, "method": "ping"}\n']
    r = subprocess.run([sys.executable, "-m", "kinmo_core.cli.main", "worker", "--allow-dir", str(tmp_path)],
                       input=b"".join(lines), capture_output=True, timeout=120, env={**os.environ,
                                                                                       "PYTHONPATH": str(ROOT)})
    replies = [json.loads(x) for x in r.stdout.decode().splitlines()][1:]
    assert [x["error"]["type"] if "error" in x else "result" for x in replies] == ["protocol"] * 4 + ["result"]
    assert replies[-1]["id"] == 2 and r.returncode == 0 and b"Traceback" not in r.stderr


def test_worker_allow_dir_must_exist(tmp_path, capsys):
    assert main(["worker", "--allow-dir", str(tmp_path / "missing")]) == 2
    assert "not an existing folder" in capsys.readouterr().err


def test_the_addon_starts_its_worker_confined_to_the_temporary_folder():
    import tempfile

    from blender_addon import backend

    cmd = backend.worker_command("python")
    assert cmd[-2:] == ["--allow-dir", tempfile.gettempdir()]
