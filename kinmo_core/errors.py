"""Errors that mean "the user's input is wrong", shown by the CLI as one line with exit code 2."""

from __future__ import annotations


class KinmoInputError(ValueError):
    """Bad user input (a file, prompt, length, rig or frame range): the message is one clear line."""


class KinmoModelError(RuntimeError):
    """A model or checkpoint that cannot be used (wrong shape, corrupt file, other version)."""
