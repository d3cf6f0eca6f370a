"""Safe output files: never replace a user's file unasked, never leave half a file behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kinmo_core.errors import KinmoInputError


def _default_mode() -> int:
    # mkstemp creates files readable by their owner only; a finished output should get the usual umask-based mode.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write to; on success it replaces `path`, on failure it is removed."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise KinmoInputError(f"{path}: already exists; pass --overwrite to replace it")
    if path.is_dir():
        raise KinmoInputError(f"{path}: is a folder")
    if not path.parent.is_dir():
        raise KinmoInputError(f"{path}: the folder {path.parent} does not exist")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except PermissionError:
        raise KinmoInputError(f"{path}: no permission to write in {path.parent}") from None
    tmp = Path(name)
    try:
        os.fchmod(fd, _default_mode())
        os.close(fd)
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, write: Callable, overwrite: bool = False) -> Path:
    """Call write(binary file object) on a temporary file beside `path`, flush it to disk, then move it into place."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)
