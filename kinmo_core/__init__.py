"""KinMo: kinematic-aware text-to-motion, retrieval and editing on the 22-joint SMPL skeleton."""

__version__ = "0.1.0"
