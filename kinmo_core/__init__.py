"""KinMo: kinematic-aware text-to-motion, retrieval and editing on the 22-joint SMPL skeleton.

    from kinmo_core import KinMoPipeline, Motion, load_motion

The public names are imported on first use (PEP 562), so `import kinmo_core` and `kinmo --help` stay light.

Layout, lowest layer first (each imports only from layers below it; `make test` checks it with import-linter):
`errors`, `fileio` -> `motion/` (the representation: skeleton, groups, rotations, features, IK, BVH, rigs,
contacts, the motion file) -> `models/`, `text/` -> `render` -> `data/` -> `annotate/` -> `reasoner` -> `alignment`
-> `conditioning` -> products (`pipeline`, `retrieval/`, `editing/`, `control/`) -> `eval/` -> `cli/`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

_LAZY = {
    "KinMoPipeline": "kinmo_core.pipeline",
    "Motion": "kinmo_core.motion.file",
    "load_motion": "kinmo_core.motion.file",
}

__all__ = ["KinMoPipeline", "Motion", "__version__", "load_motion"]

if TYPE_CHECKING:
    from kinmo_core.motion.file import Motion, load_motion
    from kinmo_core.pipeline import KinMoPipeline


def __getattr__(name: str):
    """Import a public name on first use."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kinmo_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
