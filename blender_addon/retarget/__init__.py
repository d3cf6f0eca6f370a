"""Retargeting KinMo motion onto any armature, in numpy alone (no bpy), so it is testable without Blender.

`source` (motion files, resampling) -> `rig` (an armature as data, pose maths, the default SMPL-22 armature) ->
`bone_map` (joint -> bone maps) -> `solve` (the retargeting solve, foot cleanup) and `metrics` (quality figures).
Skeleton, groups, quaternions, bone names and foot contacts come from the numpy-only core (`blender_addon.core`).
"""
