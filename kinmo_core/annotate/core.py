"""One motion through the pipeline: measurements, posecodes, keyframes, temporal analysis, then an annotator.

The annotator API takes joint positions (and optional captions) only: ground-truth labels
of a synthetic corpus cannot reach it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kinmo_core.annotate.keyframes import DEFAULT_THRESHOLD, frame_embeddings, select_keyframes
from kinmo_core.annotate.measure import BodyMeasures, measure
from kinmo_core.annotate.posecodes import HAND_AT_HIP_DISTANCE, HIP_ELBOW_OUT, PoseDescriptions, describe_poses
from kinmo_core.annotate.temporal import GroupTimeline, analyse, group_positions, keyframe_changes
from kinmo_core.motion.kinematic import GROUPS, PAIR_GROUPS, PAIRS
from kinmo_core.motion.skeleton import FPS

RELATION_MIN_SHARE: float = 0.25
"""A contact relation (hands touching, hand at hip...) is mentioned when it holds in this share of frames."""
DISTANCE_CHANGE: float = 0.15
"""A pair's distance must vary this much (m) over the motion to be mentioned."""


@dataclass
class MotionAnalysis:
    """Everything the annotators read about one motion (all derived from its joints)."""

    motion_id: str
    body: BodyMeasures
    poses: PoseDescriptions
    keyframes: list[int]
    timeline: GroupTimeline
    changes: list[dict]

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return self.body.n_frames

    @property
    def fps(self) -> float:
        """Frame rate."""
        return self.body.fps

    def keyframe_descriptions(self) -> list[dict]:
        """Return per keyframe its time and the six group sentences."""
        return [
            {
                "frame": int(k),
                "time_s": round(k / self.fps, 2),
                "groups": {g: self.poses.group_sentence(g, k) for g in GROUPS},
            }
            for k in self.keyframes
        ]

    def pair_relation(self, pair: str) -> str:
        """Return one sentence on how the two groups of a pair sit relative to each other (paper Eq. 3, dP)."""
        a, b = PAIR_GROUPS[pair]
        P = group_positions(self.body)
        d = P[b] - P[a]
        dist = np.linalg.norm(d, axis=-1)
        clauses = []
        m = self.body.m
        contact = {
            frozenset(("left_arm", "right_arm")): (m["hands_distance"] < 0.15, "the hands touch"),
            frozenset(("left_arm", "torso")): (
                # A hanging hand is near the hip too; on the hip, the elbow sticks out.
                (m["left_wrist_to_hip"] < HAND_AT_HIP_DISTANCE) & (m["left_elbow_outward"] > HIP_ELBOW_OUT),
                "the left hand is on the hip",
            ),
            frozenset(("right_arm", "torso")): (
                # A hanging hand is near the hip too; on the hip, the elbow sticks out.
                (m["right_wrist_to_hip"] < HAND_AT_HIP_DISTANCE) & (m["right_elbow_outward"] > HIP_ELBOW_OUT),
                "the right hand is on the hip",
            ),
            frozenset(("left_arm", "neck")): (m["left_wrist_to_head"] < 0.22, "the left hand comes near the head"),
            frozenset(("right_arm", "neck")): (m["right_wrist_to_head"] < 0.22, "the right hand comes near the head"),
        }.get(frozenset((a, b)))
        if contact is not None and contact[0].mean() > RELATION_MIN_SHARE:
            share = int(round(100 * contact[0].mean()))
            clauses.append(f"{contact[1]} in {share}% of the frames")
        if dist.max() - dist.min() > DISTANCE_CHANGE:
            near = "closer" if dist[-1] < dist[0] else "further apart"
            clauses.append(
                f"their distance varies between {dist.min() * 100:.0f} and {dist.max() * 100:.0f} cm, "
                f"ending {near} than it starts"
            )
        if not clauses:
            mean = d.mean(0)
            axis = int(np.argmax(np.abs(mean)))
            words = [("to the left of", "to the right of"), ("above", "below"), ("in front of", "behind")][axis]
            word = words[0] if mean[axis] > 0 else words[1]
            clauses.append(f"{_name(b)} stays {word} {_name(a)} at a nearly constant distance")
        text = "; ".join(clauses)
        return text[0].upper() + text[1:] + "."


def _name(group: str) -> str:
    return {"neck": "the head"}.get(group, "the " + group.replace("_", " "))


def analyse_motion(
    joints: np.ndarray,
    motion_id: str = "motion",
    encoder=None,
    threshold: float = DEFAULT_THRESHOLD,
    mode: str = "groups",
    fps: float = FPS,
) -> MotionAnalysis:
    """Run stages 1-3 (posecodes, keyframes, temporal analysis) on (T, 22, 3) joints."""
    body = measure(joints, fps=fps, motion_id=motion_id)
    poses = describe_poses(body)
    if encoder is None:
        from kinmo_core.text import get_sentence_encoder

        encoder = get_sentence_encoder()
    keys = select_keyframes(frame_embeddings(poses, encoder, mode), threshold)
    timeline = analyse(body)
    changes = keyframe_changes(body, keys)
    return MotionAnalysis(
        motion_id=motion_id, body=body, poses=poses, keyframes=keys, timeline=timeline, changes=changes
    )


def timeline_json(analysis: MotionAnalysis) -> dict[str, list[dict]]:
    """Return the detected action segments per group as plain JSON data."""
    return {
        g: [{"start": s.start, "end": s.end, "action": s.action, **s.details} for s in analysis.timeline.segments[g]]
        for g in GROUPS
    }


def check_description_keys(result: dict) -> None:
    """Raise ValueError unless result has exactly the six group and fifteen pair keys with non-empty strings."""
    for field, keys in (("groups", GROUPS), ("interactions", PAIRS)):
        part = result.get(field)
        if not isinstance(part, dict) or set(part) != set(keys):
            raise ValueError(f"'{field}' must have exactly the keys {', '.join(keys)}")
        for k, v in part.items():
            if not isinstance(v, str) or not v.strip():
                raise ValueError(f"'{field}.{k}' must be a non-empty string")
