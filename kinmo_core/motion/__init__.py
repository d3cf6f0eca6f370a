"""The motion representation: everything about one motion, below every model and product.

- `skeleton`: the 22-joint SMPL skeleton (joint order, parents, rest offsets, bone lengths, fps).
- `kinematic`: the six kinematic groups and their fifteen pairs (stable string keys).
- `quaternions`: quaternions in numpy; `rotations`: quaternion and 6D rotation helpers in torch (features, IK).
- `features`: HumanML3D's 263-d features (extraction, recovery, mirroring).
- `group_representation`: the group and group-interaction representation of paper Eq. 1-3.
- `contacts`: foot contacts and foot skating, defined once.
- `plausibility`: physical plausibility figures of joint motions (bone lengths, joint limits, jerks).
- `ik`: rotations from joint positions (inverse kinematics) and forward kinematics.
- `cleanup`: foot-contact and jitter cleanup of joint motions (locked feet, floor, filtering), used by the pipeline
  and by control's solve.
- `bvh`: reading and writing BVH files.
- `bonenames`: which bone of a rig stands for each joint, from names (presets, synonyms); data-driven.
- `rigs`: mapping other skeletons (BVH rigs) onto the 22 joints.
- `file`: the motion file (`.npz`) and the `Motion` class.

Importing this package imports none of its modules, so light callers (the CLI's --help) stay light.
`skeleton`, `kinematic`, `quaternions`, `bonenames` and `contacts` form the numpy-only core: they import numpy and
each other (relatively) only, because `make addon` copies them into the Blender add-on (blender_addon/core.py).
"""
