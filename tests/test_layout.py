"""The package layout: the lazy public API and the import contracts of pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def test_public_api_is_lazy():
    code = ("import sys, kinmo_core; heavy = [m for m in ('torch', 'scipy', 'transformers', 'kinmo_core.pipeline') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_public_api_names():
    import kinmo_core
    from kinmo_core import KinMoPipeline, Motion, load_motion
    from kinmo_core.motion.file import Motion as FileMotion
    from kinmo_core.motion.file import load_motion as file_load_motion
    from kinmo_core.pipeline import KinMoPipeline as PipelineClass

    assert KinMoPipeline is PipelineClass and Motion is FileMotion and load_motion is file_load_motion
    assert {"KinMoPipeline", "Motion", "load_motion"} <= set(dir(kinmo_core))
    with pytest.raises(AttributeError):
        kinmo_core.no_such_name  # noqa: B018


LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (pip extra 'dev')")
def test_import_contracts_are_kept():
    out = subprocess.run([str(LINT_IMPORTS), "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "0 broken" in out.stdout
