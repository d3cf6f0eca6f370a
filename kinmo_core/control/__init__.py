"""Spatial control: joints that follow trajectories, hit targets, hold pins, walk paths, meet keyframe poses.

    pipe = KinMoPipeline.from_pretrained()
    motion = pipe("a person walks", constraints=[{"kind": "path", "points": [[0, 0], [0, 3]]}])

- `constraints`: the control file format (JSON), parsing, validation, and the dense per-frame targets.
- `path`: arc-length sampling of a ground path, walking speed from the text, facing along the path.
- `guidance`: optimisation of the RVQ code logits through the differentiable decoder (MaskControl's idea).
- `solve`: the joint-space correction (inverse kinematics with exact bone lengths, joint limits, planted feet),
  built on the model-free pieces of `kinmo_core.motion.cleanup` (foot locks, two-bone IK, `clean_feet`).
- `generate`: generation under constraints with either or both methods.
"""

from kinmo_core.control.constraints import Constraint, ControlTargets, load_control, parse_constraints

__all__ = ["Constraint", "ControlTargets", "load_control", "parse_constraints"]
