"""The tokenizer's decoder retrained alone, with extra weight on named joints: the codes stay those of the source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_retrieval import make_dataset

from kinmo_core.errors import KinmoInputError
from kinmo_core.models.io import load_pretrained
from kinmo_core.models.rvq import RVQVAE, RVQConfig, rvq_loss
from kinmo_core.motion.features import joint_channels
from kinmo_core.motion.skeleton import JOINT_INDEX

COMMON = ["--threads", "1", "--seed", "0", "--size", "tiny", "--batch", "4", "--window", "40", "--eval-every", "0"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("rvq") / "data", n=24)


def test_joint_channels_name_a_joints_position_rotation_and_velocity():
    head = joint_channels([JOINT_INDEX["head"]])
    assert list(head) == [46, 47, 48, *range(151, 157), 238, 239, 240]
    assert list(joint_channels([0])) == [193, 194, 195]  # the pelvis: the root block holds the rest
    with pytest.raises(KinmoInputError):
        joint_channels([22])


def test_channel_weights_of_one_are_the_plain_loss():
    torch.manual_seed(0)
    x, r = torch.randn(2, 8, 263), torch.randn(2, 8, 263)
    out = {"recon": r, "commit": torch.tensor(0.0)}
    plain = rvq_loss(out, x, RVQConfig())
    ones = rvq_loss(out, x, RVQConfig(), channel_weights=torch.ones(263))
    assert torch.allclose(plain["loss"], ones["loss"])
    w = torch.ones(263)
    w[joint_channels([JOINT_INDEX["head"]])] = 10.0
    heavy = rvq_loss({"recon": x.clone(), "commit": torch.tensor(0.0)}, x, RVQConfig(), channel_weights=w)
    assert float(heavy["loss"]) == 0.0
    only_head = x.clone()
    only_head[..., 46] += 1.0  # an error on a weighted channel counts more than the same error elsewhere
    elsewhere = x.clone()
    elsewhere[..., 10] += 1.0
    a = rvq_loss({"recon": only_head, "commit": torch.tensor(0.0)}, x, RVQConfig(), channel_weights=w)["recon"]
    b = rvq_loss({"recon": elsewhere, "commit": torch.tensor(0.0)}, x, RVQConfig(), channel_weights=w)["recon"]
    assert float(a) > 5 * float(b)


def test_decoder_only_keeps_the_codes_and_changes_the_decoder(data, tmp_path):
    from training import train_rvq

    first = tmp_path / "first"
    assert train_rvq.main(["--data", str(data), "--out", str(first), "--steps", "8", "--lr", "3e-3", *COMMON]) == 0
    second = tmp_path / "second"
    assert train_rvq.main(["--data", str(data), "--out", str(second), "--steps", "8", "--lr", "3e-3", "--init",
                           str(first), "--decoder-only", "--joint-weights", "neck=10,head=10", *COMMON]) == 0
    a = load_pretrained(RVQVAE, RVQConfig, first).eval()
    b = load_pretrained(RVQVAE, RVQConfig, second).eval()
    sa, sb = a.state_dict(), b.state_dict()
    for k in sa:
        if k.startswith(("encoder.", "quantizer.")):
            assert torch.equal(sa[k], sb[k]), k
    assert any(not torch.equal(sa[k], sb[k]) for k in sa if k.startswith("decoder."))
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 40, 263)).astype(np.float32))
    assert torch.equal(a.encode(x), b.encode(x))


@pytest.mark.parametrize("extra, message", [
    (["--decoder-only"], "needs --init"),
    (["--joint-weights", "nose=3"], "unknown joint 'nose'"),
    (["--joint-weights", "head=x"], "needs a number"),
    (["--joint-weights", "head=-1"], "positive number"),
])
def test_bad_options_are_one_line_errors(data, tmp_path, capsys, extra, message):
    from training import train_rvq

    with pytest.raises(SystemExit) as exc:
        train_rvq.main(["--data", str(data), "--out", str(tmp_path / "o"), "--steps", "2", *COMMON, *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "o").exists()
