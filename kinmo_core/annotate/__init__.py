"""The KinMo annotation pipeline (paper Sec. 3.2): posecodes, keyframes, temporal analysis, group descriptions.

Stages: `body.measure` (body-frame measurements) -> `posecodes.describe_poses` (per-frame pose
sentences per group) -> `keyframes.select_keyframes` (sentence-embedding similarity) ->
`temporal.analyse` (per-group actions, periodicity, changes between keyframes) -> an annotator
(`rules`, `openai` or `hf`) writing six group-level and fifteen interaction-level descriptions.
`pipeline.annotate_dataset` runs a whole dataset into one versioned JSON file; `evaluate` scores
descriptions against a synthetic corpus's hidden ground truth; `agreement` measures reviewers'
agreement. Annotators only ever receive joint positions (and captions), never ground truth.
"""

from __future__ import annotations

from kinmo_core.annotate.annotations import (
    FORMAT_VERSION,
    RulesAnnotator,
    annotate_dataset,
    annotate_joints,
    make_annotator,
    read_annotations,
)
from kinmo_core.annotate.core import MotionAnalysis, analyse_motion

__all__ = [
    "FORMAT_VERSION",
    "MotionAnalysis",
    "RulesAnnotator",
    "analyse_motion",
    "annotate_dataset",
    "annotate_joints",
    "make_annotator",
    "read_annotations",
]
