"""Token in-painting: regenerate the motion tokens over a frame range while the tokens around it stay the source's.

The source's features are encoded by the pipeline's RVQ; token positions whose 4 frames lie outside the range
(widened by `margin` frames, room for the transition) are kept in every quantizer layer, the others are decoded
anew by the masked transformer (coarse to fine, under the new text) and the residual transformer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import torch

from kinmo_core.errors import KinmoInputError

DEFAULT_MARGIN: int = 4
"""Frames on each side of the range whose tokens are regenerated too, so the transition is the model's."""


def decoding_settings(pipe, one_pass: bool = True):
    """The pipeline's decoding settings, in one pass under all levels when one_pass (half the transformer passes;
    as good on every measure in BENCHMARKS.md, and what keeps an edit and a timeline within their time targets)."""
    return dataclasses.replace(pipe.settings, coarse_to_fine=False) if one_pass else pipe.settings


def encode_features(pipe, features: np.ndarray) -> torch.Tensor:
    """Return the RVQ codes (T', Q) of features (T, 263), padded to whole tokens by repeating the last frame."""
    unit = pipe.parts.rvq.cfg.frames_per_token
    n = math.ceil(len(features) / unit) * unit
    f = np.concatenate([features, np.repeat(features[-1:], n - len(features), 0)], 0)
    x = (torch.from_numpy(np.asarray(f, np.float32)).to(pipe.device) - pipe.mean) / pipe.std
    return pipe.parts.rvq.encode(x[None])[0]


def token_keep_mask(num_frames: int, start: int, stop: int, unit: int, margin: int = DEFAULT_MARGIN) -> torch.Tensor:
    """Return (T',) bool: True for tokens lying wholly outside frames [start - margin, stop + margin)."""
    n = math.ceil(num_frames / unit)
    first = torch.arange(n) * unit
    last = first + unit  # exclusive
    return (last <= start - margin) | (first >= stop + margin)


def inpaint_features(pipe, features: np.ndarray, start: int, stop: int, text: str, seed: int = 0, num: int = 1,
                     levels: int | None = None, descriptions: Mapping | None = None,
                     margin: int = DEFAULT_MARGIN, keep_tokens: bool = True,
                     one_pass: bool = True) -> tuple[list[np.ndarray], list]:
    """Return `num` feature arrays (T, 263) with frames [start, stop) regenerated under text; and the descriptions.

    keep_tokens=False generates the whole window from the text alone (no in-painting), for comparison.
    one_pass: decode once under all text levels instead of coarse to fine (`decoding_settings`).
    """
    from kinmo_core.generation_limits import MAX_FRAMES, MIN_FRAMES

    n = len(features)
    if not MIN_FRAMES <= n <= MAX_FRAMES:
        raise KinmoInputError(f"an in-painting window must have {MIN_FRAMES} to {MAX_FRAMES} frames, got {n}")
    unit = pipe.parts.rvq.cfg.frames_per_token
    init = keep = None
    if keep_tokens:
        codes = encode_features(pipe, features)
        keep_one = token_keep_mask(n, start, stop, unit, margin)
        init = codes[None].expand(num, -1, -1)
        keep = keep_one[None].expand(num, -1)
    return pipe.generate_features([text] * num, n, seed=seed, levels=levels, descriptions=[descriptions] * num,
                                  init_codes=init, keep=keep, settings=decoding_settings(pipe, one_pass))
