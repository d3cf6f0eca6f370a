"""Train the residual transformer (RVQ layers 1..Q-1) under hierarchical text conditions.

    python -m training.train_residual --data data/synth20k data/bandai:8 --rvq runs/rvq --cond sentence \\
        --levels 3 --out runs/residual_sentence_l3

Arguments and caches as in `training.train_generator` (the two share the code and condition caches).
"""

from __future__ import annotations

from training.train_generator import train


def main(argv: list[str] | None = None) -> int:
    """Train the residual transformer; returns an exit code."""
    return train("residual", argv)


if __name__ == "__main__":
    raise SystemExit(main())
