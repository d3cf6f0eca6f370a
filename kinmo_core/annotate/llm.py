"""LLM annotators: a versioned prompt, strict JSON validation, an OpenAI-compatible HTTP client and a local HF model.

The prompt is built from the keyframe pose descriptions and the per-group changes
between keyframes (paper Sec. 3.2, Fig. 2). The model must answer one JSON object
{"groups": {6 keys}, "interactions": {15 keys}}; anything else is malformed and retried.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from kinmo_core.annotate.core import MotionAnalysis, check_description_keys, timeline_json
from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.fileio import atomic_output
from kinmo_core.motion.kinematic import GROUPS, PAIRS

PROMPT_VERSION: str = "kinmo-prompt-1"
"""Bump when the prompt text changes: cached answers are keyed by it."""

SYSTEM_PROMPT = (
    "You annotate 3D human motion for the KinMo dataset. You receive pose descriptions of the keyframes of one "
    "motion (posecodes per body part), what changes in each body part between keyframes, and automatically "
    "detected actions. Describe what each of the six kinematic groups does over the whole motion (torso, neck, "
    "left_arm, right_arm, left_leg, right_leg) and how each of the fifteen pairs of groups move relative to each "
    "other. Name actions plainly (walk, jog, run, jump, hop, squat, lunge, kneel, kick, march, swing, wave, raise, "
    "punch, reach, point, clap, throw, bow, lean, twist, nod, shake, look) and say left or right. Say that a part is "
    "still when it does not move. Answer with ONE JSON object only, no prose, with exactly these keys: "
    '{"groups": {"torso": str, "neck": str, "left_arm": str, "right_arm": str, "left_leg": str, "right_leg": str}, '
    '"interactions": {' + ", ".join(f'"{p}": str' for p in PAIRS) + "}}"
)


class AnnotationError(KinmoModelError):
    """An annotator could not produce a valid annotation for one motion (the message says why)."""


def build_prompt(analysis: MotionAnalysis, captions: list[str] | None = None) -> list[dict[str, str]]:
    """Return the chat messages (system + user) asking an LLM to annotate one motion."""
    lines = [
        f"Motion {analysis.motion_id}: {analysis.n_frames} frames at {analysis.fps:g} fps "
        f"({analysis.n_frames / analysis.fps:.1f} s)."
    ]
    if captions:
        lines.append("Global captions: " + " | ".join(captions))
    lines.append("Keyframe pose descriptions:")
    for kf in analysis.keyframe_descriptions():
        parts = " ".join(f"[{g}] {t}" for g, t in kf["groups"].items() if t)
        lines.append(f"- t={kf['time_s']:.2f}s: {parts}")
    lines.append("Changes between keyframes:")
    for ch in analysis.changes:
        if ch["groups"]:
            parts = "; ".join(f"{g}: {t}" for g, t in ch["groups"].items())
            lines.append(f"- {ch['start'] / analysis.fps:.2f}-{ch['end'] / analysis.fps:.2f}s: {parts}")
    lines.append("Detected actions per group (from the motion signal): " + json.dumps(timeline_json(analysis)))
    lines.append("Return the JSON object now.")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(lines)}]


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_annotation(text: str) -> dict[str, dict[str, str]]:
    """Parse and validate an LLM answer; raise AnnotationError if it is not the required JSON object."""
    if not isinstance(text, str) or not text.strip():
        raise AnnotationError("empty answer")
    body = text.strip()
    fence = _FENCE.search(body)
    if fence:
        body = fence.group(1).strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise AnnotationError("answer holds no JSON object")
    try:
        data = json.loads(body[start : end + 1])
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"malformed JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(data, dict):
        raise AnnotationError("answer is not a JSON object")
    try:
        check_description_keys(data)
    except ValueError as exc:
        raise AnnotationError(f"answer does not match the schema: {exc}") from exc
    return {
        "groups": {g: data["groups"][g].strip() for g in GROUPS},
        "interactions": {p: data["interactions"][p].strip() for p in PAIRS},
    }


class AnswerCache:
    """On-disk cache of validated LLM answers, one JSON file per (motion, prompt version, model, prompt hash)."""

    def __init__(self, folder: str | os.PathLike | None) -> None:
        self.folder = Path(folder) if folder is not None else None

    def key(self, motion_id: str, model: str, messages: list[dict[str, str]]) -> str:
        """Return the cache key of one request."""
        digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{motion_id}__{PROMPT_VERSION}__{model}")
        return f"{safe}__{digest}"

    def get(self, key: str) -> dict | None:
        """Return a cached answer or None."""
        if self.folder is None:
            return None
        path = self.folder / f"{key}.json"
        if not path.is_file():
            return None
        try:
            return parse_annotation(path.read_text(encoding="utf-8"))
        except (OSError, AnnotationError):
            return None

    def put(self, key: str, value: dict) -> None:
        """Store an answer atomically."""
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.folder / f"{key}.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(value), encoding="utf-8")


class OpenAIAnnotator:
    """Annotates through any OpenAI-compatible chat-completions endpoint (no SDK: urllib)."""

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_concurrency: int = 4,
        cache_dir: str | os.PathLike | None = None,
        temperature: float = 0.0,
    ) -> None:
        self.base_url = (
            base_url
            or os.environ.get("KINMO_OPENAI_BASE_URL")
            or os.environ.get("OPENAI_BASE_URL")
            or "https://api.openai.com/v1"
        ).rstrip("/")
        self.model = model or os.environ.get("KINMO_OPENAI_MODEL") or "gpt-4o-mini"
        self.api_key = api_key or os.environ.get("KINMO_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY") or ""
        if not self.base_url.startswith(("http://", "https://")):
            raise KinmoInputError(f"the OpenAI base URL must start with http:// or https://, got {self.base_url!r}")
        if timeout <= 0 or max_retries < 0 or max_concurrency < 1:
            raise KinmoInputError("timeout must be > 0, retries >= 0 and concurrency >= 1")
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.temperature = float(temperature)
        self._slots = threading.BoundedSemaphore(int(max_concurrency))
        self.cache = AnswerCache(cache_dir)
        self.version = f"{PROMPT_VERSION}/{self.model}"
        self.requests_made = 0
        self._count_lock = threading.Lock()

    def _post(self, messages: list[dict[str, str]]) -> str:
        payload = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "response_format": {"type": "json_object"},
        }
        req = urllib.request.Request(
            f"{self.base_url}/chat/completions",
            data=json.dumps(payload).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
            },
            method="POST",
        )
        with self._count_lock:
            self.requests_made += 1
        with self._slots, urllib.request.urlopen(req, timeout=self.timeout) as resp:
            body = json.loads(resp.read().decode("utf-8"))
        try:
            return body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise AnnotationError("response is not a chat completion (no choices[0].message.content)") from exc

    def annotate(self, analysis: MotionAnalysis, captions: list[str] | None = None) -> dict:
        """Return validated group and interaction descriptions, retrying with exponential backoff."""
        messages = build_prompt(analysis, captions)
        key = self.cache.key(analysis.motion_id, self.model, messages)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        last = "no attempt made"
        for attempt in range(self.max_retries + 1):
            if attempt:
                # Exponential backoff with jitter so parallel workers do not retry in lockstep.
                time.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random() / 2))
            try:
                result = parse_annotation(self._post(messages))
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} from {self.base_url}"
                if exc.code in (400, 401, 403, 404):
                    break  # retrying a refused request does not help
            except (urllib.error.URLError, ConnectionError) as exc:
                last = f"endpoint unreachable ({getattr(exc, 'reason', exc)})"
            except (TimeoutError, OSError) as exc:
                last = f"request failed ({type(exc).__name__}: {exc or 'timed out'})"
            except (AnnotationError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                last = f"malformed answer: {exc}"
            else:
                self.cache.put(key, result)
                return result
        raise AnnotationError(f"openai annotator gave up after {self.max_retries + 1} attempts: {last}")


class HFAnnotator:
    """Annotates with a local Hugging Face causal language model (greedy decoding, same validation)."""

    name = "hf"

    def __init__(self, model_path: str | os.PathLike, max_new_tokens: int = 768, max_retries: int = 0) -> None:
        path = Path(model_path).expanduser()
        if not path.is_dir() or not (path / "config.json").is_file():
            raise KinmoInputError(f"not a local Hugging Face model folder (no config.json): {path}")
        self.model_path = path
        self.max_new_tokens = int(max_new_tokens)
        self.max_retries = int(max_retries)
        self.version = f"{PROMPT_VERSION}/hf:{path.name}"
        self._lock = threading.Lock()
        self._tok = None
        self._model = None

    def _load(self):
        if self._model is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            from transformers import AutoModelForCausalLM, AutoTokenizer

            try:
                self._tok = AutoTokenizer.from_pretrained(str(self.model_path), local_files_only=True)
                self._model = AutoModelForCausalLM.from_pretrained(str(self.model_path), local_files_only=True).eval()
                # Keep the end of a long prompt (the instructions to answer), not its start.
                self._tok.truncation_side = "left"
            except Exception as exc:
                raise KinmoInputError(f"cannot load a causal LM from {self.model_path}: {exc}") from exc
        return self._tok, self._model

    def _prompt_text(self, messages: list[dict[str, str]]) -> str:
        tok, _ = self._load()
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in messages) + "\n\nASSISTANT: "

    def generate(self, messages: list[dict[str, str]]) -> str:
        """Return the model's raw continuation of the prompt."""
        import torch

        tok, model = self._load()
        text = self._prompt_text(messages)
        with self._lock, torch.inference_mode():
            limit = getattr(model.config, "max_position_embeddings", None) or 2048
            room = max(16, limit - self.max_new_tokens)
            ids = tok(text, return_tensors="pt", truncation=True, max_length=room)
            out = model.generate(
                **ids,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            )
        return tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)

    def annotate(self, analysis: MotionAnalysis, captions: list[str] | None = None) -> dict:
        """Return validated descriptions from the local model, or raise AnnotationError."""
        messages = build_prompt(analysis, captions)
        last = ""
        for _ in range(self.max_retries + 1):
            try:
                return parse_annotation(self.generate(messages))
            except AnnotationError as exc:
                last = str(exc)
        raise AnnotationError(f"hf annotator gave no valid answer: {last}")
