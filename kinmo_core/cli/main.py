"""Entry point of the `kinmo` command: builds the parser from the subcommand modules and turns errors into one line.

Each name in `COMMANDS` is a module `kinmo_core.cli.<name>` exposing `register(subparsers) -> None` (adds its parser
and sets `func=run`) and `run(args) -> int`. A listed module that is not on disk is skipped, so subcommands can be
added one at a time. Modules import heavy libraries only inside `run`, which keeps `kinmo --help` fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import traceback

from kinmo_core import __version__
from kinmo_core.errors import KinmoInputError, KinmoModelError

COMMANDS: tuple[str, ...] = (
    "generate", "edit", "compose", "retrieve", "reason", "convert", "info", "render", "corpus", "annotate", "eval",
    "worker",
)
"""Subcommand modules, in the order `kinmo --help` lists them."""

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

# Errors that mean the input or the environment is wrong, not KinMo: shown as one line, exit code 2.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    KinmoInputError,
    KinmoModelError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    FileExistsError,
)


def available_commands() -> list[str]:
    """Return the subcommands of COMMANDS whose module exists."""
    return [name for name in COMMANDS if importlib.util.find_spec(f"{__package__}.{name}") is not None]


def build_parser() -> argparse.ArgumentParser:
    """Return the `kinmo` argument parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="kinmo",
        description="KinMo: text to 3D human motion with per-body-part control. Motion files, previews and tools.",
    )
    parser.add_argument("--version", action="version", version=f"kinmo {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in available_commands():
        importlib.import_module(f"{__package__}.{name}").register(subparsers)
    return parser


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Run `kinmo` with argv (default sys.argv[1:]) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version and usage errors (argparse already printed them)
        return e.code if isinstance(e.code, int) else EXIT_USER_ERROR
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USER_ERROR
    try:
        return int(args.func(args) or EXIT_OK)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except EXPECTED_ERRORS as e:
        if args.debug:
            traceback.print_exc()
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
