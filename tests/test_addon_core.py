"""The add-on's numpy-only core: `make addon` puts exact copies of kinmo_core's core modules into the zip, and the
installed add-on imports those copies, with neither kinmo_core nor torch available."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from conftest import ROOT

sys.path.insert(0, str(ROOT))  # the add-on folder is not an installed package
from blender_addon import build  # noqa: E402
from blender_addon.core import CORE_MODULES  # noqa: E402


def test_zip_holds_an_exact_copy_of_the_core(tmp_path):
    zip_path = build.build(tmp_path)
    with zipfile.ZipFile(zip_path) as zf:
        copied = {n.removeprefix("kinmo/_core/"): zf.read(n) for n in zf.namelist() if n.startswith("kinmo/_core/")}
    assert set(copied) == {"__init__.py"} | {f"{m}.py" for m in CORE_MODULES}
    for m in CORE_MODULES:
        assert copied[f"{m}.py"] == (ROOT / "kinmo_core" / "motion" / f"{m}.py").read_bytes(), m


def test_installed_addon_imports_its_copy_without_kinmo_core_or_torch(tmp_path):
    with zipfile.ZipFile(build.build(tmp_path)) as zf:
        zf.extractall(tmp_path / "addons")
    script = (
        "import sys\n"
        "sys.modules['kinmo_core'] = None; sys.modules['torch'] = None; sys.modules['scipy'] = None\n"
        f"sys.path.insert(0, {str(tmp_path / 'addons')!r})\n"
        "import numpy as np\n"
        "from kinmo import core\n"
        "assert core.skeleton.__name__ == 'kinmo._core.skeleton', core.skeleton.__name__\n"
        "assert all(getattr(core, m).__name__.startswith('kinmo._core.') for m in core.CORE_MODULES)\n"
        "assert core.contacts.foot_contacts(np.zeros((3, 22, 3))).all()\n"
        "assert core.bonenames.split_name('mixamorig:LeftUpLeg').stem == 'upleg'\n"
        "from kinmo.retarget import solve\n"
        "print('core ok')\n"
    )
    run = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "core ok" in run.stdout, run.stdout + run.stderr
