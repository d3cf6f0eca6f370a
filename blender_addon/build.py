"""Build the installable add-on zip (`make addon`): dist/kinmo-<version>.zip with every file under one `kinmo/` folder.

That layout installs both ways: as an extension (Blender reads blender_manifest.toml from a single top folder) and
with "Install legacy Add-on" (a folder holding __init__.py with bl_info). Runs with plain Python, no Blender needed.

The numpy-only core of kinmo_core the add-on needs (`core.CORE_MODULES` of kinmo_core/motion/) goes in as exact
copies under `kinmo/_core/`, which `blender_addon/core.py` imports in Blender.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import os
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXCLUDE = ("__pycache__", "*.pyc", "*.zip", "build.py", ".*")
ZIP_MODE = 0o644
"""The zip and the files in it are readable by everyone (mkstemp alone would leave the zip private to its owner)."""
CORE_SOURCE = HERE.parent / "kinmo_core" / "motion"
CORE_DIR = "_core"
CORE_INIT = b'"""Copies of kinmo_core/motion/ modules (numpy only), put here by blender_addon/build.py."""\n'


def core_modules(source: Path = HERE) -> tuple[str, ...]:
    """The core module names, read from core.py's CORE_MODULES without importing it."""
    for node in ast.parse((source / "core.py").read_text()).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name) and target.id == "CORE_MODULES":
                return tuple(ast.literal_eval(node.value))
    raise KeyError("CORE_MODULES not found in core.py")


def core_files(source: Path = HERE, core_source: Path = CORE_SOURCE) -> dict[str, bytes]:
    """The core's files as they go into the zip: {path below the add-on folder: bytes}."""
    out = {f"{CORE_DIR}/__init__.py": CORE_INIT}
    for name in core_modules(source):
        out[f"{CORE_DIR}/{name}.py"] = (core_source / f"{name}.py").read_bytes()
    return out


def addon_files(source: Path = HERE) -> list[Path]:
    """The files that go into the zip, sorted (caches, zips and this script left out)."""
    out = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(fnmatch.fnmatch(part, pat) for part in rel.parts for pat in EXCLUDE) or not path.is_file():
            continue
        out.append(path)
    return out


def build(output_dir: Path, source: Path = HERE, overwrite: bool = False) -> Path:
    """Write kinmo-<version>.zip into output_dir atomically and return its path."""
    manifest = tomllib.loads((source / "blender_manifest.toml").read_text())
    target = Path(output_dir) / f"{manifest['id']}-{manifest['version']}.zip"
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists (pass --overwrite to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".zip.tmp", dir=target.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            entries = {path.relative_to(source).as_posix(): path.read_bytes() for path in addon_files(source)}
            entries.update(core_files(source))
            for rel, data in entries.items():
                # A fixed timestamp keeps the zip identical from one build to the next.
                info = zipfile.ZipInfo(f"{manifest['id']}/{rel}", (2024, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (0o100000 | ZIP_MODE) << 16  # a regular file, rw-r--r-- when unpacked
                zf.writestr(info, data)
        os.chmod(tmp, ZIP_MODE)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command line: python blender_addon/build.py [--output-dir dist] [--overwrite]."""
    parser = argparse.ArgumentParser(description="Build the KinMo Blender add-on zip.")
    parser.add_argument("--output-dir", type=Path, default=HERE.parent / "dist")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing zip of this version")
    args = parser.parse_args(argv)
    try:
        path = build(args.output_dir, overwrite=args.overwrite)
    except (FileExistsError, OSError, KeyError, tomllib.TOMLDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
