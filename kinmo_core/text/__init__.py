"""Frozen, offline text encoders: sentence embeddings and token features (MiniLM by default)."""

from __future__ import annotations

from kinmo_core.text.encoders import (
    EMBED_DIM,
    SentenceEncoder,
    TokenEncoder,
    default_model_path,
    get_sentence_encoder,
    get_token_encoder,
)

__all__ = [
    "EMBED_DIM",
    "SentenceEncoder",
    "TokenEncoder",
    "default_model_path",
    "get_sentence_encoder",
    "get_token_encoder",
]
