"""Hostile inputs for the CLI and the worker protocol: one catalogue for tests/test_hostile.py and
benchmarks/bench_hostile.py.

Each `Case` builds its files in a fresh folder and returns what to run: a `kinmo` command line (`Cli`) or lines for
`kinmo worker` (`Worker`), with the outcome a careful program gives (an exit code and one line on stderr; or one
typed reply per request line while the worker keeps serving) and a check that no user file was lost or replaced.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ESC = "\x1b"


@dataclass
class Cli:
    """Run `kinmo ARGV`; expect one of `codes`; `check(folder)` returns a problem (a lost/replaced file) or None."""

    argv: list[str]
    codes: tuple[int, ...] = (2,)
    check: Callable[[Path], str | None] | None = None
    clean_stdout: bool = False  # stdout must carry no control characters from user text
    stdin: str | None = None


@dataclass
class Worker:
    """Send `lines` to `kinmo worker --allow-dir FOLDER/allowed`; `errors[i]` is the expected reply to the i-th
    answered line: an error type, "result", or None for a line with no reply (a valid cancel)."""

    lines: list[str | bytes]
    errors: list[str | None]
    check: Callable[[Path], str | None] | None = None
    final_ping: bool = True  # a ping after the lines must still be answered


@dataclass
class Case:
    """A named hostile input."""

    kind: str
    group: str
    build: Callable[[Path], Cli | Worker]
    slow: bool = False  # left out of the quick test run (needs a model or a large file)
    tags: set = field(default_factory=set)


CASES: list[Case] = []


def case(kind: str, group: str, slow: bool = False) -> Callable:
    """Register a case builder."""

    def add(fn: Callable[[Path], Cli | Worker]) -> Callable:
        CASES.append(Case(kind, group, fn, slow))
        return fn

    return add


# ---------------------------------------------------------------------------------------------- base files
def _motion_module():
    """kinmo_core.motion.file (or kinmo_core.motion before the restructure, for bench_hostile --code-root)."""
    import importlib

    try:
        return importlib.import_module("kinmo_core.motion.file")
    except ImportError:
        return importlib.import_module("kinmo_core.motion")


@functools.lru_cache(maxsize=1)
def base_bvh() -> str:
    """A valid 40-frame BVH of the 22-joint skeleton (text)."""
    Motion = _motion_module().Motion

    m = Motion.from_joints(np.load(FIXTURES / "012314_new_joints.npy")[:41])
    buf = Path(os.environ.get("TMPDIR", "/tmp")) / f"kinmo-hostile-{os.getpid()}.bvh"
    buf.unlink(missing_ok=True)
    m.to_bvh(buf)
    text = buf.read_text()
    buf.unlink()
    return text


@functools.lru_cache(maxsize=1)
def base_npz() -> bytes:
    """A valid motion .npz (bytes)."""
    Motion = _motion_module().Motion

    m = Motion.from_joints(np.load(FIXTURES / "012314_new_joints.npy")[:41], text="a person walks")
    f = io.BytesIO()
    np.savez_compressed(f, **m.arrays())
    return f.getvalue()


def npz_members() -> dict[str, np.ndarray]:
    """The arrays of base_npz()."""
    with np.load(io.BytesIO(base_npz()), allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


def write_npz(path: Path, arrays: dict, extra: dict[str, bytes] | None = None) -> Path:
    """Write arrays as an .npz, plus raw extra members (name -> bytes, deflated)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for k, v in arrays.items():
            b = io.BytesIO()
            np.lib.format.write_array(b, np.asanyarray(v), allow_pickle=True)
            zf.writestr(f"{k}.npy", b.getvalue())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def npy_header(shape: tuple, descr: str = "<f4", version: tuple = (1, 0)) -> bytes:
    """Just an .npy header claiming `shape` (no data)."""
    b = io.BytesIO()
    d = {"descr": descr, "fortran_order": False, "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(b, d)
    else:
        np.lib.format.write_array_header_2_0(b, d)
    return b.getvalue()  # the write_array_header_* functions write the magic string too


def unchanged(path: Path, content: bytes) -> Callable[[Path], str | None]:
    """A check that `path` still holds `content`."""

    def check(_: Path) -> str | None:
        if not path.exists():
            return f"{path.name} was lost"
        return None if path.read_bytes() == content else f"{path.name} was replaced"

    return check


def bvh_with(folder: Path, text: str, name: str = "x.bvh") -> Path:
    """Write BVH text into folder/name."""
    p = folder / name
    p.write_text(text, encoding="utf-8", errors="surrogateescape")
    return p


def _motion_part(text: str) -> tuple[str, str]:
    head, _, body = text.partition("MOTION\n")
    return head, body


def chain_bvh(depth: int) -> str:
    """A BVH whose joints nest `depth` deep."""
    lines = ["HIERARCHY", "ROOT j0", "{", "OFFSET 0 0 0", "CHANNELS 6 Xposition Yposition Zposition Zrotation "
             "Yrotation Xrotation"]  # fmt: skip
    for i in range(1, depth):
        lines += [f"JOINT j{i}", "{", "OFFSET 0 1 0", "CHANNELS 3 Zrotation Yrotation Xrotation"]
    lines += ["}"] * depth
    n = 6 + 3 * (depth - 1)
    lines += ["MOTION", "Frames: 2", "Frame Time: 0.05", " ".join(["0"] * n), " ".join(["0"] * n)]
    return "\n".join(lines) + "\n"


def bvh_mut(kind: str, fn: Callable[[str], str], codes: tuple[int, ...] = (2,), slow: bool = False) -> None:
    """Register a case: `kinmo info` on the base BVH changed by fn."""

    def build(folder: Path) -> Cli:
        return Cli(["info", str(bvh_with(folder, fn(base_bvh())))], codes)

    CASES.append(Case(kind, "bvh", build, slow))


def _frames(text: str, frames: str) -> str:
    head, body = _motion_part(text)
    lines = body.split("\n")
    lines[0] = f"Frames: {frames}"
    return head + "MOTION\n" + "\n".join(lines)


def _frame_time(text: str, value: str) -> str:
    head, body = _motion_part(text)
    lines = body.split("\n")
    lines[1] = f"Frame Time: {value}"
    return head + "MOTION\n" + "\n".join(lines)


def _value(text: str, value: str) -> str:
    head, body = _motion_part(text)
    lines = body.split("\n")
    row = lines[2].split()
    row[4] = value
    lines[2] = " ".join(row)
    return head + "MOTION\n" + "\n".join(lines)


# ------------------------------------------------------------------------------------------------- BVH
bvh_mut("bvh frame time 1000000", lambda t: _frame_time(t, "1000000"))
bvh_mut("bvh frame time 0", lambda t: _frame_time(t, "0"))
bvh_mut("bvh frame time negative", lambda t: _frame_time(t, "-0.05"))
bvh_mut("bvh frame time nan", lambda t: _frame_time(t, "nan"))
bvh_mut("bvh frame time 1e-300", lambda t: _frame_time(t, "1e-300"))
bvh_mut("bvh frames 1e9 declared", lambda t: _frames(t, "1000000000"))
bvh_mut("bvh frames 5e6 declared, small frame time", lambda t: _frame_time(_frames(t, "5000000"), "0.0001"))
bvh_mut("bvh frames negative", lambda t: _frames(t, "-5"))
bvh_mut("bvh frames 2.5", lambda t: _frames(t, "2.5"))
bvh_mut("bvh frames 0", lambda t: _frames(t, "0"))
bvh_mut("bvh frames 1", lambda t: "\n".join(_frames(t, "1").split("\n")[: t.split("\n").index("MOTION") + 4]) + "\n")
bvh_mut("bvh channel value 1e308", lambda t: _value(t, "1e308"))
bvh_mut("bvh channel value nan", lambda t: _value(t, "nan"))
bvh_mut("bvh channel value inf", lambda t: _value(t, "-inf"))
bvh_mut("bvh channel value 1e400", lambda t: _value(t, "1e400"))
bvh_mut("bvh channel value not a number", lambda t: _value(t, "12abc"))
bvh_mut("bvh offset 1e308", lambda t: t.replace("OFFSET 0.000000 0.000000 0.000000", "OFFSET 1e308 0 0", 1))
bvh_mut("bvh offset nan", lambda t: t.replace("OFFSET 0.000000 0.000000 0.000000", "OFFSET nan 0 0", 1))
bvh_mut("bvh duplicate joint names", lambda t: t.replace("JOINT right_hip", "JOINT left_hip", 1))
bvh_mut("bvh truncated data", lambda t: t[: len(t) - 2000])
bvh_mut("bvh extra values", lambda t: t + "1 2 3\n")
bvh_mut("bvh no MOTION section", lambda t: t.split("MOTION")[0])
bvh_mut("bvh no ROOT", lambda t: "HIERARCHY\nMOTION\nFrames: 1\nFrame Time: 0.05\n0\n")
bvh_mut("bvh unknown channel", lambda t: t.replace("Zrotation Yrotation Xrotation", "Zrotation Yrotation Wrotation",
                                                    1))
bvh_mut("bvh channel count 7", lambda t: t.replace("CHANNELS 3", "CHANNELS 7", 1))
bvh_mut("bvh channel count -1", lambda t: t.replace("CHANNELS 3", "CHANNELS -1", 1))
bvh_mut("bvh repeated rotation channel", lambda t: t.replace("Zrotation Yrotation Xrotation",
                                                             "Zrotation Zrotation Xrotation", 1))
bvh_mut("bvh hierarchy ends early", lambda t: t[: t.index("JOINT left_knee")] + "\nMOTION\nFrames: 1\n")
bvh_mut("bvh unbalanced braces", lambda t: t.replace("{", "", 3))
bvh_mut("bvh empty file", lambda t: "")
bvh_mut("bvh not starting with HIERARCHY", lambda t: "HELLO\n" + t)
bvh_mut("bvh no channels at all", lambda t: "HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\n}\nMOTION\nFrames: 2\n"
                                            "Frame Time: 0.05\n\n\n")
bvh_mut("bvh non-human joint names", lambda t: re.sub(r"(ROOT|JOINT) (\S+)", lambda m: f"{m[1]} bone_{len(m[2])}_"
                                                       f"{m[2][::-1]}", t), codes=(0, 2))
bvh_mut("bvh escape sequence in joint name", lambda t: t.replace("ROOT pelvis", f"ROOT {ESC}[2J{ESC}]0;pwn\a", 1),
        codes=(0, 2))
bvh_mut("bvh three-joint rig", lambda t: chain_bvh(3))
bvh_mut("bvh escape sequences in an unknown rig", lambda t: chain_bvh(3).replace("j1", f"{ESC}[31mj1{ESC}]0;x\a"))
bvh_mut("bvh joints nested 10000 deep", lambda t: chain_bvh(10_000))
bvh_mut("bvh joints nested 101 deep", lambda t: chain_bvh(101))
bvh_mut("bvh 2000 sibling joints", lambda t: "HIERARCHY\nROOT r\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition "
        "Zposition\n" + "".join(f"JOINT s{i}\n{{\nOFFSET 0 1 0\n}}\n" for i in range(2000))
        + "}\nMOTION\nFrames: 2\nFrame Time: 0.05\n0 0 0\n0 0 0\n")
bvh_mut("bvh windows line endings", lambda t: t.replace("\n", "\r\n"), codes=(0,))
bvh_mut("bvh tabs and blank lines", lambda t: t.replace(" ", "\t").replace("\n", "\n\n"), codes=(0, 2))
bvh_mut("bvh NUL bytes", lambda t: t.replace("OFFSET", "OFF\0SET", 1))
bvh_mut("bvh 1 MB joint name", lambda t: t.replace("ROOT pelvis", "ROOT " + "p" * 1_000_000, 1), codes=(0, 2))


@case("bvh invalid utf-8", "bvh")
def _(folder: Path) -> Cli:
    p = folder / "x.bvh"
    p.write_bytes(base_bvh().replace("ROOT pelvis", "ROOT pel\udcffvis").encode("utf-8", "surrogateescape"))
    return Cli(["info", str(p)], (0, 2))


@case("bvh larger than 64 MiB (sparse)", "bvh")
def _(folder: Path) -> Cli:
    p = folder / "x.bvh"
    with open(p, "wb") as f:
        f.write(b"HIERARCHY\n")
        f.truncate(65 * 2**20)
    return Cli(["info", str(p)])


@case("bvh binary garbage", "bvh")
def _(folder: Path) -> Cli:
    p = folder / "x.bvh"
    p.write_bytes(np.random.default_rng(0).bytes(50_000))
    return Cli(["info", str(p)])


@case("bvh unknown --rig", "bvh")
def _(folder: Path) -> Cli:
    return Cli(["info", str(bvh_with(folder, base_bvh())), "--rig", "no-such-rig"])


# ------------------------------------------------------------------------------------------------- NPY
def npy_case(kind: str, make: Callable[[Path], None], codes: tuple[int, ...] = (2,)) -> None:
    """Register a case: `kinmo info` on an .npy written by make(path)."""

    def build(folder: Path) -> Cli:
        p = folder / "x.npy"
        make(p)
        return Cli(["info", str(p)], codes)

    CASES.append(Case(kind, "npy", build))


npy_case("npy header claims 1e9 x 263", lambda p: p.write_bytes(npy_header((10**9, 263))))
npy_case("npy header claims 1e9 x 22 x 3", lambda p: p.write_bytes(npy_header((10**9, 22, 3))))
npy_case("npy header claims 2**62 x 263 (v2)", lambda p: p.write_bytes(npy_header((2**62, 263), version=(2, 0))))
npy_case("npy header claims 20000 x 263 (too long)", lambda p: p.write_bytes(npy_header((20_000, 263))))
npy_case("npy header negative shape", lambda p: p.write_bytes(npy_header((-5, 263))))
npy_case("npy object array (pickle)", lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True))
npy_case("npy wrong shape", lambda p: np.save(p, np.zeros((30, 21, 3), np.float32)))
npy_case("npy 4-d", lambda p: np.save(p, np.zeros((2, 2, 2, 2), np.float32)))
npy_case("npy strings", lambda p: np.save(p, np.array(["a", "b"])))
npy_case("npy complex", lambda p: np.save(p, np.zeros((30, 263), np.complex64)))
npy_case("npy structured dtype", lambda p: np.save(p, np.zeros(30, dtype=[("a", "f4"), ("b", "i4")])))
npy_case("npy truncated data", lambda p: p.write_bytes(npy_header((100, 263)) + b"\0" * 1000))
npy_case("npy nan", lambda p: np.save(p, np.full((30, 263), np.nan, np.float32)))
npy_case("npy inf joints", lambda p: np.save(p, np.full((30, 22, 3), np.inf, np.float32)))
npy_case("npy 0 frames", lambda p: np.save(p, np.zeros((0, 263), np.float32)))
npy_case("npy 1 frame", lambda p: np.save(p, np.zeros((1, 263), np.float32)))
npy_case("npy values 1e38", lambda p: np.save(p, np.full((30, 263), 1e38, np.float32)), codes=(0, 2))
npy_case("npy random bytes", lambda p: p.write_bytes(np.random.default_rng(1).bytes(5000)))
npy_case("npy magic version 9", lambda p: p.write_bytes(b"\x93NUMPY\x09\x00" + b"\x10\x00" + b" " * 16))
npy_case("npy header too long", lambda p: p.write_bytes(b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 65535))
npy_case("npy v2 header claims 4 GiB", lambda p: p.write_bytes(b"\x93NUMPY\x02\x00\xff\xff\xff\xff" + b"{" * 100))
npy_case("npy header not a dict", lambda p: p.write_bytes(b"\x93NUMPY\x01\x00\x10\x00" + b"[1, 2, 3]      \n"))
npy_case("npy empty file", lambda p: p.write_bytes(b""))


# ------------------------------------------------------------------------------------------------- NPZ
def npz_case(kind: str, make: Callable[[Path], None], codes: tuple[int, ...] = (2,), clean_stdout: bool = False,
             slow: bool = False) -> None:
    """Register a case: `kinmo info` on an .npz written by make(path)."""

    def build(folder: Path) -> Cli:
        p = folder / "x.npz"
        make(p)
        return Cli(["info", str(p)], codes, clean_stdout=clean_stdout)

    CASES.append(Case(kind, "npz", build, slow))


def _replace(**changes) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        arrays = npz_members()
        arrays.update(changes)
        write_npz(p, {k: v for k, v in arrays.items() if v is not None})

    return make


def _raw_member(name: str, data: bytes) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        arrays = npz_members()
        arrays.pop(name)
        write_npz(p, arrays, {f"{name}.npy": data})

    return make


npz_case("npz member header claims 1e9 x 263", _raw_member("features", npy_header((10**9, 263))))
npz_case("npz member header claims 2**40 x 22 x 3", _raw_member("joints", npy_header((2**40, 22, 3))))
npz_case("npz text member claims 1e9 characters", _raw_member("text", npy_header((), descr="<U1000000000")))
npz_case("npz member header garbage", _raw_member("features", b"not an array at all"))
npz_case("npz member truncated", _raw_member("features", npy_header((40, 263)) + b"\0" * 100))
npz_case("npz pickled member", _raw_member("text", (lambda b: (np.save(b, np.array([{"x": 1}], dtype=object),
                                                                       allow_pickle=True), b.getvalue())[1])
                                           (io.BytesIO())))
npz_case("npz extra 1 GB compressed member", lambda p: write_npz(p, npz_members(), {"bomb.npy": b"\0" * 2**30}),
         codes=(0,), slow=True)
npz_case("npz extra 64 MB compressed member", lambda p: write_npz(p, npz_members(), {"bomb.npy": b"\0" * 2**26}),
         codes=(0,))
npz_case("npz member named ../../evil.npy", lambda p: write_npz(p, npz_members(), {"../../evil.npy": b"x"}),
         codes=(0,))
npz_case("npz missing member", _replace(features=None))
npz_case("npz 100 members", lambda p: write_npz(p, npz_members(), {f"m{i}.npy": b"" for i in range(100)}))
npz_case("npz not a zip", lambda p: p.write_bytes(b"PK\x03\x04" + b"garbage" * 100))
npz_case("npz truncated zip", lambda p: p.write_bytes(base_npz()[: len(base_npz()) // 2]))
npz_case("npz empty file", lambda p: p.write_bytes(b""))
npz_case("npz format_version 99", _replace(format_version=np.array(99)))
npz_case("npz format_version string", _replace(format_version=np.array("1")))
npz_case("npz fps 30", _replace(fps=np.array(30)))
npz_case("npz joints inconsistent", lambda p: _replace(joints=npz_members()["joints"] + 1)(p))
npz_case("npz features nan", lambda p: _replace(features=np.full_like(npz_members()["features"], np.nan))(p))
npz_case("npz rotations not unit", lambda p: _replace(rotations=npz_members()["rotations"] * 2)(p))
npz_case("npz features complex", lambda p: _replace(features=npz_members()["features"].astype(np.complex64))(p))
npz_case("npz features wrong shape", _replace(features=np.zeros((40, 262), np.float32)))
npz_case("npz joint_names wrong", _replace(joint_names=np.array(["x"] * 22)))
npz_case("npz descriptions invalid JSON", _replace(descriptions=np.array("{not json")))
npz_case("npz descriptions unknown keys", _replace(descriptions=np.array('{"x": 1}')))
npz_case("npz text 200k characters", _replace(text=np.array("a" * 200_000)))
npz_case("npz text with escape sequences", _replace(text=np.array(f"walk{ESC}[2J{ESC}]0;title\a\r\u202eevil")),
         codes=(0,), clean_stdout=True)
npz_case("npz text array instead of string", _replace(text=np.array(["a", "b"])))


@case("npz text with escapes as --json", "npz")
def _(folder: Path) -> Cli:
    p = folder / "x.npz"
    _replace(text=np.array(f"walk{ESC}[31m\u202e"))(p)
    return Cli(["info", str(p), "--json"], (0,), clean_stdout=True)


# ------------------------------------------------------------------------------------------------- CLI
def cli_case(kind: str, argv: Callable[[Path], list[str]], codes: tuple[int, ...] = (2,), slow: bool = False) -> None:
    """Register a plain command-line case."""
    CASES.append(Case(kind, "cli", lambda f: Cli(argv(f), codes), slow))


def _motion_file(folder: Path) -> Path:
    p = folder / "in.npz"
    p.write_bytes(base_npz())
    return p


cli_case("generate --seed 2**70", lambda f: ["generate", "a person walks", "-o", str(f / "o"), "--seed", str(2**70)])
cli_case("generate --seed -1", lambda f: ["generate", "a person walks", "-o", str(f / "o"), "--seed", "-1"])
cli_case("reason --seed 2**70", lambda f: ["reason", "a person walks", "--seed", str(2**70)])
cli_case("generate --num 10000", lambda f: ["generate", "a person walks", "-o", str(f / "o"), "--num", "10000"])
cli_case("generate --num 0", lambda f: ["generate", "a person walks", "-o", str(f / "o"), "--num", "0"])
cli_case("generate --frames 10**9", lambda f: ["generate", "a walk", "-o", str(f / "o"), "--frames", str(10**9)])
cli_case("generate --seconds nan", lambda f: ["generate", "a walk", "-o", str(f / "o"), "--seconds", "nan"])
cli_case("generate --seconds inf", lambda f: ["generate", "a walk", "-o", str(f / "o"), "--seconds", "inf"])
cli_case("generate --batch 0", lambda f: ["generate", "a walk", "-o", str(f / "o"), "--batch", "0"])
cli_case("generate empty prompt", lambda f: ["generate", "   ", "-o", str(f / "o")])
cli_case("generate -o an existing file", lambda f: ["generate", "a walk", "-o", str(_motion_file(f))])
cli_case("generate -o below a file", lambda f: ["generate", "a walk", "-o", str(_motion_file(f) / "sub")])
cli_case("retrieve --k 0", lambda f: ["retrieve", "--text", "a walk", "--motions", str(f), "--k", "0"])
cli_case("reason --temperature -1", lambda f: ["reason", "a walk", "--temperature", "-1"])
cli_case("unknown subcommand", lambda f: ["frobnicate"])
cli_case("info missing file", lambda f: ["info", str(f / "missing.npz")])
cli_case("info on a folder", lambda f: ["info", str(f)])
cli_case("info unknown extension", lambda f: ["info", str(_motion_file(f).rename(f / "x.txt"))])
cli_case("convert unknown output extension", lambda f: ["convert", str(_motion_file(f)), "-o", str(f / "o.xyz")])
cli_case("convert into a missing folder", lambda f: ["convert", str(_motion_file(f)), "-o", str(f / "a/b/o.npz")])
cli_case("render into an unknown format", lambda f: ["render", str(_motion_file(f)), "-o", str(f / "o.tiff")])


@case("info on a FIFO", "cli")
def _(folder: Path) -> Cli:
    p = folder / "pipe.npz"
    os.mkfifo(p)
    return Cli(["info", str(p)])


def _descriptions_case(kind: str, text: str) -> None:
    def build(folder: Path) -> Cli:
        d = folder / "d.json"
        d.write_text(text, encoding="utf-8", errors="surrogateescape")
        return Cli(["generate", "a person walks", "-o", str(folder / "o"), "--descriptions", str(d)])

    CASES.append(Case(kind, "cli", build))


_descriptions_case('generate --descriptions {"groups": {}}', '{"groups": {}}')
_descriptions_case("generate --descriptions all parts blank", json.dumps({"groups": {"left arm": "  "}}))
_descriptions_case("generate --descriptions invalid JSON", "{nope")
_descriptions_case("generate --descriptions a list", "[1, 2]")
_descriptions_case("generate --descriptions unknown part", '{"groups": {"tail": "wags"}}')
_descriptions_case("generate --descriptions non-string part", '{"groups": {"torso": 5}}')
_descriptions_case("generate --descriptions nested 100000 deep", "[" * 100_000 + "]" * 100_000)
_descriptions_case("generate --descriptions invalid UTF-8", "{\udcff}")


@case("generate --prompts binary file", "cli")
def _(folder: Path) -> Cli:
    p = folder / "prompts.txt"
    p.write_bytes(b"\xff\xfe\x00" * 100)
    return Cli(["generate", "--prompts", str(p), "-o", str(folder / "o")])


@case("generate --prompts only comments", "cli")
def _(folder: Path) -> Cli:
    p = folder / "prompts.txt"
    p.write_text("# nothing\n\n   \n")
    return Cli(["generate", "--prompts", str(p), "-o", str(folder / "o")])


@case("generate single motion into a batch folder", "files")
def _(folder: Path) -> Cli:
    out = folder / "o"
    (out / "000").mkdir(parents=True)
    (out / "index.json").write_text('{"motions": []}')
    return Cli(["generate", "a person walks", "-o", str(out)], check=unchanged(out / "index.json", b'{"motions": []}'))


@case("generate over an existing motion.npz", "files")
def _(folder: Path) -> Cli:
    out = folder / "o"
    out.mkdir()
    (out / "motion.npz").write_bytes(b"precious")
    return Cli(["generate", "a person walks", "-o", str(out)], check=unchanged(out / "motion.npz", b"precious"))


@case("convert onto an existing file", "files")
def _(folder: Path) -> Cli:
    dst = folder / "dst.bvh"
    dst.write_bytes(b"precious")
    return Cli(["convert", str(_motion_file(folder)), "-o", str(dst)], check=unchanged(dst, b"precious"))


@case("convert onto itself", "files")
def _(folder: Path) -> Cli:
    src = _motion_file(folder)
    return Cli(["convert", str(src), "-o", str(src)], check=unchanged(src, base_npz()))


@case("--debug shows a traceback", "cli")
def _(folder: Path) -> Cli:
    return Cli(["--debug", "info", str(folder / "missing.npz")])


# ---------------------------------------------------------------------------------------------- worker
def worker_case(kind: str, lines: Callable[[Path], list[str | bytes]] | list, errors: list[str | None],
                check: Callable[[Path], str | None] | None = None) -> None:
    """Register a worker case: the lines, the expected reply kinds (an error type, "result" or None)."""

    def build(folder: Path) -> Worker:
        got = lines(folder) if callable(lines) else lines
        return Worker([x if isinstance(x, bytes | str) else json.dumps(x) for x in got], errors, check)

    CASES.append(Case(kind, "worker", build))


def req(method: str, params: object = None, rid: object = 1) -> dict:
    """A request object."""
    msg = {"id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


worker_case("worker id is an object", [req("ping", {}, {"a": 1})], ["protocol"])
worker_case("worker id is a list", [req("ping", {}, [1])], ["protocol"])
worker_case("worker id is a float", [req("ping", {}, 1.5)], ["protocol"])
worker_case("worker id is true", [req("ping", {}, True)], ["protocol"])
worker_case("worker id is a 1000-character string", [req("ping", {}, "x" * 1000)], ["protocol"])
worker_case("worker id is 2**70", [req("ping", {}, 2**70)], ["result"])
worker_case("worker cancel with params 5", ['{"method": "cancel", "params": 5}'], ["protocol"])
worker_case("worker cancel without params", ['{"method": "cancel"}'], ["protocol"])
worker_case("worker cancel of an object id", ['{"method": "cancel", "params": {"id": {"a": 1}}}'], ["protocol"])
worker_case("worker cancel of a list id", ['{"method": "cancel", "params": {"id": []}}'], ["protocol"])
worker_case("worker 2000 cancels for unknown ids", [json.dumps({"method": "cancel", "params": {"id": i}})
                                                    for i in range(2000)], [None] * 2000)
worker_case("worker line nested 100000 deep", ["[" * 100_000 + "]" * 100_000], ["protocol"])
worker_case("worker object nested 100000 deep", ['{"a":' * 100_000 + "1" + "}" * 100_000], ["protocol"])
worker_case("worker params nested 100 deep", [json.dumps(req("ping", {"echo": functools.reduce(lambda a, _: [a],
                                                                                               range(100), 0)}))],
            ["protocol"])
worker_case("worker params nested 50 deep (fine)", [json.dumps(req("ping", {"echo": functools.reduce(
    lambda a, _: [a], range(50), 0)}))], ["result"])
worker_case("worker line of 9 Mi characters", [json.dumps(req("ping", {"echo": "x" * (9 * 2**20)}))], ["protocol"])
worker_case("worker invalid JSON", ["{nope"], ["protocol"])
worker_case("worker JSON array", ["[1, 2, 3]"], ["protocol"])
worker_case("worker JSON string", ['"ping"'], ["protocol"])
worker_case("worker JSON number", ["42"], ["protocol"])
worker_case("worker JSON null", ["null"], ["protocol"])
worker_case("worker empty object", ["{}"], ["protocol"])
worker_case("worker integer of 5000 digits", ['{"id": 1, "method": "ping", "params": {"echo": ' + "9" * 5000 + "}}"],
            ["protocol"])
worker_case("worker NaN token", ['{"id": 1, "method": "generate", "params": {"text": "walk", "seconds": NaN}}'],
            ["input"])
worker_case("worker 1e999 seed", ['{"id": 1, "method": "generate", "params": {"text": "walk", "seed": 1e999}}'],
            ["input"])
worker_case("worker invalid UTF-8", [b'{"id": 1, "method": "ping", "params": {"echo": "\xff\xfe"}}'], ["result"])
worker_case("worker NUL and escapes in strings", [req("ping", {"echo": "\0\x1b[2J"})], ["result"])
worker_case("worker method is a number", [req(5)], ["protocol"])  # type: ignore[arg-type]
worker_case("worker method is null", ['{"id": 1, "method": null}'], ["protocol"])
worker_case("worker unknown method", [req("rm_rf")], ["unknown_method"])
worker_case("worker 10 kB method name", [req("x" * 10_000)], ["unknown_method"])
worker_case("worker params is a list", [req("ping", [1, 2])], ["protocol"])
worker_case("worker params is a string", [req("ping", "x")], ["protocol"])
worker_case("worker duplicate keys", ['{"id": 1, "id": {"x": 1}, "method": "ping"}'], ["protocol"])
worker_case("worker load_motion without path", [req("load_motion", {})], ["input"])
worker_case("worker load_motion path 5", [req("load_motion", {"path": 5})], ["input"])
worker_case("worker load_motion path missing", lambda f: [req("load_motion", {"path": str(f / "no.npz")})], ["input"])
worker_case("worker load_motion rig 5", lambda f: [req("load_motion", {"path": str(_motion_file(f)), "rig": 5})],
            ["input"])
worker_case("worker load_motion as xml", lambda f: [req("load_motion", {"path": str(_motion_file(f)), "as": "xml"})],
            ["input"])
worker_case("worker load_motion NUL in path", [req("load_motion", {"path": "a\0b.npz"})], ["input"])
worker_case("worker load_motion huge npy header", lambda f: [req("load_motion", {"path": str(
    (lambda p: (p.write_bytes(npy_header((10**9, 263))), p)[1])(f / "big.npy"))})], ["input"])
worker_case("worker load_motion BVH 10000 deep", lambda f: [req("load_motion", {"path": str(
    bvh_with(f, chain_bvh(10_000)))})], ["input"])
worker_case("worker load_motion BVH frame time 1e6", lambda f: [req("load_motion", {"path": str(
    bvh_with(f, _frame_time(base_bvh(), "1000000")))})], ["input"])


def _out(folder: Path, out: str) -> list:
    return [req("load_motion", {"path": str(_motion_file(folder)), "out": out})]


worker_case("worker out outside the allowed folders", lambda f: _out(f, str(f / "elsewhere.npz")), ["input"],
            lambda f: "file written outside" if (f / "elsewhere.npz").exists() else None)
worker_case("worker out with ..", lambda f: _out(f, str(f / "allowed" / ".." / "escape.npz")), ["input"],
            lambda f: "file written outside" if (f / "escape.npz").exists() else None)
worker_case("worker out in a missing nested folder", lambda f: _out(f, str(f / "allowed" / "a" / "b" / "o.npz")),
            ["input"], lambda f: "folders created" if (f / "allowed" / "a").exists() else None)
worker_case("worker out relative", lambda f: _out(f, "relative.npz"), ["input"])
worker_case("worker out is /etc/passwd", lambda f: _out(f, "/etc/passwd"), ["input"])
worker_case("worker out wrong extension", lambda f: _out(f, str(f / "allowed" / "o.txt")), ["input"])


@case("worker out through a symlink leading outside", "worker")
def _(folder: Path) -> Worker:
    (folder / "outside").mkdir()
    (folder / "allowed" / "link").symlink_to(folder / "outside")
    return Worker([json.dumps(x) for x in _out(folder, str(folder / "allowed" / "link" / "o.npz"))], ["input"],
                  lambda f: "file written through the link" if (f / "outside" / "o.npz").exists() else None)


@case("worker out onto an existing file", "worker")
def _(folder: Path) -> Worker:
    dst = folder / "allowed" / "o.npz"
    dst.write_bytes(b"precious")
    return Worker([json.dumps(x) for x in _out(folder, str(dst))], ["input"], unchanged(dst, b"precious"))


worker_case("worker out inside the allowed folder (fine)", lambda f: _out(f, str(f / "allowed" / "o.npz")),
            ["result"], lambda f: None if (f / "allowed" / "o.npz").is_file() else "no output")
worker_case("worker generate seed abc", [req("generate", {"text": "walk", "seed": "abc"})], ["input"])
worker_case("worker generate seed 2**70", [req("generate", {"text": "walk", "seed": 2**70})], ["input"])
worker_case("worker generate seed -1", [req("generate", {"text": "walk", "seed": -1})], ["input"])
worker_case("worker generate num 10000", [req("generate", {"text": "walk", "num": 10_000})], ["input"])
worker_case("worker generate num true", [req("generate", {"text": "walk", "num": True})], ["input"])
worker_case("worker generate seconds string", [req("generate", {"text": "walk", "seconds": "4"})], ["input"])
worker_case("worker generate seconds 1e300", [req("generate", {"text": "walk", "seconds": 1e300})], ["input"])
worker_case("worker generate frames 1e9", [req("generate", {"text": "walk", "frames": 10**9})], ["input"])
worker_case("worker generate seconds and frames", [req("generate", {"text": "walk", "seconds": 2, "frames": 40})],
            ["input"])
worker_case("worker generate levels 7", [req("generate", {"text": "walk", "levels": 7})], ["input"])
worker_case("worker generate descriptions {groups: {}}", [req("generate", {"text": "walk", "descriptions":
                                                                          {"groups": {}}})], ["input"])
worker_case("worker generate descriptions a string", [req("generate", {"text": "walk", "descriptions": "x"})],
            ["input"])
worker_case("worker generate text 5", [req("generate", {"text": 5})], ["input"])
worker_case("worker generate text empty", [req("generate", {"text": "  "})], ["input"])
worker_case("worker generate model 5", [req("generate", {"text": "walk", "model": 5})], ["input"])
worker_case("worker generate bvh 'yes'", [req("generate", {"text": "walk", "bvh": "yes"})], ["input"])
worker_case("worker generate out outside", lambda f: [req("generate", {"text": "walk", "out": str(f / "x")})],
            ["input"], lambda f: "folder created outside" if (f / "x").exists() else None)
worker_case("worker generate out with ..", lambda f: [req("generate", {"text": "walk", "out": str(
    f / "allowed" / ".." / "x")})], ["input"], lambda f: "folder created outside" if (f / "x").exists() else None)
worker_case("worker generate device 'tpu'", [req("generate", {"text": "walk", "device": "tpu"})], ["input"])
worker_case("worker expand text list", [req("expand", {"text": ["a"]})], ["input"])
worker_case("worker expand seed 1.5", [req("expand", {"text": "a walk", "seed": 1.5})], ["input"])
CASES.append(Case("worker shutdown with junk params", "worker", lambda f: Worker(
    ['{"method": "shutdown", "params": [1, {"x": []}]}'], [], final_ping=False)))


# ---------------------------------------------------------------------------------------------- runners
def _control_chars(text: str) -> list[str]:
    return sorted({c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0
                   or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"})


def judge_cli(spec: Cli, code: int, stdout: str, stderr: str, folder: Path) -> list[str]:
    """Problems with a CLI run (empty: a clean outcome): exit code, one-line error, no traceback, files intact."""
    problems = []
    debug = "--debug" in spec.argv
    if "Traceback" in stderr and not debug:
        problems.append("traceback")
    if code not in spec.codes:
        problems.append(f"exit code {code}, expected {spec.codes}")
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("warning: ")]
    if code != 0 and not debug and (len(lines) != 1 or not lines[0].startswith("error: ")):
        problems.append(f"stderr is not one error line: {stderr[-300:]!r}")
    if debug and "Traceback" not in stderr:
        problems.append("--debug showed no traceback")
    bad = _control_chars(stderr) + (_control_chars(stdout) if spec.clean_stdout else [])
    if bad:
        problems.append(f"control characters printed: {bad}")
    if spec.check is not None and (p := spec.check(folder)):
        problems.append(p)
    return problems


def worker_input(spec: Worker) -> bytes:
    """The bytes sent to the worker: the case's lines, then (unless the case shuts it down) a final ping."""
    out = b"".join((x if isinstance(x, bytes) else x.encode("utf-8", "surrogateescape")) + b"\n" for x in spec.lines)
    if spec.final_ping:
        out += b'{"id": "final", "method": "ping"}\n'
    return out


def judge_worker(spec: Worker, stdout: str, code: int | None, folder: Path) -> list[str]:
    """Problems with a worker run: one typed reply per answered line, in order; the final ping answered; exit 0."""
    problems = []
    replies = []
    for line in stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            problems.append(f"a stdout line is not JSON: {line[:100]!r}")
            continue
        if "event" in msg or "progress" in msg:
            continue
        replies.append(msg)
    want = [e for e in spec.errors if e is not None] + (["result"] if spec.final_ping else [])
    got = [r["error"]["type"] if "error" in r else "result" for r in replies]
    if got != want:
        problems.append(f"replies {got[:6]}, expected {want[:6]}")
    for r in replies:
        if "error" in r and ("\n" in r["error"].get("message", "") or not r["error"].get("message")):
            problems.append("an error message is not one line")
        if "id" in r and r["id"] is not None and not isinstance(r["id"], int | str):
            problems.append(f"a reply carries an invalid id {r['id']!r}")
    if spec.final_ping and (not replies or replies[-1].get("id") != "final"):
        problems.append("the worker stopped answering")
    if code not in (0, None):
        problems.append(f"worker exit code {code}")
    if spec.check is not None and (p := spec.check(folder)):
        problems.append(p)
    return problems


def run_in_process(c: Case, folder: Path) -> list[str]:
    """Build and run a case in this process (the quick test mode); return its problems."""
    import contextlib

    from kinmo_core.cli.main import main
    from kinmo_core.cli.worker import serve

    (folder / "allowed").mkdir(exist_ok=True)
    spec = c.build(folder)
    if isinstance(spec, Cli):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(spec.argv)
        return judge_cli(spec, code, out.getvalue(), err.getvalue(), folder)
    stdin = io.StringIO(worker_input(spec).decode("utf-8", "replace"))
    out, err = io.StringIO(), io.StringIO()
    code = serve(stdin, out, err, allowed_dirs=[folder / "allowed"])
    return judge_worker(spec, out.getvalue(), code, folder)
