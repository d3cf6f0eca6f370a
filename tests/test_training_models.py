"""Trainers with local Hugging Face models (a tiny LLaMA with LoRA, a tiny DistilBERT under HTMA), MoMask's full
sizes, and a user's HumanML3D folder. Every model is created here from transformers' config classes: nothing is
downloaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from humanml3d_fake import make_humanml3d
from safetensors.torch import load_file
from test_retrieval import make_dataset

WORDS = ("a person walks forward and then turns around someone jumps up down hops in place twice the left right arm "
         "leg moves while stay apart as spine head torso hands feet { } \" : , . groups interactions").split()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A tiny random LLaMA (BPE tokenizer trained here) and a tiny random DistilBERT (WordPiece vocab), saved."""
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers import models as tok_models
    from transformers import (
        BertTokenizerFast,
        DistilBertConfig,
        DistilBertModel,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    out = tmp_path_factory.mktemp("hf")
    tok = Tokenizer(tok_models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator([" ".join(WORDS)] * 10, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    llama = out / "tiny-llama"
    fast.save_pretrained(llama)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                                 bos_token_id=1, eos_token_id=2)).save_pretrained(llama)
    bert = out / "tiny-distilbert"
    bert.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({w.lower() for w in WORDS})
    (bert / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(bert / "vocab.txt")).save_pretrained(bert)
    DistilBertModel(DistilBertConfig(vocab_size=len(vocab), dim=48, n_layers=1, n_heads=2, hidden_dim=64,
                                     max_position_embeddings=128)).save_pretrained(bert)
    return {"llama": llama, "bert": bert, "data": make_dataset(out / "data", n=24), "base": out}


def test_llama_lora_reasoner_trains_checkpoints_adapters_and_resumes(models, tmp_path) -> None:
    from kinmo_core.reasoner import detect_kind
    from training import train_reasoner

    def run(out: Path, *extra: str) -> None:
        assert train_reasoner.main(["--data", str(models["data"]), "--out", str(out), "--base-model",
                                    str(models["llama"]), "--lora", "--lora-rank", "4", "--steps", "8", "--batch", "2",
                                    "--lr", "3e-3", "--threads", "1", "--log-every", "1", "--checkpoint-every", "4",
                                    *extra]) == 0

    whole = tmp_path / "whole"
    run(whole)
    assert (whole / "adapter_model.safetensors").is_file() and detect_kind(whole) != "default"
    # A LoRA checkpoint holds the adapters only (the frozen base is read from --base-model again).
    state = load_file(str(whole / "checkpoints" / "step-00000004" / "model.safetensors"))
    assert state and all("lora_" in k for k in state)
    rows = [json.loads(x) for x in (whole / "train_log.jsonl").read_text().splitlines()]
    assert rows[-1]["loss"] < rows[0]["loss"]
    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copytree(whole / "checkpoints" / "step-00000004", resumed / "checkpoints" / "step-00000004")
    run(resumed, "--resume", str(resumed))
    a, b = load_file(str(whole / "adapter_model.safetensors")), load_file(str(resumed / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_htma_with_a_local_distilbert_encoder(models, tmp_path, monkeypatch) -> None:
    from kinmo_core.alignment import HTMAAligner
    from training import train_htma

    monkeypatch.setenv("KINMO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "htma"
    assert train_htma.main(["--data", str(models["data"]), "--out", str(out), "--text-encoder", str(models["bert"]),
                            "--size", "tiny", "--steps", "3", "--batch", "8", "--crop", "40", "--eval-every", "0",
                            "--threads", "1"]) == 0
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert cfg["text_dim"] == 48 and cfg["text_encoder"] == "tiny-distilbert"
    aligner = HTMAAligner.from_pretrained(out, text_encoder=models["bert"])
    emb = np.asarray(aligner.encode_texts(["a person walks forward", "someone jumps"], levels=1))
    assert emb.shape[0] == 2 and np.isfinite(emb).all()
    # The model folder carries its encoder: it loads (and conditions a generator) without the original path.
    assert (out / "text_encoder" / "tiny-distilbert" / "config.json").is_file()
    again = HTMAAligner.from_pretrained(out)
    np.testing.assert_array_equal(np.asarray(again.encode_texts(["a person walks forward", "someone jumps"], levels=1)),
                                  emb)
    from kinmo_core.conditioning import HTMAConditioner

    cond = HTMAConditioner.from_pretrained(out)
    c, present = cond(["a person walks forward"], [models_desc(models["data"])])
    assert c.shape == (1, 3, 32) and bool(present.all())
    cond.save(tmp_path / "pipe")
    assert (tmp_path / "pipe" / "htma" / "text_encoder" / "tiny-distilbert" / "tokenizer.json").is_file()
    assert HTMAConditioner.from_pretrained(tmp_path / "pipe" / "htma").cond_dim == 32


def models_desc(data: Path) -> dict:
    """The descriptions of the first annotated motion of a dataset."""
    motions = json.loads((data / "annotations.json").read_text())["motions"]
    first = motions[sorted(motions)[0]]
    return {"groups": first["groups"], "interactions": first["interactions"]}


def test_full_sizes_are_momask_and_tmr() -> None:
    from kinmo_core.models.htma import HTMAConfig
    from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig
    from kinmo_core.models.residual_transformer import ResidualTransformer, ResidualTransformerConfig
    from kinmo_core.models.rvq import RVQConfig
    from training import train_generator, train_htma, train_rvq

    rvq = RVQConfig(**{**RVQConfig().to_dict(), **train_rvq.SIZES["full"]})
    assert (rvq.num_quantizers, rvq.codebook_size, rvq.width) == (6, 512, 512)
    full = train_generator.SIZES["full"]
    mask = MaskTransformer(MaskTransformerConfig(codebook_size=512, cond_dim=384, **full))
    res = ResidualTransformer(ResidualTransformerConfig(codebook_size=512, num_quantizers=6, cond_dim=384, **full))
    for model in (mask, res):
        layers = model.net.blocks.layers
        assert len(layers) == 8 and layers[0].self_attn.num_heads == 6
        assert layers[0].linear1.in_features == 384 and layers[0].linear1.out_features == 1024
    assert MaskTransformerConfig(**full).to_dict()["ff_dim"] == 1024
    assert "ff_dim" not in MaskTransformerConfig().to_dict()  # older configs (and their versions) unchanged
    htma = HTMAConfig(**train_htma.SIZES["full"])
    assert (htma.n_layers, htma.ff_dim, htma.latent_dim) == (6, 1024, 256)


def test_size_by_name_or_json_file(tmp_path) -> None:
    from kinmo_core.errors import KinmoInputError
    from kinmo_core.models.rvq import RVQConfig
    from training.common import size_fields
    from training.train_rvq import SIZES

    assert size_fields(SIZES, "full")["num_quantizers"] == 6
    f = tmp_path / "mine.json"
    f.write_text(json.dumps({"num_quantizers": 8, "codebook_size": 1024}))
    assert size_fields(SIZES, str(f), RVQConfig) == {"num_quantizers": 8, "codebook_size": 1024}
    f.write_text(json.dumps({"layers": 3}))
    with pytest.raises(KinmoInputError, match="RVQConfig has no fields layers"):
        size_fields(SIZES, str(f), RVQConfig)
    with pytest.raises(KinmoInputError, match="neither a size"):
        size_fields(SIZES, "huge")


def test_a_humanml3d_folder_reads_as_is(tmp_path) -> None:
    from kinmo_core.annotate.annotations import dataset_ids, load_joints
    from kinmo_core.data.dataset import MotionTextDataset
    from kinmo_core.motion.features import features_to_joints

    root = make_humanml3d(tmp_path / "HumanML3D")
    ds = MotionTextDataset(root, "train", max_frames=196, min_frames=40)
    train_ids = [x for x in (root / "train.txt").read_text().split() if x != "999999"]
    assert sorted({it["id"] for it in ds.items}) == sorted(train_ids)  # ids without files are skipped
    assert any(it["start"] > 0 for it in ds.items)  # sub-clip captions with times become their own items
    item = ds[0]
    assert item["motion"].shape[1] == 263 and item["caption"]
    # The annotation run reads joints from the features when new_joints/ is absent.
    assert len(dataset_ids(root)) == 12
    joints = load_joints(root, "012314")
    feats = np.load(root / "new_joint_vecs" / "012314.npy")
    np.testing.assert_allclose(joints, np.asarray(features_to_joints(feats)), atol=1e-6)
    assert joints.shape == (len(feats), 22, 3)
