"""The README's Python example runs as written (with a clip and an array of joints supplied)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import ROOT


def _python_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("```python\n", text.index("\n## Python\n")) + len("```python\n")
    return text[start:text.index("```", start)]


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path, monkeypatch, fixture_features, fixture_joints):
    from kinmo_core import Motion

    monkeypatch.chdir(tmp_path)
    Motion.from_features(fixture_features).to_bvh(tmp_path / "clip.bvh")
    namespace = {"joints_at_30fps": np.asarray(fixture_joints[:90], np.float32)}
    exec(compile(_python_example(), "README.md", "exec"), namespace)
    walk, edited, circle, long = (namespace[k] for k in ("walk", "edited", "circle", "long"))
    assert edited.num_frames == walk.num_frames == 120
    np.testing.assert_allclose(edited.joints[:40], walk.joints[:40], atol=1e-5)  # outside the range: unchanged
    assert abs(circle.num_frames - 160) <= 1 and long.seconds >= 14  # 8 s of path (its end frame included)
    for name in ("edited.npz", "clip.npz", "clip.gif"):
        assert (tmp_path / name).stat().st_size > 0
    assert namespace["m2"].num_frames > 0
