"""Limits of one generation (length, prompt size) and prompt cleaning, shared by the pipeline and the editing tools."""

from __future__ import annotations

import warnings

from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.skeleton import FPS

MIN_SECONDS: float = 1.0
MAX_SECONDS: float = 10.0
MIN_FRAMES: int = int(MIN_SECONDS * FPS)
MAX_FRAMES: int = int(MAX_SECONDS * FPS)
MAX_TEXT_WORDS: int = 60
"""Longer prompts are cut to this many words (with a warning); HumanML3D captions average about 12."""


def clean_text(text: str) -> str:
    """Return text stripped and cut to MAX_TEXT_WORDS words (warning when cut); KinmoInputError if empty."""
    if not isinstance(text, str):
        raise KinmoInputError(f"the prompt must be a string, got {type(text).__name__}")
    words = text.split()
    if not words:
        raise KinmoInputError("the prompt is empty; describe a motion, e.g. 'a person waves with the left hand'")
    if len(words) > MAX_TEXT_WORDS:
        warnings.warn(f"the prompt has {len(words)} words; only the first {MAX_TEXT_WORDS} are used", stacklevel=3)
        words = words[:MAX_TEXT_WORDS]
    return " ".join(words)
