"""The token-generator and evaluator trainers run end to end on a tiny dataset and record what they did."""

from __future__ import annotations

import json

import pytest

from kinmo_core.pipeline import random_pipeline
from tests.test_retrieval import make_dataset
from training import train_generator, train_residual


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("trainers")
    random_pipeline("tiny", seed=2).save_pretrained(base / "pipe")
    return {"data": make_dataset(base / "data", n=24), "rvq": base / "pipe" / "rvq", "base": base}


@pytest.mark.parametrize("trainer", [train_generator, train_residual])
def test_generator_trainers_save_a_model_with_provenance(setup, trainer) -> None:
    out = setup["base"] / trainer.__name__.rsplit(".", 1)[-1]
    args = ["--data", str(setup["data"]), "--rvq", str(setup["rvq"]), "--cond", "sentence", "--levels", "3",
            "--steps", "3", "--batch", "4", "--d-model", "32", "--layers", "1", "--eval-every", "0", "--threads", "1",
            "--cache", str(setup["base"] / "cache"), "--out", str(out)]
    assert trainer.main(args) == 0
    meta = json.loads((out / "config.json").read_text())["meta"]
    assert meta["steps_done"] == 3 and meta["cond"] == "sentence" and meta["data_version"] and meta["commit"]
    with pytest.raises(SystemExit, match="already holds"):
        trainer.main(args)


def test_hybrid_condition_cache_is_its_parts_caches_side_by_side(setup) -> None:
    import numpy as np

    from kinmo_core.conditioning import HTMAConditioner, HybridConditioner, SentenceConditioner
    from training.generator_data import cond_cache

    random_pipeline("tiny", cond="htma", seed=3).save_pretrained(setup["base"] / "hp")
    htma = HTMAConditioner.from_pretrained(setup["base"] / "hp" / "htma")
    cache = setup["base"] / "hcache"
    both = cond_cache(setup["data"], "train", HybridConditioner(htma), None, cache)
    h = cond_cache(setup["data"], "train", htma, None, cache)
    s = cond_cache(setup["data"], "train", SentenceConditioner(), None, cache)
    assert both["cond"].shape[-1] == 32 + 384
    np.testing.assert_array_equal(both["cond"], np.concatenate([h["cond"], s["cond"]], -1))
    np.testing.assert_array_equal(both["present"], h["present"] & s["present"])
    out = setup["base"] / "hybrid_mask"
    assert train_generator.main(["--data", str(setup["data"]), "--rvq", str(setup["rvq"]), "--cond", "htma+sentence",
                                 "--htma", str(setup["base"] / "hp" / "htma"), "--steps", "2", "--batch", "4",
                                 "--d-model", "32", "--layers", "1", "--eval-every", "0", "--threads", "1",
                                 "--cache", str(cache), "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["cond_dim"] == 32 + 384


@pytest.mark.parametrize(("env", "flag", "expected"), [("0", [], "float32"), ("1", [], "bf16 autocast"),
                                                       ("1", ["--no-bf16"], "float32")])
def test_bf16_only_where_the_cpu_has_it(monkeypatch, capsys, env, flag, expected) -> None:
    from training.common import base_parser, provenance, setup

    monkeypatch.setenv("KINMO_BF16", env)  # stands in for the CPU's flags (AVX512-BF16 / AMX or not)
    args = base_parser("t").parse_args(["--out", "x", *flag])
    setup(args)
    assert provenance(args)["precision"] == expected
    assert ("no native bfloat16" in capsys.readouterr().out) == (env == "0" and not flag)
