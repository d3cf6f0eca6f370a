"""Train the Motion Reasoner on a corpus's annotations (paper Sec. 4).

    python -m training.train_reasoner --data data/corpus --out runs/reasoner
    python -m training.train_reasoner --data data/corpus --out runs/my-llm --base-model PATH [--lora]
    torchrun --nproc_per_node 8 -m training.train_reasoner --data HumanML3D --out runs/llama3-lora \\
        --base-model models/Meta-Llama-3-8B-Instruct --lora --device cuda --checkpoint-every 200
    python -m training.train_reasoner --data data/corpus --evaluate runs/reasoner [--split test]

Every caption of a training-split motion (mirrors included) is paired with the motion's 21 descriptions
from `annotations.json`. The default model is a small decoder over frozen MiniLM token features whose output
vocabulary is the WordPiece ids seen in the targets; caption features are computed once and cached. With
`--base-model`, any local Hugging Face causal LM is fine-tuned instead (next-token loss on the JSON answer
after a fixed prompt; LoRA through peft with `--lora`). `--evaluate` scores a trained reasoner on a split
against the corpus's hidden ground truth and on the hand-written prompts.

Default model: `--batch B` sets a budget of 32 * B target tokens per step (batches are drawn from length buckets);
`--max-minutes M` ends training after M minutes with the learning-rate schedule following the clock.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from kinmo_core.data.actions import IMPLIED_ACTIONS, mentions_action
from kinmo_core.data.corpus import GROUND_TRUTH_DIR
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.kinematic import GROUPS, MIRROR_GROUP
from kinmo_core.reasoner import FIELDS, MARKER_NAME, VOCAB_NAME, format_prompt, format_target, mirror_descriptions
from training.common import (
    Schedule,
    add_size_arg,
    add_time_budget,
    base_parser,
    init_weights,
    provenance,
    setup,
    size_fields,
)

ANNOTATIONS_NAME = "annotations.json"


def unspoken_groups(caption: str, truth: dict) -> set[str]:
    """Groups whose ground-truth action (other than an implied one) the caption never names.

    The corpus's captions deliberately leave out some actions; their annotations still describe them. Training the
    reasoner on such fields would teach it to guess actions the text gives no evidence of, so they are left out of
    the loss (the default for an unmentioned part is what the rest of the caption implies).
    """
    out = set()
    for group, spans in truth.get("groups", {}).items():
        if any(s["action"] not in IMPLIED_ACTIONS and not mentions_action(caption, s["action"]) for s in spans):
            out.add(group)
    return out


_SIDE_WORD = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def acts_on_left(caption: str, truth: dict) -> bool:
    """Whether a caption that names no side describes actions done by the left side only ("kicks twice").

    Such motions pick a side at random; training the reasoner on them as they are teaches it that sides are noise.
    Their targets are mirrored instead, so an unsided one-sided action is written on the right (the convention of
    right-handed and right-footed people), and "left" / "right" in a caption stay the only signal for sides.
    """
    if _SIDE_WORD.search(caption):
        return False
    groups = truth.get("groups", {})
    left = right = 0
    for a_group, b_group in (("left_arm", "right_arm"), ("left_leg", "right_leg")):
        acts_l = {s["action"] for s in groups.get(a_group, [])}
        acts_r = {s["action"] for s in groups.get(b_group, [])}
        for action in (acts_l ^ acts_r) - IMPLIED_ACTIONS:
            if mentions_action(caption, action):
                left += action in acts_l
                right += action in acts_r
    return left > right


def field_mask(unspoken: set[str]) -> list[bool]:
    """Per field of FIELDS: whether it is trained (neither it nor a group of its pair is unspoken)."""
    return [not (set(name.split("|")) & unspoken) for name in FIELDS]


def load_pairs(data: list[str] | str, annotations: str | Path | None, split: str,
               masks: list[list[bool]] | None = None, paraphrase: float = 0.0,
               seed: int = 0, per_motion: int | None = None) -> list[tuple[str, dict]]:
    """Return (caption, {'groups', 'interactions'}) for every caption of the split's annotated motions.

    `data` holds FOLDER[:N] specs (training/common.py); N repeats a folder's training pairs. `annotations` replaces
    the first folder's annotations.json; a folder without annotations is skipped with a note. When `masks` is a
    list it receives, per pair, which fields the caption gives evidence for (`field_mask`; all where the folder
    has no hidden ground truth), and pairs whose caption leaves a one-sided action's side open get the mirrored
    descriptions where the motion acted on the left (`acts_on_left`). With `paraphrase` > 0 (training split, masks
    given) that fraction of the captions also joins in other words (`reasoner_augment.paraphrase_caption`), with the
    descriptions and field mask of the caption it rewrites. `per_motion` keeps that many captions of each motion
    (drawn with the seed; None: all).
    """
    from kinmo_core.annotate.annotations import read_annotations
    from kinmo_core.data.layout import read_split
    from training.common import parse_data
    from training.reasoner_augment import paraphrase_caption

    pairs: list[tuple[str, dict]] = []
    rng = np.random.default_rng([seed, 7])
    for n, (folder, rep) in enumerate(parse_data(data)):
        path = Path(annotations) if (annotations and n == 0) else folder / ANNOTATIONS_NAME
        if not path.is_file():
            print(f"note: {folder} has no {path.name}; its captions are not used by the reasoner")
            continue
        motions = read_annotations(path).get("motions", {})
        found, found_masks = [], []
        for mid in read_split(folder, split):
            m = motions.get(mid)
            if not m:
                continue
            desc = {"groups": m["groups"], "interactions": m["interactions"]}
            caps = [cap.strip() for cap in m.get("captions", []) if cap.strip()]
            if per_motion is not None and len(caps) > per_motion:
                caps = [caps[i] for i in sorted(rng.choice(len(caps), per_motion, replace=False))]
            if masks is None:
                found += [(cap, desc) for cap in caps]
                continue
            gt_file = folder / GROUND_TRUTH_DIR / f"{mid}.json"
            truth = json.loads(gt_file.read_text()) if gt_file.is_file() else {}
            for cap in caps:
                unspoken = unspoken_groups(cap, truth)
                if acts_on_left(cap, truth):
                    found.append((cap, mirror_descriptions(desc)))
                    unspoken = {MIRROR_GROUP[g] for g in unspoken}
                else:
                    found.append((cap, desc))
                found_masks.append(field_mask(unspoken))
                if paraphrase > 0 and split == "train" and rng.random() < paraphrase:
                    other = paraphrase_caption(cap, rng)
                    if other is not None:
                        found.append((other, found[-1][1]))
                        found_masks.append(found_masks[-1])
        pairs += found * (rep if split == "train" else 1)
        if masks is not None:
            masks += found_masks * (rep if split == "train" else 1)
    if not pairs:
        raise KinmoInputError(f"no annotated captions in the {split} split of {', '.join(map(str, parse_data(data)))}")
    return pairs


# ------------------------------------------------------------------------------------------------ default model


def _trim_to_sentence(ids: list[int], limit: int, period: int) -> list[int]:
    if len(ids) <= limit:
        return ids
    cut = max((i for i in range(limit) if ids[i] == period), default=-1)
    return ids[: cut + 1] if cut > 0 else ids[:limit]


class TargetTable:
    """All targets as compact token ids: (pairs, 21, max_len + 1) with BOS ... EOS PAD."""

    def __init__(self, tokenizer, pairs: list[tuple[str, dict]], max_len: int, wordpiece_ids: list[int] | None = None
                 ) -> None:
        from kinmo_core.models.description_decoder import BOS, EOS, NUM_SPECIAL, PAD, UNK

        texts = sorted({d[k][f] for _, d in pairs for k in ("groups", "interactions") for f in d[k]})
        tok = dict(zip(texts, tokenizer(texts, add_special_tokens=False)["input_ids"], strict=True))
        period = tokenizer.convert_tokens_to_ids(".")
        tok = {t: _trim_to_sentence(ids, max_len - 1, period) for t, ids in tok.items()}
        if wordpiece_ids is None:
            wordpiece_ids = sorted({i for ids in tok.values() for i in ids})
        self.wordpiece_ids = wordpiece_ids
        compact = {w: i + NUM_SPECIAL for i, w in enumerate(wordpiece_ids)}
        seqs = {t: [BOS] + [compact.get(i, UNK) for i in ids] + [EOS] for t, ids in tok.items()}
        # int16 keeps a 100k-caption table near 300 MB; batches are widened to int64 when drawn.
        table = np.full((len(pairs), len(FIELDS), max_len + 1), PAD, dtype=np.int16)
        for p, (_, d) in enumerate(pairs):
            for f, name in enumerate(FIELDS):
                seq = seqs[d["groups"][name] if name in GROUPS else d["interactions"][name]]
                table[p, f, : len(seq)] = seq
        self.table = torch.from_numpy(table)
        self.lengths = (self.table != PAD).sum(-1)


class CaptionFeatures:
    """Frozen token features of every distinct caption, computed once (and cached on disk).

    Stored flat, (all tokens, D) in bfloat16 with per-caption offsets: padding 100k captions to the longest would
    take several GB.
    """

    def __init__(self, encoder, captions: list[str], cache_dir: Path | None = None, batch: int = 128) -> None:
        self.captions = sorted(set(captions))
        self.index = {c: i for i, c in enumerate(self.captions)}
        key = hashlib.sha256(("\n".join(self.captions) + str(encoder.model_path.name)).encode()).hexdigest()[:16]
        cache = cache_dir / f"caption_features-{key}.pt" if cache_dir is not None else None
        if cache is not None and cache.is_file():
            data = torch.load(cache, weights_only=True)
            if data.get("key") == key and "flat" in data:
                self.flat, self.lens = data["flat"], data["lens"]
                self.starts = torch.cumsum(self.lens, 0) - self.lens
                return
        # Features of captions that other cached sets hold are reused: runs that add captions encode only those.
        known = _cached_features(cache_dir, encoder.model_path.name, set(self.captions)) if cache_dir else {}
        todo = [c for c in self.captions if c not in known]
        todo.sort(key=len)  # batches of similar length pad less
        for s in tqdm(range(0, len(todo), batch), desc="caption features", unit="batch", leave=False):
            f, m = encoder.encode(todo[s:s + batch])
            for cap, row, mrow in zip(todo[s:s + batch], f, m, strict=True):
                known[cap] = row[: int(mrow.sum())].to(torch.bfloat16)
        chunks = [known[c] for c in self.captions]
        self.flat = torch.cat(chunks)
        self.lens = torch.tensor([len(c) for c in chunks])
        self.starts = torch.cumsum(self.lens, 0) - self.lens
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            torch.save({"key": key, "flat": self.flat, "lens": self.lens, "captions": self.captions,
                        "encoder": str(encoder.model_path.name)}, tmp)
            tmp.replace(cache)

    def __len__(self) -> int:
        return len(self.captions)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, T, D) float32 and mask (N, T) of captions idx, padded to the longest."""
        lens = self.lens[idx]
        t = int(lens.max())
        out = torch.zeros(len(idx), t, self.flat.shape[1])
        for row, (s, n) in enumerate(zip(self.starts[idx].tolist(), lens.tolist(), strict=True)):
            out[row, :n] = self.flat[s:s + n]
        return out, torch.arange(t)[None] < lens[:, None]


def _cached_features(cache_dir: Path, encoder_name: str, wanted: set[str]) -> dict[str, torch.Tensor]:
    """Features of the wanted captions found in the cache folder's files (those that list their captions)."""
    found: dict[str, torch.Tensor] = {}
    for path in sorted(Path(cache_dir).glob("caption_features-*.pt")) if Path(cache_dir).is_dir() else []:
        data = torch.load(path, weights_only=True)
        if data.get("encoder") != encoder_name or "captions" not in data:
            continue
        starts = torch.cumsum(data["lens"], 0) - data["lens"]
        for cap, s, n in zip(data["captions"], starts.tolist(), data["lens"].tolist(), strict=True):
            if cap in wanted and cap not in found:
                found[cap] = data["flat"][s:s + n]
    return found


def _sample(rng: torch.Generator, n_pairs: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randint(n_pairs, (batch,), generator=rng), torch.randint(len(FIELDS), (batch,), generator=rng)


class LengthBuckets:
    """Samples (pair, field) items of similar length with a fixed token budget per batch.

    Descriptions run from 8 to 72 tokens; padding a uniform sample to its longest wastes about half of every step.
    Each step draws a bucket with probability proportional to its size, then items uniformly inside it, so every
    item is equally likely overall; shorter buckets get proportionally more items.
    """

    EDGES = (12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80)

    def __init__(self, lengths: torch.Tensor, tokens: int, keep: torch.Tensor | None = None) -> None:
        # Items left out (keep False) get length 0 and so fall in no bucket.
        flat = (lengths if keep is None else lengths * keep).reshape(-1)
        self.n_fields = lengths.shape[1]
        self.buckets, self.sizes = [], []
        lo = 0
        for hi in self.EDGES + (int(flat.max()) + 1,):
            items = torch.nonzero((flat > lo) & (flat <= hi)).reshape(-1)
            if len(items):
                self.buckets.append(items)
                self.sizes.append(max(8, tokens // hi))
            lo = max(lo, hi)
        self.weights = torch.tensor([len(b) for b in self.buckets], dtype=torch.float)

    def sample(self, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (pair indices, field indices) of one batch."""
        b = int(torch.multinomial(self.weights, 1, generator=rng))
        items = self.buckets[b]
        pick = items[torch.randint(len(items), (self.sizes[b],), generator=rng)]
        return pick // self.n_fields, pick % self.n_fields


def _batch_loss(loss_fn, targets: TargetTable, feats: CaptionFeatures, cap_of_pair: torch.Tensor, p: torch.Tensor,
                f: torch.Tensor, run) -> torch.Tensor:
    seq = targets.table[p, f, : int(targets.lengths[p, f].max())].long()
    text, mask = feats.batch(cap_of_pair[p])
    with run.autocast():
        return loss_fn(*run.to((seq, f, text, mask))).float()


@torch.no_grad()
def _val_loss(model, targets, feats, cap_of_pair, run, batches: int = 8, batch: int = 256) -> float:
    model.eval()
    rng = torch.Generator().manual_seed(1234)
    total = 0.0
    for _ in range(batches):
        p, f = _sample(rng, len(targets.table), batch)
        total += float(_batch_loss(model.loss, targets, feats, cap_of_pair, p, f, run))
    model.train()
    return total / batches


SIZES = {"tiny": {"d_model": 32, "layers": 1, "heads": 2}, "default": {}, "full": {}}
"""--size presets of the default reasoner (full: a local LLaMA-3 with --base-model, the paper's setup)."""


def train_default(args, run) -> int:
    """Train KinMo's default reasoner and save it (weights, config, vocab.json)."""
    from kinmo_core.fileio import write_atomic
    from kinmo_core.models.description_decoder import NUM_SPECIAL, ReasonerConfig, ReasonerModel
    from kinmo_core.models.io import save_pretrained
    from kinmo_core.text.encoders import get_token_encoder

    out = Path(args.out)
    if run.is_main:
        _check_out(out, args.overwrite)
    for key, value in size_fields(SIZES, args.size).items():
        setattr(args, key, value)
    steps = args.steps or 1800
    batch = args.batch or 192
    peak = args.lr or 1e-3
    encoder = get_token_encoder(args.text_encoder)
    tokenizer = encoder._load()[0]
    masks: list[list[bool]] = []
    train_pairs = load_pairs(args.data, args.annotations, "train", masks, paraphrase=args.paraphrase, seed=args.seed,
                             per_motion=args.captions_per_motion)
    n_corpus = len(train_pairs)
    if args.augment:
        from training.reasoner_augment import synthetic_pairs

        extra = synthetic_pairs(args.augment, args.seed)
        train_pairs += extra
        masks += [[True] * len(FIELDS)] * len(extra)  # composed with exactly the caption's segments: all fields
    keep = torch.tensor(masks, dtype=torch.long)
    val_pairs = load_pairs(args.data, args.annotations, "val", seed=args.seed, per_motion=args.captions_per_motion)
    max_len = args.max_len
    wordpiece_ids = None
    if args.init:  # fine-tuning keeps the model's output vocabulary (words it never saw would be UNK)
        try:
            wordpiece_ids = [int(i) for i in json.loads((Path(args.init) / VOCAB_NAME).read_text())["wordpiece_ids"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KinmoInputError(f"--init {args.init}: missing or damaged {VOCAB_NAME}: {exc}") from None
    train_t = TargetTable(tokenizer, train_pairs, max_len, wordpiece_ids)
    val_t = TargetTable(tokenizer, val_pairs, max_len, train_t.wordpiece_ids)
    # The cache lives outside the model folder, which is copied whole into the default assets.
    cache_dir = Path(args.cache_dir) if args.cache_dir else Path(tempfile.gettempdir()) / "kinmo-reasoner-cache"
    with run.main_first():  # rank 0 computes the caption features into the cache, the others read them
        feats = CaptionFeatures(encoder, [c for c, _ in train_pairs + val_pairs], cache_dir)
    train_caps = torch.tensor([feats.index[c] for c, _ in train_pairs])
    val_caps = torch.tensor([feats.index[c] for c, _ in val_pairs])
    cfg = ReasonerConfig(vocab_size=len(train_t.wordpiece_ids) + NUM_SPECIAL, text_dim=encoder.dim,
                         num_fields=len(FIELDS), d_model=args.d_model, n_layers=args.layers, n_heads=args.heads,
                         dropout=0.1, max_len=max_len)
    model = ReasonerModel(cfg)
    init_weights(model, ReasonerConfig, args.init)
    n_params = sum(p.numel() for p in model.parameters())
    left_out = 1 - float(keep.float().mean())
    run.print(f"{len(train_pairs)} training captions ({n_corpus} from the corpus with paraphrases, "
              f"{len(train_pairs) - n_corpus} composed; {len(feats)} distinct with val; {left_out:.1%} "
          "of fields left out where the caption leaves their action unspoken), "
          f"vocabulary {len(train_t.wordpiece_ids)} words, {n_params / 1e6:.2f} M parameters")
    step_fn = run.wrap(model, "loss")
    opt = torch.optim.AdamW(model.parameters(), lr=peak, betas=(0.9, 0.98), weight_decay=0.01)
    rng = torch.Generator().manual_seed(run.rank_seed(args.seed))  # this rank's batches (CPU indices)
    t0 = time.time()
    val = float("nan")
    buckets = LengthBuckets(train_t.lengths, tokens=batch * 32, keep=keep)
    schedule = Schedule(opt, steps, peak, min(200, steps // 10 + 1), args.max_minutes, desc="reasoner", run=run)
    run.track(opt=opt, schedule=schedule, batches=rng)
    run.restore()
    log = run.log(out / "train_log.jsonl")
    for step in schedule:
        p, f = buckets.sample(rng)
        loss = _batch_loss(step_fn, train_t, feats, train_caps, p, f, run)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.log_every == 0 or step == steps - 1:
            row = {"step": step, "loss": run.mean(float(loss.detach())), "lr": opt.param_groups[0]["lr"],
                   "secs": time.time() - t0}
            if run.is_main and step % 500 == 0 and step > 0:
                val = _val_loss(model, val_t, feats, val_caps, run)
                row["val_loss"] = val
            log.write(**row)
            schedule.bar.set_postfix(loss=f"{row['loss']:.3f}", val=f"{val:.3f}")
        run.step_end(schedule.done)
    if not run.is_main:
        run.finish()
        return 0
    val = _val_loss(model, val_t, feats, val_caps, run)
    log.write(step=schedule.done, val_loss=val, secs=time.time() - t0)
    log.close()
    model.eval().cpu()
    vocab = {"tokenizer": str(encoder.model_path.name), "wordpiece_ids": train_t.wordpiece_ids}
    write_atomic(out / VOCAB_NAME, lambda fh: fh.write(json.dumps(vocab).encode()), overwrite=True)
    meta = provenance(args, steps=steps, steps_done=schedule.done, batch=batch, lr=peak, val_loss=val,
                      fields=list(FIELDS), text_encoder=args.text_encoder, train_captions=len(train_pairs),
                      augment=args.augment, paraphrase=args.paraphrase, init=args.init,
                      captions_per_motion=args.captions_per_motion,
                      minutes=(time.time() - t0) / 60)
    save_pretrained(model, cfg, out, extra_meta={**meta, **run.describe()}, overwrite=True)
    print(f"saved {out} (val loss {val:.4f}, {(time.time() - t0) / 60:.1f} min)")
    run.finish()
    return 0


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise KinmoInputError(f"{out} exists and is not a folder")
    if not overwrite and out.is_dir() and ((out / "config.json").exists() or (out / MARKER_NAME).exists()):
        raise KinmoInputError(f"{out} already holds a model (pass --overwrite to replace it)")
    out.mkdir(parents=True, exist_ok=True)


# ------------------------------------------------------------------------------------------------ user's causal LM


def train_causal_lm(args, run) -> int:
    """Fine-tune a local Hugging Face causal LM (optionally with LoRA) on prompt -> JSON descriptions."""
    from kinmo_core.fileio import write_atomic
    from kinmo_core.text.encoders import _force_offline

    _force_offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = Path(args.base_model).expanduser()
    if not (base / "config.json").is_file():
        raise KinmoInputError(f"--base-model {base}: not a Hugging Face model folder (no config.json)")
    out = Path(args.out)
    if run.is_main:
        _check_out(out, args.overwrite)
    steps = args.steps or 1000
    batch = args.batch or 4
    peak = args.lr or (2e-4 if args.lora else 3e-5)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
        # LoRA on a GPU with bf16: the frozen base weights stay in bfloat16 (an 8B model in 16 GB, not 32); the
        # adapters peft adds train in float32.
        half = {"dtype": torch.bfloat16} if args.lora and run.bf16 and run.device.type == "cuda" else {}
        model = AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True, **half)
    except Exception as exc:
        raise KinmoInputError(f"cannot load a causal LM from {base}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if args.lora:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError as exc:
            raise KinmoInputError("--lora needs the peft package (pip install peft)") from exc
        lcfg = LoraConfig(r=args.lora_rank, lora_alpha=2 * args.lora_rank, lora_dropout=0.05,
                          target_modules="all-linear", task_type="CAUSAL_LM")
        model = get_peft_model(model, lcfg)
    pairs = load_pairs(args.data, args.annotations, "train")
    eos = tokenizer.eos_token_id
    limit = int(getattr(model.config, "max_position_embeddings", 0) or getattr(model.config, "n_positions", 0)
                or 4096)
    examples = []
    for cap, desc in pairs:
        prompt = tokenizer(format_prompt(cap), add_special_tokens=False)["input_ids"]
        target = tokenizer(format_target(desc), add_special_tokens=False)["input_ids"]
        target = target + ([eos] if eos is not None else [])
        ids = (prompt + target)[:limit]
        labels = ([-100] * len(prompt) + target)[:limit]
        examples.append((ids, labels))
    params = [p for p in model.parameters() if p.requires_grad]
    run.print(f"{len(examples)} training captions; {sum(p.numel() for p in params) / 1e6:.2f} M trainable parameters")
    step_fn = run.wrap(model)
    opt = torch.optim.AdamW(params, lr=peak, weight_decay=0.0)
    rnd = random.Random(run.rank_seed(args.seed))  # this rank's batches
    pad = tokenizer.pad_token_id
    model.train()
    t0 = time.time()
    schedule = Schedule(opt, steps, peak, min(100, steps // 10 + 1), args.max_minutes, desc="reasoner-llm", run=run)
    # With LoRA a checkpoint holds the adapters only; the frozen base model is read from --base-model again.
    run.track(opt=opt, schedule=schedule, batches=rnd, trainable_only=bool(args.lora))
    run.restore()
    log = run.log(out / "train_log.jsonl")
    for step in schedule:
        chosen = [examples[rnd.randrange(len(examples))] for _ in range(batch)]
        width = max(len(ids) for ids, _ in chosen)
        ids = torch.tensor([i + [pad] * (width - len(i)) for i, _ in chosen])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in chosen])
        attn = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in chosen])
        ids, attn, labels = run.to((ids, attn, labels))
        with run.autocast():
            loss = step_fn(input_ids=ids, attention_mask=attn, labels=labels).loss.float()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % args.log_every == 0 or step == steps - 1:
            value = run.mean(float(loss.detach()))
            log.write(step=step, loss=value, lr=opt.param_groups[0]["lr"], secs=time.time() - t0)
            schedule.bar.set_postfix(loss=f"{value:.3f}")
        run.step_end(schedule.done)
    log.close()
    if not run.is_main:
        run.finish()
        return 0
    model.eval().cpu()
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    marker = {"kind": "kinmo-reasoner-causal-lm", "format_version": 1, "lora": bool(args.lora),
              "base_model": str(base.resolve()), "fields": list(FIELDS), "max_new_tokens": args.max_new_tokens,
              **provenance(args, steps=steps, steps_done=schedule.done, batch=batch, lr=peak), **run.describe()}
    # The marker goes last: a folder with it is complete.
    write_atomic(out / MARKER_NAME, lambda fh: fh.write(json.dumps(marker, indent=2).encode()), overwrite=True)
    print(f"saved {out} ({(time.time() - t0) / 60:.1f} min)")
    run.finish()
    return 0


# ------------------------------------------------------------------------------------------------ evaluation


def evaluate(args) -> int:
    """Score a trained reasoner on a corpus split and on the hand-written prompts; print and optionally save."""
    from kinmo_core.eval.reasoner_heldout import HELDOUT_CATEGORIES, REASONER_HELDOUT_PROMPTS
    from kinmo_core.eval.reasoner_prompts import (
        REASONER_PROMPTS,
        evaluate_corpus,
        evaluate_prompts,
        format_reasoner_report,
    )
    from kinmo_core.reasoner import MotionReasoner
    from training.common import parse_data

    reasoner = MotionReasoner.from_pretrained(args.evaluate)
    report: dict = {"model": str(args.evaluate)}
    if not args.no_corpus:
        report["corpus"] = evaluate_corpus(reasoner, parse_data(args.data)[0][0], args.annotations, args.split,
                                           limit=args.limit)
    if args.prompt_set in ("hand", "both"):
        report["prompts"] = evaluate_prompts(reasoner, REASONER_PROMPTS[: args.prompts])
    if args.prompt_set in ("heldout", "both"):  # evaluation only: these prompts never reach training
        report["heldout"] = evaluate_prompts(reasoner, REASONER_HELDOUT_PROMPTS[: args.prompts],
                                             categories=HELDOUT_CATEGORIES)
    print(format_reasoner_report(report))
    if args.report:
        from kinmo_core.fileio import write_atomic

        write_atomic(args.report, lambda fh: fh.write(json.dumps(report, indent=2).encode()), overwrite=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and train (or evaluate); returns an exit code."""
    p = base_parser(__doc__.splitlines()[1])
    p.set_defaults(out=None)
    for a in p._actions:
        if a.dest == "out":
            a.required = False
    p.add_argument("--annotations", default=None, help="annotation file (default: DATA/annotations.json)")
    p.add_argument("--text-encoder", default=None, help="local encoder folder (default: the bundled MiniLM)")
    p.add_argument("--max-len", type=int, default=72, help="most tokens per description (default 72)")
    p.add_argument("--d-model", type=int, default=192)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--heads", type=int, default=4)
    add_size_arg(p, SIZES, help="default reasoner size (tiny for tests; the paper's setup is --base-model LLaMA-3)")
    p.add_argument("--cache-dir", default=None,
                   help="where caption token features are cached (default: a kinmo-reasoner-cache temp folder)")
    add_time_budget(p)
    p.add_argument("--augment", type=int, default=0, metavar="N",
                   help="add N captions composed from the paraphrase tables (training/reasoner_augment.py)")
    p.add_argument("--paraphrase", type=float, default=0.0, metavar="P",
                   help="a fraction P of the corpus captions also joins in other words (default 0)")
    p.add_argument("--captions-per-motion", type=int, default=None, metavar="K",
                   help="use at most K captions of each corpus motion (default all; fewer to fine-tune quickly)")
    p.add_argument("--base-model", default=None, help="fine-tune this local Hugging Face causal LM instead")
    p.add_argument("--lora", action="store_true", help="with --base-model: train LoRA adapters through peft")
    p.add_argument("--lora-rank", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=1024, help="with --base-model: generation limit")
    p.add_argument("--evaluate", default=None, metavar="MODEL", help="evaluate this trained reasoner instead")
    p.add_argument("--split", default="test", help="split to evaluate on (default test)")
    p.add_argument("--limit", type=int, default=None, help="evaluate on at most this many motions")
    p.add_argument("--prompts", type=int, default=None, help="evaluate on the first N hand-written prompts only")
    p.add_argument("--prompt-set", choices=("hand", "heldout", "both"), default="hand",
                   help="prompts to evaluate on: the 100 hand-written ones (default), the 200 held-out ones of "
                        "issue 21, or both")
    p.add_argument("--no-corpus", action="store_true", help="with --evaluate: skip the corpus split")
    p.add_argument("--report", default=None, help="write the evaluation report as JSON here")
    args = p.parse_args(argv)
    run = setup(args)
    try:
        if args.evaluate:
            return evaluate(args)
        if not args.out:
            p.error("--out is required for training")
        if args.lora and not args.base_model:
            p.error("--lora needs --base-model")
        return train_causal_lm(args, run) if args.base_model else train_default(args, run)
    except KinmoInputError as exc:
        print(f"error: {exc}")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
