"""The numpy-only core of kinmo_core the add-on uses: skeleton, kinematic groups, quaternions, bone names, contacts.

Blender's Python has numpy but no torch, so the add-on cannot import kinmo_core as a whole; these modules import
nothing but numpy (an import-linter contract in pyproject.toml keeps them so). An installed add-on imports the exact
copies `make addon` (build.py) puts in its zip under `_core/`; run from a checkout (tests, development) it imports
the repository's own modules. tests/test_addon_core.py checks that the zip holds byte-identical copies.
"""

from __future__ import annotations

import importlib.util

CORE_MODULES: tuple[str, ...] = ("skeleton", "kinematic", "quaternions", "bonenames", "contacts")
"""The modules of kinmo_core/motion/ that form the core (build.py copies exactly these)."""

if importlib.util.find_spec(f"{__package__}._core") is not None:  # the installed add-on: the zip's copy
    from ._core import bonenames, contacts, kinematic, quaternions, skeleton
else:  # a checkout: the repository's kinmo_core (importing it loads no torch: kinmo_core is lazy)
    from kinmo_core.motion import bonenames, contacts, kinematic, quaternions, skeleton

__all__ = ["CORE_MODULES", "bonenames", "contacts", "kinematic", "quaternions", "skeleton"]
