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


def _exists_error(path: Path) -> KinmoInputError:
    return KinmoInputError(f"{path}: already exists; pass --overwrite to replace it")


def _publish_new(tmp: Path, path: Path) -> None:
    """Move the finished `tmp` to `path` only if `path` does not exist, atomically: of two writers, one fails."""
    try:
        os.link(tmp, path)  # fails with EEXIST when another process created `path` meanwhile
        return
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError:
        pass  # a file system without hard links: reserve the name with O_EXCL, then move the file over it
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        raise _exists_error(path) from None
    os.replace(tmp, path)


def check_output_file(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check, before any work, that a file may be written at `path` (new unless overwrite, in an existing folder)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise _exists_error(path)
    if path.is_dir():
        raise KinmoInputError(f"{path}: is a folder")
    if not path.parent.is_dir():
        raise KinmoInputError(f"{path}: the folder {path.parent} does not exist")
    return path


@contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write to; on success it replaces `path`, on failure it is removed.

    Without overwrite the final step fails if `path` appeared meanwhile (another process): no-clobber is atomic.
    """
    path = check_output_file(path, overwrite)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except PermissionError:
        raise KinmoInputError(f"{path}: no permission to write in {path.parent}") from None
    tmp = Path(name)
    try:
        os.fchmod(fd, _default_mode())
        os.close(fd)
        yield tmp
        if overwrite:
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
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


def check_output_folder(folder: str | os.PathLike) -> Path:
    """Check, before any work, that `folder` is or can be made a folder we may write in; return it as a Path."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise KinmoInputError(f"{folder}: {existing} exists and is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise KinmoInputError(f"{folder}: no permission to write in {existing}")
    return folder
