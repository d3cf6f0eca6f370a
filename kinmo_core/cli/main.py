"""Entry point of the `kinmo` command: builds the parser from the subcommand modules and turns errors into one line.

Each name in `COMMANDS` is a module `kinmo_core.cli.<name>` exposing `register(subparsers) -> None` (adds its parser
and sets `func=run`) and `run(args) -> int`. A listed module that is not on disk is skipped, so subcommands can be
added one at a time. Modules import heavy libraries only inside `run`, which keeps `kinmo --help` fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
from typing import NoReturn

from kinmo_core import __version__
from kinmo_core.cli.printable import printable
from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.limits import check_seed

COMMANDS: tuple[str, ...] = (
    "generate", "edit", "compose", "retrieve", "reason", "convert", "info", "render", "corpus", "annotate", "eval",
    "worker",
)
"""Subcommand modules, in the order `kinmo --help` lists them."""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # as a process killed by SIGPIPE: the reader (e.g. `| head`) stopped reading

# Errors that mean the input is wrong (a file, a value, a model folder): one line, exit code 2.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    KinmoInputError,
    KinmoModelError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
)
# Everything else the operating system reports (permission, disk full, file too large, I/O error) is one line with
# exit code 1, as is an unexpected error (a bug: --debug shows its traceback).


def available_commands() -> list[str]:
    """Return the subcommands of COMMANDS whose module exists."""
    return [name for name in COMMANDS if importlib.util.find_spec(f"{__package__}.{name}") is not None]


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (exit code 2), like every other KinMo error."""

    def error(self, message: str) -> NoReturn:
        """Print `error: message (usage: ...)` as one line and exit with code 2."""
        usage = " ".join(self.format_usage().split())
        self.exit(EXIT_USER_ERROR, f"error: {printable(' '.join(message.split()))} ({usage})\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the `kinmo` argument parser with every available subcommand registered."""
    parser = _Parser(
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
    elif isinstance(error, OSError) and error.strerror:
        text = error.strerror
    else:
        text = str(error) or type(error).__name__
    # Messages quote file contents (joint names, text): nothing in them may drive the terminal.
    return printable(" ".join(text.split()))


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def torch_threads() -> None:
    """Set torch's thread count before torch loads: KINMO_THREADS, else the user's OMP_NUM_THREADS, else 1.

    One thread is the default because it holds up when something else uses the CPU (Blender, a second job): on two
    cores under load a 196-frame generation took 0.52 s with one thread and 1.63 s with two (BENCHMARKS.md).
    """
    value = os.environ.get("KINMO_THREADS")
    if value is None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        return
    if not value.strip().isdigit() or int(value) < 1:
        raise KinmoInputError(f"KINMO_THREADS must be a whole number of threads (1 or more), got {value!r}")
    os.environ["OMP_NUM_THREADS"] = str(int(value))
    if "torch" in sys.modules:  # already loaded (kinmo called in-process): set it directly
        sys.modules["torch"].set_num_threads(int(value))


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
        torch_threads()
        if getattr(args, "seed", None) is not None:  # every subcommand's --seed, before any work
            check_seed(args.seed, "--seed")
        code = int(args.func(args) or EXIT_OK)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at interpreter exit
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except EXPECTED_ERRORS as e:
        return _report(e, args.debug, EXIT_USER_ERROR)
    except OSError as e:
        return _report(e, args.debug, EXIT_FAILURE)
    except MemoryError as e:
        return _report(e, args.debug, EXIT_FAILURE, "out of memory")
    except Exception as e:
        return _report(e, args.debug, EXIT_FAILURE, f"internal error (a bug; --debug shows the traceback): "
                                                    f"{type(e).__name__}: {_one_line(e)}")


def _report(error: BaseException, debug: bool, code: int, text: str | None = None) -> int:
    if debug:
        traceback.print_exc()
    try:
        print(f"error: {text or _one_line(error)}", file=sys.stderr)
    except (OSError, ValueError):
        pass  # stderr is gone too: the exit code still tells
    return code


if __name__ == "__main__":
    sys.exit(main())
