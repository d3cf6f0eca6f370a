"""Retrieval and sides: judging retrieved motions with a prompt's check and its mirror, on a tiny mirrored gallery."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from kinmo_core.errors import KinmoInputError
from kinmo_core.eval import retrieval_side as rs
from kinmo_core.eval.part_prompts import PART_PROMPTS, PartPrompt
from kinmo_core.motion.features import joints_to_features, mirror_joints
from kinmo_core.motion.skeleton import JOINT_INDEX, rest_pose

J = JOINT_INDEX
T = 40
LEFT_RAISE = PartPrompt("a person raises the left hand", "left_arm", "raise", "left")
RIGHT_RAISE = PartPrompt("a person raises the right hand", "right_arm", "raise", "right")


def _pose(raised: tuple[str, ...]) -> np.ndarray:
    """Joints (T, 22, 3): the rest pose, with each named arm's elbow and wrist straight above its shoulder for 20
    frames (the elbow's and wrist's rest offsets turned upward, so bone lengths stay)."""
    j = np.repeat(rest_pose()[None].astype(np.float64), T, axis=0)
    for side in raised:
        s, e, w = J[f"{side}_shoulder"], J[f"{side}_elbow"], J[f"{side}_wrist"]
        upper = np.linalg.norm(j[0, e] - j[0, s])
        fore = np.linalg.norm(j[0, w] - j[0, e])
        j[10:30, e] = j[10:30, s] + [0.0, upper, 0.0]
        j[10:30, w] = j[10:30, e] + [0.0, fore, 0.0]
    return j.astype(np.float32)


@pytest.fixture(scope="module")
def gallery() -> dict[str, np.ndarray]:
    left = _pose(("left",))
    return {"left": left, "mirror": np.asarray(mirror_joints(left)), "stand": _pose(()),
            "both": _pose(("left", "right"))}


def test_the_tiny_gallery_is_what_it_claims(gallery) -> None:
    # guards the fixture: the mirrored motion raises the right arm, and the checks see it
    assert rs.Judge(gallery.get)("left", LEFT_RAISE).followed
    assert rs.Judge(gallery.get)("mirror", RIGHT_RAISE).followed
    assert not rs.Judge(gallery.get)("stand", LEFT_RAISE).named


def test_top1_other_side_is_the_mirror_check_on_the_first_motion(gallery) -> None:
    rankings = [["mirror", "left"], ["mirror", "stand"]]
    r = rs.judge_rankings([LEFT_RAISE, RIGHT_RAISE], rankings, gallery.get, k=2)
    # left prompt: the mirrored motion first (other side only); right prompt: the right raise first (followed)
    assert r["top1"] == {"other_side_acts": 0.5, "named_side_acts": 0.5, "followed": 0.5, "other_side_only": 0.5,
                         "both_sides_act": 0.0}
    # top-2 shares per query: left prompt other 1/2, named 1/2; right prompt other 0/2, named 1/2
    assert r["topk"]["other_side_acts"] == pytest.approx(0.25)
    assert r["topk"]["named_side_acts"] == pytest.approx(0.5)
    assert r["topk"]["followed"] == pytest.approx(0.5)
    assert r["per_check"]["arm raise"]["prompts"] == 2
    assert r["queries"][0]["other"] == [True, False] and r["queries"][0]["named"] == [False, True]


def test_both_sides_acting_counts_as_the_other_side(gallery) -> None:
    r = rs.judge_rankings([LEFT_RAISE], [["both"]], gallery.get, k=5)
    assert r["top1"]["other_side_acts"] == 1.0 and r["top1"]["both_sides_act"] == 1.0
    assert r["top1"]["followed"] == 0.0 and r["top1"]["other_side_only"] == 0.0


def test_only_the_first_k_are_judged_and_each_motion_is_loaded_once(gallery) -> None:
    loads = collections.Counter()

    def joints_of(mid: str) -> np.ndarray:
        loads[mid] += 1
        return gallery[mid]

    r = rs.judge_rankings([LEFT_RAISE, RIGHT_RAISE], [["left", "mirror", "both"], ["left", "mirror", "both"]],
                          joints_of, k=1)
    assert r["top1"]["other_side_acts"] == 0.5 and r["topk"] == r["top1"]
    assert loads == {"left": 1}


def test_mirror_pairs_measure_side_choice_apart_from_recall(gallery) -> None:
    twins = {"left": "mirror", "mirror": "left"}
    r = rs.judge_rankings([LEFT_RAISE, RIGHT_RAISE, LEFT_RAISE], [["mirror"], ["mirror"], ["stand"]], gallery.get,
                          k=1, counterpart=twins.get)
    # left prompt ranked the right raise above its mirror (wrong pick), right prompt picked right; "stand" has no twin
    assert r["mirror_pairs"] == {"decisive_pairs": 2, "picked_followed": 0.5}
    r = rs.judge_rankings([LEFT_RAISE], [["left"]], gallery.get, k=1, counterpart=twins.get)
    assert r["mirror_pairs"] == {"decisive_pairs": 1, "picked_followed": 1.0}
    assert r["per_check"]["arm raise"]["mirror_pairs"]["picked_followed"] == 1.0
    none = rs.judge_rankings([LEFT_RAISE], [["stand"]], gallery.get, k=1, counterpart=twins.get)
    assert none["mirror_pairs"] == {"decisive_pairs": 0, "picked_followed": None}


def test_gallery_figures_count_followed_motions_per_side(gallery) -> None:
    c = rs.gallery_figures(sorted(gallery), gallery.get)
    assert c["arm raise"] == {"motions": 4, "left": 1, "right": 1}  # "both" follows neither side
    assert set(c) == {rs.check_name(p) for p in rs.side_prompts()}


def test_sided_prompts_and_checks() -> None:
    prompts = rs.side_prompts()
    assert len(prompts) == sum(p.side in ("left", "right") for p in PART_PROMPTS) == 216
    assert {rs.check_name(p) for p in prompts} == {"arm raise", "arm wave", "arm reach", "arm punch", "leg kick",
                                                   "leg lift", "neck look", "torso lean", "torso twist"}


def test_bad_input_is_refused(gallery) -> None:
    up = next(p for p in PART_PROMPTS if p.side == "up")
    with pytest.raises(KinmoInputError, match="no left/right side"):
        rs.judge_rankings([up], [["stand"]], gallery.get)
    with pytest.raises(KinmoInputError, match="rankings for"):
        rs.judge_rankings([LEFT_RAISE], [], gallery.get)
    with pytest.raises(KinmoInputError, match="no motions retrieved"):
        rs.judge_rankings([LEFT_RAISE], [[]], gallery.get)


def test_gallery_reads_splits_and_joints(gallery, tmp_path) -> None:
    root = tmp_path / "tiny"
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "new_joints").mkdir()
    for mid, name in (("000001", "left"), ("M000001", "mirror"), ("000002", "stand")):
        np.save(root / "new_joint_vecs" / f"{mid}.npy", np.asarray(joints_to_features(gallery[name])))
    np.save(root / "new_joints" / "000001.npy", gallery["left"])  # the mirror's joints come from its features
    (root / "test.txt").write_text("000001\nM000001\n")
    (root / "train.txt").write_text("000002\n")
    g = rs.load_gallery([root], "test")
    assert g.ids == ["tiny/000001", "tiny/M000001"]
    assert g.counterpart("tiny/000001") == "tiny/M000001" and g.counterpart("tiny/M000001") == "tiny/000001"
    np.testing.assert_array_equal(g.joints("tiny/000001"), gallery["left"])
    r = rs.judge_rankings([LEFT_RAISE, RIGHT_RAISE], [["tiny/M000001"], ["tiny/M000001"]], g.joints, k=1)
    assert r["top1"]["other_side_acts"] == 0.5 and r["top1"]["followed"] == 0.5
    with pytest.raises(KinmoInputError, match="splits for"):
        rs.load_gallery([root], ["test", "train"])


def test_htma_rankings_search_the_whole_gallery(gallery, tmp_path, monkeypatch) -> None:
    # the benchmark's retrieval path end to end, with a tiny random HTMA and given descriptions (no Reasoner)
    from test_retrieval import descriptions_for, tiny_model

    from kinmo_core.alignment import HTMAAligner

    monkeypatch.setenv("KINMO_CACHE", str(tmp_path / "cache"))
    aligner = HTMAAligner.from_pretrained(tiny_model(tmp_path / "htma"))
    names = sorted(gallery)
    g = rs.Gallery([f"g/{n}" for n in names], [np.asarray(joints_to_features(gallery[n])) for n in names], {})
    texts = [LEFT_RAISE.text, RIGHT_RAISE.text]
    descs = [descriptions_for("raises the left hand"), descriptions_for("raises the right hand")]
    ranks, used = rs.htma_rankings(aligner, g, texts, k=3, descriptions=descs, progress=False)
    assert [len(r) for r in ranks] == [3, 3] and used == descs
    assert all(len(set(r)) == 3 and set(r) <= set(g.ids) for r in ranks)
    assert rs.htma_rankings(aligner, g, texts, k=3, descriptions=descs, progress=False)[0] == ranks
    # joints from features when there is no joint file
    assert rs.judge_rankings([LEFT_RAISE], [["g/left"]], g.joints)["top1"]["followed"] == 1.0
