"""Guidance away from the mirrored prompt for prompts that name a side (issue 21)."""

from __future__ import annotations

import warnings

import pytest
import torch

from kinmo_core.models.masked_transformer import Negative
from kinmo_core.motion.kinematic import GROUPS, PAIRS
from kinmo_core.pipeline import random_pipeline

DESC = {"groups": {g: "it stays still" for g in GROUPS} | {"left_arm": "the left arm waves"},
        "interactions": {p: "both parts move together" for p in PAIRS}}


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return random_pipeline("tiny", seed=0)


def test_only_sided_prompts_get_the_mirrored_condition(tiny):
    texts = ["a person waves the left hand", "a person walks", "someone turns clockwise"]
    neg = tiny.side_negative(texts, [DESC, None, None], 4.0)
    assert neg.rows.tolist() == [True, False, True] and neg.scale == 4.0
    mirrored, _ = tiny.parts.conditioner(["a person waves the right hand", "someone turns counterclockwise"],
                                         [{"groups": {g: "it stays still" for g in GROUPS}
                                           | {"right_arm": "the right arm waves"},
                                           "interactions": DESC["interactions"]}, None])
    torch.testing.assert_close(neg.cond, mirrored)
    assert tiny.side_negative(["a person walks"], [None], 4.0) is None
    assert tiny.side_negative(texts, [DESC, None, None], 0.0) is None


def test_guided_logits_move_only_the_negative_rows(tiny):
    mt = tiny.parts.mask_transformer
    g = torch.Generator().manual_seed(0)
    cond = torch.randn(3, 3, mt.cfg.cond_dim, generator=g)
    present = torch.ones(3, 3, dtype=torch.bool)
    ids = torch.randint(0, mt.cfg.codebook_size, (3, 6), generator=g)
    pad = torch.zeros(3, 6, dtype=torch.bool)
    other = torch.randn(1, 3, mt.cfg.cond_dim, generator=g)
    rows = torch.tensor([False, True, False])
    with torch.no_grad():
        plain = mt.guided_logits(ids, cond, present, pad, 4.0)
        moved = mt.guided_logits(ids, cond, present, pad, 4.0, negative=Negative(other, present[:1], rows, 2.0))
        c = mt(ids[1:2], cond[1:2], present[1:2], pad[1:2])
        m = mt(ids[1:2], other, present[1:2], pad[1:2])
        off = mt.guided_logits(ids, cond, present, pad, 4.0, negative=Negative(other, present[:1], rows, 0.0))
    torch.testing.assert_close(moved[[0, 2]], plain[[0, 2]])
    torch.testing.assert_close(moved[1:2], plain[1:2] + 2.0 * (c - m), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(off, plain)


def test_side_guidance_changes_sided_generation_deterministically(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = "a person raises the left hand"
        tiny.settings.side_guidance = 0.0
        off = tiny.generate_codes([text], 40, seed=3, levels=1)[0]
        tiny.settings.side_guidance = 8.0
        on = tiny.generate_codes([text], 40, seed=3, levels=1)[0]
        again = tiny.generate_codes([text], 40, seed=3, levels=1)[0]
        plain = tiny.generate_codes(["a person walks"], 40, seed=3, levels=1)[0]
        tiny.settings.side_guidance = 0.0
        plain_off = tiny.generate_codes(["a person walks"], 40, seed=3, levels=1)[0]
    assert torch.equal(on, again) and not torch.equal(on, off)
    assert torch.equal(plain, plain_off)  # a prompt without a side is untouched
