"""KinMo's text-to-motion pipeline: Reasoner, coarse-to-fine masked generation, residual layers, decoding.

    pipe = KinMoPipeline.from_pretrained()            # the default model shipped in the package
    motion = pipe("a person waves with the left hand", seconds=4, seed=1)
    motion.save("wave.npz")

Generation (paper Sec. 3.4): the caption's condition mu_c decodes the base tokens from fully masked; the tokens are
fed back and the least fitting share re-masked and redone under mu_c + mu_g (group descriptions), then under
mu_c + mu_g + mu_i (interaction descriptions). The same masked-transformer weights serve all levels (absent levels
use learned null embeddings). The residual transformer fills the finer quantizer layers; the RVQ decoder gives
normalised features, which are de-normalised with the tokenizer's statistics. By default the motion is then cleaned up
(`kinmo_core.motion.cleanup`: planted feet locked, on the floor, standing jitter filtered; `cleanup=False` skips it).

A pipeline folder holds: `pipeline.json` (settings and provenance), `rvq/` (+ Mean.npy, Std.npy),
`mask_transformer/`, `residual_transformer/`, optionally `length_estimator/` and `reasoner/`, and the conditioner
(`conditioner.json`, plus `htma/` for HTMA conditioning).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.generation_limits import (  # noqa: F401  (re-exported: part of this module's interface)
    MAX_FRAMES,
    MAX_SECONDS,
    MAX_TEXT_WORDS,
    MIN_FRAMES,
    MIN_SECONDS,
    clean_text,
)
from kinmo_core.motion.skeleton import FPS

PIPELINE_FILE: str = "pipeline.json"
PIPELINE_FORMAT_VERSION: int = 1
DEFAULT_PATH: Path = Path(__file__).resolve().parent / "assets" / "default"


@dataclass
class GenerationSettings:
    """How tokens are decoded (MoMask's defaults where the paper is silent)."""

    levels: int = 3
    steps: int = 10
    guidance: float = 4.0
    refine_steps: int = 5
    refine_remask: float = 0.5
    residual_guidance: float = 2.0
    temperature: float = 1.0
    topk_ratio: float = 0.9
    reasoner_temperature: float = 0.0
    coarse_to_fine: bool = True
    """False: one decoding under all the levels at once instead of global first, then refined per level."""
    side_guidance: float = 0.0
    """For prompts that name a side: the masked transformer's logits also move away from the mirrored prompt's
    (left and right swapped in the text and its descriptions) by this much (0: off, the default). At 4 the default
    model before 2026-12-07's knee-raise retrain followed the named part in 64.9% of the part-following prompts
    instead of 61.3%, at FID 0.881 against 0.591 (BENCHMARKS.md): for users who want the side over the motion's
    realism. See `side_negative`."""

    def to_dict(self) -> dict:
        """Return the settings as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> GenerationSettings:
        """Build from a dict, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class PipelineParts:
    """Loaded components (for building a pipeline in code, e.g. from freshly trained models)."""

    rvq: torch.nn.Module
    mean: np.ndarray
    std: np.ndarray
    mask_transformer: torch.nn.Module
    residual_transformer: torch.nn.Module
    conditioner: object
    length_estimator: torch.nn.Module | None = None
    reasoner: object | None = None
    manifest: dict = field(default_factory=dict)
    control_transformer: torch.nn.Module | None = None
    """The masked transformer with the spatial-control branch (kinmo_core.control), when the model has one."""


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Return a torch device for a name ('cpu', 'cuda', 'cuda:1', 'mps'); KinmoInputError if unknown or absent."""
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise KinmoInputError(f"unknown device {device!r}; expected cpu, cuda or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise KinmoInputError(f"device {device!r} asked for, but no CUDA GPU is available")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise KinmoInputError(f"device {device!r} asked for, but MPS is not available")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise KinmoInputError(f"unsupported device {device!r}; expected cpu, cuda or mps")
    return dev


def minilm_encode(texts: Sequence[str]) -> np.ndarray:
    """Unit MiniLM sentence embeddings (the shared fp32 encoder), as the prompt scope was built with."""
    from kinmo_core.conditioning import get_minilm

    return get_minilm().encode(list(texts))


def frames_for(seconds: float | None = None, frames: int | None = None) -> int | None:
    """Return the frame count asked for (None: let the length estimator choose); KinmoInputError out of range."""
    if seconds is not None and frames is not None:
        raise KinmoInputError("give the length in seconds or in frames, not both")
    if seconds is not None:
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            raise KinmoInputError(f"seconds must be a number, got {seconds!r}") from None
        if not math.isfinite(seconds) or not MIN_SECONDS <= seconds <= MAX_SECONDS:
            raise KinmoInputError(f"the length must be between {MIN_SECONDS:g} and {MAX_SECONDS:g} seconds, "
                                  f"got {seconds:g}")
        return int(round(seconds * FPS))
    if frames is not None:
        if isinstance(frames, bool) or not isinstance(frames, int | np.integer):
            raise KinmoInputError(f"frames must be an integer, got {frames!r}")
        if not MIN_FRAMES <= int(frames) <= MAX_FRAMES:
            raise KinmoInputError(f"the length must be between {MIN_FRAMES} and {MAX_FRAMES} frames "
                                  f"({MIN_SECONDS:g} to {MAX_SECONDS:g} s at {FPS} fps), got {frames}")
        return int(frames)
    return None


def _load_reasoner(folder: Path):
    """H8's MotionReasoner from folder, or None when the folder or the module is absent."""
    if not (folder / "config.json").is_file():
        return None
    try:
        from kinmo_core.reasoner import MotionReasoner
    except ImportError:
        warnings.warn("kinmo_core.reasoner is not available; descriptions must be given for levels 2 and 3",
                      stacklevel=3)
        return None
    return MotionReasoner.from_pretrained(folder)


def _check_fit(parts: PipelineParts) -> None:
    """Raise KinmoModelError unless the components were made for each other."""
    rq, mt, rt = parts.rvq.cfg, parts.mask_transformer.cfg, parts.residual_transformer.cfg
    problems = []
    if mt.codebook_size != rq.codebook_size or rt.codebook_size != rq.codebook_size:
        problems.append(f"codebook sizes differ (rvq {rq.codebook_size}, mask {mt.codebook_size}, "
                        f"residual {rt.codebook_size})")
    if rt.num_quantizers != rq.num_quantizers:
        problems.append(f"quantizer counts differ (rvq {rq.num_quantizers}, residual {rt.num_quantizers})")
    cd = int(parts.conditioner.cond_dim)
    if mt.cond_dim != cd or rt.cond_dim != cd:
        problems.append(f"condition widths differ (conditioner {cd}, mask {mt.cond_dim}, residual {rt.cond_dim})")
    if mt.num_cond != 3 or rt.num_cond != 3:
        problems.append("the transformers need 3 condition levels")
    if mt.max_tokens * rq.frames_per_token < MAX_FRAMES or rt.max_tokens * rq.frames_per_token < MAX_FRAMES:
        problems.append(f"the transformers cover fewer than {MAX_FRAMES} frames")
    if parts.mean.shape != (rq.input_dim,) or parts.std.shape != (rq.input_dim,):
        problems.append(f"Mean/Std must have {rq.input_dim} channels")
    ct = parts.control_transformer
    if ct is not None and (ct.cfg.codebook_size != rq.codebook_size or ct.cfg.cond_dim != cd
                           or ct.cfg.control_frames != rq.frames_per_token):
        problems.append("the control transformer does not fit the RVQ and conditioner (codebook, condition width "
                        "or frames per token)")
    le = parts.length_estimator
    if le is not None and le.cfg.text_dim != 384:
        problems.append("the length estimator must read 384-d MiniLM sentence embeddings")
    if problems:
        raise KinmoModelError("the pipeline's components do not fit together: " + "; ".join(problems))


def _load_stats(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        mean = np.load(folder / "Mean.npy", allow_pickle=False).astype(np.float32)
        std = np.load(folder / "Std.npy", allow_pickle=False).astype(np.float32)
    except (OSError, ValueError) as exc:
        raise KinmoModelError(f"{folder}: missing or damaged Mean.npy / Std.npy ({exc})") from None
    if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std <= 0).any():
        raise KinmoModelError(f"{folder}: Mean.npy / Std.npy hold invalid values")
    return mean, std


class KinMoPipeline:
    """Text (and optional per-part descriptions) to motion on KinMo's skeleton."""

    # For kinmo_core.control, which sits beside the pipeline and must not import it (no import cycles).
    frame_range: tuple[int, int] = (MIN_FRAMES, MAX_FRAMES)
    clean_text = staticmethod(clean_text)

    def __init__(self, parts: PipelineParts, settings: GenerationSettings | None = None,
                 device: str | torch.device | None = None) -> None:
        _check_fit(parts)
        self.parts = parts
        self.settings = settings or GenerationSettings()
        self.device = resolve_device(device)
        self.manifest = dict(parts.manifest)
        for m in (parts.rvq, parts.mask_transformer, parts.residual_transformer, parts.length_estimator,
                  parts.control_transformer):
            if m is not None:
                m.to(self.device).eval()
        self.mean = torch.from_numpy(parts.mean).to(self.device)
        self.std = torch.from_numpy(parts.std).to(self.device)
        self.scope = None
        """The training captions' `PromptScope` (set by from_pretrained when the folder has one)."""

    # ------------------------------------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str | torch.device | None = None,
                        load_reasoner: bool = True, revision: str | None = None,
                        token: str | None = None) -> KinMoPipeline:
        """Load a pipeline folder, or a Hugging Face Hub id "owner/name" (None: the default model in the package).

        A local folder always wins over a Hub id of the same name; nothing is downloaded otherwise (kinmo_core.hub).
        """
        from kinmo_core.conditioning import load_conditioner
        from kinmo_core.models.io import load_pretrained
        from kinmo_core.models.length_estimator import LengthEstimator, LengthEstimatorConfig
        from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig
        from kinmo_core.models.residual_transformer import ResidualTransformer, ResidualTransformerConfig
        from kinmo_core.models.rvq import RVQVAE, RVQConfig

        dev = resolve_device(device)
        if path is not None:
            from kinmo_core.hub import resolve_pipeline

            folder = resolve_pipeline(path, revision=revision, token=token)
        else:
            folder = DEFAULT_PATH
        if not (folder / PIPELINE_FILE).is_file():
            if path is None:
                raise KinmoModelError(f"the default KinMo model is not installed ({folder} has no {PIPELINE_FILE}); "
                                      "train it with `python -m training.build_default` or pass a model folder")
            raise KinmoModelError(f"{folder}: not a KinMo pipeline folder (no {PIPELINE_FILE})")
        try:
            manifest = json.loads((folder / PIPELINE_FILE).read_text(encoding="utf-8"))
            if not isinstance(manifest, dict):
                raise ValueError("not an object")
        except (OSError, ValueError) as exc:
            raise KinmoModelError(f"damaged {folder / PIPELINE_FILE}: {exc}") from None
        if int(manifest.get("format_version", 1)) > PIPELINE_FORMAT_VERSION:
            raise KinmoModelError(f"{folder}: pipeline format {manifest['format_version']} is newer than this KinMo")
        mean, std = _load_stats(folder / "rvq")
        le_dir = folder / "length_estimator"
        ct_dir = folder / "control_transformer"
        parts = PipelineParts(
            rvq=load_pretrained(RVQVAE, RVQConfig, folder / "rvq"),
            mean=mean,
            std=std,
            mask_transformer=load_pretrained(MaskTransformer, MaskTransformerConfig, folder / "mask_transformer"),
            residual_transformer=load_pretrained(ResidualTransformer, ResidualTransformerConfig,
                                                 folder / "residual_transformer"),
            conditioner=load_conditioner(folder),
            length_estimator=(load_pretrained(LengthEstimator, LengthEstimatorConfig, le_dir)
                              if (le_dir / "config.json").is_file() else None),
            reasoner=_load_reasoner(folder / "reasoner") if load_reasoner else None,
            manifest=manifest,
            control_transformer=(load_pretrained(MaskTransformer, MaskTransformerConfig, ct_dir)
                                 if (ct_dir / "config.json").is_file() else None),
        )
        pipe = cls(parts, GenerationSettings.from_dict(manifest.get("settings", {})), dev)
        from kinmo_core.text.scope import PromptScope

        pipe.scope = PromptScope.load(folder, encode=minilm_encode)
        return pipe

    def save_pretrained(self, folder: str | os.PathLike, overwrite: bool = False, reasoner_from: str | None = None,
                        extra: dict | None = None, push_to_hub: bool = False, repo_id: str | None = None,
                        private: bool = False, token: str | None = None) -> Path:
        """Write the pipeline to folder (pipeline.json last, so a folder with it is complete) with its model card.

        push_to_hub=True then uploads the folder to the Hub repository repo_id ("owner/name") through huggingface_hub.
        """
        from kinmo_core.fileio import write_atomic
        from kinmo_core.models.io import save_pretrained

        out = Path(folder)
        if (out / PIPELINE_FILE).exists() and not overwrite:
            raise KinmoInputError(f"{out} already holds a pipeline (pass overwrite=True to replace it)")
        out.mkdir(parents=True, exist_ok=True)
        p = self.parts
        for name, model in (("rvq", p.rvq), ("mask_transformer", p.mask_transformer),
                            ("residual_transformer", p.residual_transformer), ("length_estimator", p.length_estimator),
                            ("control_transformer", p.control_transformer)):
            if model is not None:
                # Each part keeps its own provenance (command, data, commit) beside its weights.
                meta = self.manifest.get("components", {}).get(name) or None
                save_pretrained(model, model.cfg, out / name, overwrite=True, extra_meta=meta)
        np.save(out / "rvq" / "Mean.npy", p.mean)
        np.save(out / "rvq" / "Std.npy", p.std)
        p.conditioner.save(out)
        if reasoner_from is not None:
            shutil.copytree(reasoner_from, out / "reasoner", dirs_exist_ok=True)
        manifest = {**self.manifest, **(extra or {}), "format_version": PIPELINE_FORMAT_VERSION,
                    "cond": p.conditioner.kind, "settings": self.settings.to_dict()}
        write_atomic(out / PIPELINE_FILE, lambda f: f.write((json.dumps(manifest, indent=2) + "\n").encode()),
                     overwrite=True)
        from kinmo_core import hub

        hub.write_model_card(out, repo_id)
        if push_to_hub:
            if not repo_id:
                raise KinmoInputError("push_to_hub needs repo_id ('owner/name')")
            hub.push_pipeline(out, repo_id, token=token, private=private)
        return out

    def prompt_warnings(self, texts: Sequence[str]) -> list[str]:
        """Per text, a one-line warning when it is far from every training caption ("" otherwise, or no scope)."""
        if self.scope is None:
            return [""] * len(texts)
        return self.scope.warnings([clean_text(t) for t in texts])

    @property
    def has_control_branch(self) -> bool:
        """True when the model has the spatial-control branch (a trained `control_transformer/`)."""
        return self.parts.control_transformer is not None

    @property
    def has_reasoner(self) -> bool:
        """True when the pipeline can write descriptions itself."""
        return self.parts.reasoner is not None

    # ------------------------------------------------------------------------------------------------ steps
    def expand(self, texts: Sequence[str] | str, seed: int = 0, temperature: float | None = None) -> list[dict]:
        """Run the Motion Reasoner: per text {"groups": {6}, "interactions": {15}}."""
        items = [clean_text(t) for t in ([texts] if isinstance(texts, str) else texts)]
        if self.parts.reasoner is None:
            raise KinmoModelError("this model has no Motion Reasoner; give the descriptions yourself")
        temp = self.settings.reasoner_temperature if temperature is None else float(temperature)
        return self.parts.reasoner.reason(items, seed=seed, temperature=temp)

    def sample_frames(self, texts: Sequence[str], generator: torch.Generator) -> list[int]:
        """Sample a length in frames for each text with the length estimator."""
        le = self.parts.length_estimator
        if le is None:
            raise KinmoModelError("this model has no length estimator; give the length (seconds or frames)")
        from kinmo_core.text.minilm import get_minilm

        emb = torch.from_numpy(get_minilm(fast=True).encode(list(texts))).to(self.device)
        unit = self.parts.rvq.cfg.frames_per_token
        tokens = le.sample(emb, generator=generator, min_tokens=math.ceil(MIN_FRAMES / unit))
        return [int(min(max(int(t) * unit, MIN_FRAMES), MAX_FRAMES)) for t in tokens]

    @torch.no_grad()
    def generate_features(self, texts: Sequence[str], frames: Sequence[int | None] | int | None = None,
                          seed: int = 0, levels: int | None = None,
                          descriptions: Sequence[Mapping | None] | None = None, init_codes: torch.Tensor | None = None,
                          keep: torch.Tensor | None = None,
                          settings: GenerationSettings | None = None) -> tuple[list[np.ndarray], list]:
        """Generate a batch: returns (features (T_i, 263) per text, descriptions used per text).

        init_codes (B, T', Q) and keep (B, T') bool: in-paint, keeping those token positions (kinmo_core.editing).
        settings: decoding settings for this call instead of the pipeline's.
        """
        codes, frames, descriptions = self.generate_codes(texts, frames, seed, levels, descriptions, init_codes, keep,
                                                          settings)
        feats = self.parts.rvq.decode(codes) * self.std + self.mean
        out = [feats[i, :f].float().cpu().numpy() for i, f in enumerate(frames)]
        return out, descriptions

    @torch.no_grad()
    def generate_codes(self, texts: Sequence[str], frames: Sequence[int | None] | int | None = None,
                       seed: int = 0, levels: int | None = None,
                       descriptions: Sequence[Mapping | None] | None = None, init_codes: torch.Tensor | None = None,
                       keep: torch.Tensor | None = None,
                       settings: GenerationSettings | None = None,
                       targets: torch.Tensor | None = None) -> tuple[torch.Tensor, list[int], list]:
        """Generate a batch of RVQ codes: returns (codes (B, T', Q), frames per text, descriptions per text).

        targets (B, T, 22, 3), NaN where free: joint targets for the control transformer's branch (the model must
        have one: `has_control_branch`); the base tokens then come from it instead of the plain masked transformer.
        """
        s = self.settings if settings is None else settings
        levels = s.levels if levels is None else int(levels)
        if levels not in (1, 2, 3):
            raise KinmoInputError(f"levels must be 1, 2 or 3, got {levels}")
        texts = [clean_text(t) for t in texts]
        if not texts:
            raise KinmoInputError("no prompts given")
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        if frames is None or isinstance(frames, int | np.integer):
            frames = [frames] * len(texts)
        frames = [frames_for(frames=f) if f is not None else None for f in frames]
        if len(frames) != len(texts):
            raise KinmoInputError(f"{len(texts)} prompts but {len(frames)} lengths")
        if any(f is None for f in frames):
            sampled = self.sample_frames(texts, g)
            frames = [f if f is not None else sampled[i] for i, f in enumerate(frames)]
        if descriptions is None:
            descriptions = [None] * len(texts)
        descriptions = list(descriptions)
        if len(descriptions) != len(texts):
            raise KinmoInputError(f"{len(texts)} prompts but {len(descriptions)} description sets")
        if levels > 1:
            need = [i for i, d in enumerate(descriptions) if d is None]
            if need and self.parts.reasoner is not None:
                written = self.expand([texts[i] for i in need], seed=seed)
                for i, d in zip(need, written, strict=True):
                    descriptions[i] = d
            elif need:
                warnings.warn("no descriptions and no Motion Reasoner: generating from the global text only",
                              stacklevel=2)
        cond, present = self.parts.conditioner(texts, descriptions)
        cond, present = cond.to(self.device), present.to(self.device)
        unit = self.parts.rvq.cfg.frames_per_token
        lengths = torch.tensor([math.ceil(f / unit) for f in frames], device=self.device)
        mt, rt = self.parts.mask_transformer, self.parts.residual_transformer
        if targets is not None:
            if self.parts.control_transformer is None:
                raise KinmoModelError("this model has no spatial-control branch (control_transformer/)")
            mt = self.parts.control_transformer
            given_targets = {"targets": torch.as_tensor(targets, dtype=torch.float32, device=self.device)}
        else:
            given_targets = {}
        first = 1 if s.coarse_to_fine else levels
        level_on = torch.arange(3, device=self.device)[None] < first
        given = {} if keep is None else {"keep": keep.to(self.device)}
        negative = self.side_negative(texts, descriptions, s.side_guidance)
        away = {} if negative is None else {"negative": negative}
        base = None if keep is None else init_codes[..., 0].to(self.device)
        ids, _ = mt.generate(cond, present & level_on, lengths, steps=s.steps, guidance=s.guidance,
                             temperature=s.temperature, topk_ratio=s.topk_ratio, generator=g,
                             with_confidence=False, init_ids=base, **given, **given_targets, **away)
        for level in range(first + 1, levels + 1):
            level_on = torch.arange(3, device=self.device)[None] < level
            # Items whose finer descriptions are missing keep their tokens: nothing new to refine them with.
            use = present[:, level - 1]
            if not bool(use.any()):
                continue
            refined, _ = mt.generate(cond, present & level_on, lengths, steps=s.refine_steps, guidance=s.guidance,
                                     temperature=s.temperature, topk_ratio=s.topk_ratio, init_ids=ids,
                                     remask_ratio=s.refine_remask, generator=g,
                                     with_confidence=False, **given, **given_targets, **away)
            ids = torch.where(use[:, None], refined, ids)
        final = present & (torch.arange(3, device=self.device)[None] < levels)
        if keep is not None:
            given["init_codes"] = init_codes.to(self.device)
        codes = rt.generate(ids, lengths, cond, final, guidance=s.residual_guidance, temperature=s.temperature,
                            generator=g, **given)
        return codes, frames, descriptions

    def side_negative(self, texts: Sequence[str], descriptions: Sequence[Mapping | None], scale: float):
        """The mirrored condition of the prompts that name a side (left / right, clockwise...), for guidance away
        from it (`masked_transformer.Negative`); None when no prompt names one or scale is 0.

        On the 216 sided part-following prompts (BENCHMARKS.md), 3 seeds, with the default model before the
        knee-raise retrain: followed 65.9% -> 70.2% at scale 4.
        """
        from kinmo_core.data.captions import mirror_text
        from kinmo_core.models.masked_transformer import Negative
        from kinmo_core.reasoner import mirror_descriptions

        if not scale:
            return None
        mirrored = [mirror_text(t) for t in texts]
        rows = [i for i, (t, m) in enumerate(zip(texts, mirrored, strict=True)) if m != t]
        if not rows:
            return None
        descs = [descriptions[i] for i in rows]
        cond, present = self.parts.conditioner([mirrored[i] for i in rows],
                                               [None if d is None else mirror_descriptions(d) for d in descs])
        mask = torch.zeros(len(texts), dtype=torch.bool, device=self.device)
        mask[rows] = True
        return Negative(cond.to(self.device), present.to(self.device), mask, float(scale))

    def generate(self, texts: Sequence[str], seconds: float | None = None, frames: int | None = None, seed: int = 0,
                 levels: int | None = None, descriptions: Sequence[Mapping | None] | None = None,
                 loop: bool = False, constraints=None, control_method: str | None = None,
                 cleanup: bool = True) -> list:
        """Generate one Motion per text (a batch), all of the same length when one is given; loop: seamless loops.

        constraints: spatial control (a control file's object, a list of constraints; see kinmo_core.control).
        cleanup: feet locked where planted, on the floor, standing jitter filtered out (`motion.cleanup`); False
        gives the decoder's motion as it is. With constraints the control solve plants the feet itself.
        """
        from kinmo_core.motion.file import Motion, normalize_descriptions

        n = frames_for(seconds, frames)
        if descriptions is not None:
            descriptions = [normalize_descriptions(d) for d in descriptions]
        if constraints is not None:
            if loop:
                raise KinmoInputError("a loop cannot be combined with spatial constraints")
            from kinmo_core.control.generate import generate_controlled

            return generate_controlled(self, texts, constraints, frames=n, seed=seed, levels=levels,
                                       descriptions=descriptions, method=control_method)[0]
        feats, used = self.generate_features(texts, n, seed=seed, levels=levels, descriptions=descriptions)
        if cleanup:
            from kinmo_core.motion.cleanup import clean_features

            feats = [clean_features(f) for f in feats]
        motions = [Motion.from_features(f, text=clean_text(t), descriptions=d, source="kinmo-generate")
                   for f, t, d in zip(feats, texts, used, strict=True)]
        if loop:
            from kinmo_core.editing.loop import loop_motion

            motions = [loop_motion(self, m, seed=seed + i, levels=levels) for i, m in enumerate(motions)]
        return motions

    def __call__(self, text: str, seconds: float | None = None, frames: int | None = None, seed: int = 0,
                 levels: int | None = None, descriptions: Mapping | str | None = None, num: int = 1,
                 loop: bool = False, constraints=None, control_method: str | None = None, cleanup: bool = True):
        """Generate a Motion from text (a list of `num` Motions when num > 1); loop: seamless loops; constraints:
        spatial control (see kinmo_core.control); cleanup=False: no foot-contact and jitter cleanup."""
        from kinmo_core.motion.file import normalize_descriptions

        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise KinmoInputError(f"num must be a positive integer, got {num!r}")
        d = normalize_descriptions(descriptions)
        if d is None and (self.settings.levels if levels is None else levels) > 1 and self.has_reasoner:
            d = self.expand([text], seed=seed)[0]  # one set of descriptions shared by all `num` samples
        motions = self.generate([text] * num, seconds=seconds, frames=frames, seed=seed, levels=levels,
                                descriptions=[d] * num, loop=loop, constraints=constraints,
                                control_method=control_method, cleanup=cleanup)
        return motions[0] if num == 1 else motions

    def edit(self, motion, text: str, frames: tuple[int, int] | None = None, parts=None, seed: int = 0,
             num: int = 1, levels: int | None = None, descriptions: Mapping | None = None, **kw):
        """Re-prompt frames [start, stop) (20 fps, half-open; None: all) of motion, whole body or `parts` (or "auto").

        Returns the edited Motion (a list of `num` when num > 1); see kinmo_core.editing.edit.
        """
        from kinmo_core.editing.edit import edit_motion

        res = edit_motion(self, motion, text, frames=frames, parts=parts, seed=seed, num=num, levels=levels,
                          descriptions=descriptions, **kw)
        return res.motions[0] if num == 1 else res.motions

    def compose(self, timeline: Mapping, seed: int = 0, levels: int | None = None):
        """Generate a timeline {"segments": [...], "tracks": [...]} (seconds) into one Motion, longer than 10 s.

        See kinmo_core.editing.timeline; the ComposeResult (motion, seams, descriptions) is in `motion.compose_info`.
        """
        from kinmo_core.editing.timeline import compose

        res = compose(self, timeline, seed=seed, levels=levels)
        res.motion.compose_info = res
        return res.motion


def random_pipeline(size: str = "default", seed: int = 0, cond: str = "sentence", mean: np.ndarray | None = None,
                    std: np.ndarray | None = None, length_estimator: bool = True,
                    control: bool = False) -> KinMoPipeline:
    """Return a pipeline of untrained, seeded random components, for tests ('tiny') and speed benchmarks ('default').

    control: with a control transformer (its branch random too, not zero, so it changes what is generated).

    Its motions mean nothing; it has the shapes (and, at 'default', the cost) of a trained model.
    """
    from kinmo_core.conditioning import HTMAConditioner, HybridConditioner, SentenceConditioner
    from kinmo_core.models.length_estimator import LengthEstimator, LengthEstimatorConfig
    from kinmo_core.models.masked_transformer import MaskTransformer, MaskTransformerConfig
    from kinmo_core.models.residual_transformer import ResidualTransformer, ResidualTransformerConfig
    from kinmo_core.models.rvq import RVQVAE, RVQConfig

    if size not in ("tiny", "default"):
        raise KinmoInputError(f"size must be 'tiny' or 'default', got {size!r}")
    torch.manual_seed(seed)
    tiny = size == "tiny"
    rq = RVQConfig(width=32, code_dim=16, depth=1, num_quantizers=3, codebook_size=32) if tiny else RVQConfig()
    rvq = RVQVAE(rq)
    for layer in rvq.quantizer.layers:
        layer.codebook.normal_(std=0.5 if tiny else 0.1)
    if cond in ("htma", "htma+sentence"):
        from kinmo_core.models.htma import HTMA, HTMAConfig

        hc = HTMAConfig(latent_dim=32, ff_dim=64, n_layers=1, n_heads=2) if tiny else HTMAConfig()
        conditioner = HTMAConditioner.from_model(HTMA(hc))
        if cond == "htma+sentence":
            conditioner = HybridConditioner(conditioner)
    else:
        conditioner = SentenceConditioner()
    cd = conditioner.cond_dim
    small = {"d_model": 32, "n_layers": 1, "n_heads": 2} if tiny else {}
    mt = MaskTransformer(MaskTransformerConfig(codebook_size=rq.codebook_size, cond_dim=cd, max_tokens=50, **small))
    rt = ResidualTransformer(ResidualTransformerConfig(codebook_size=rq.codebook_size, num_quantizers=rq.num_quantizers,
                                                       cond_dim=cd, max_tokens=50, **small))
    le = LengthEstimator(LengthEstimatorConfig(hidden=16 if tiny else 256)) if length_estimator else None
    if mean is None:
        from kinmo_core.motion.features import joints_to_features
        from kinmo_core.motion.skeleton import rest_pose

        # A standing rest pose, so decoded motions stay near a human shape.
        mean = np.asarray(joints_to_features(np.repeat(rest_pose()[None], 3, axis=0)), np.float32).mean(0)
    if std is None:
        std = np.full(rq.input_dim, 0.05, np.float32)
    ct = None
    if control:
        ct = MaskTransformer(MaskTransformerConfig(codebook_size=rq.codebook_size, cond_dim=cd, max_tokens=50,
                                                   control_frames=rq.frames_per_token, **small))
        torch.nn.init.normal_(ct.control[-1].weight, std=0.5)
    parts = PipelineParts(rvq, np.asarray(mean, np.float32), np.asarray(std, np.float32), mt, rt, conditioner, le,
                          manifest={"note": f"untrained random components ({size}), for tests and benchmarks"},
                          control_transformer=ct)
    return KinMoPipeline(parts)
