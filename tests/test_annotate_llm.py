"""LLM annotators through real transports: a local OpenAI-compatible HTTP server and a tiny random HF model.

Neither is an annotator of quality here: the server answers canned JSON, the model is random.
The tests check the plumbing: prompt, validation, retries, timeouts, caching, concurrency, failure reports.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from kinmo_core.annotate.annotations import annotate_dataset, read_annotations
from kinmo_core.annotate.core import analyse_motion
from kinmo_core.annotate.llm import PROMPT_VERSION, AnnotationError, HFAnnotator, OpenAIAnnotator, parse_annotation
from kinmo_core.cli.main import main
from kinmo_core.errors import KinmoInputError
from kinmo_core.motion.kinematic import GROUPS, PAIRS


def _good_answer(mid: str) -> str:
    return json.dumps(
        {
            "groups": {g: f"{mid}: the {g} stays still." for g in GROUPS},
            "interactions": {p: f"{mid}: {p} keep their distance." for p in PAIRS},
        }
    )


class FakeLLM:
    """A chat-completions server whose behaviour depends on the motion id named in the prompt."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.inflight = 0
        self.max_inflight = 0
        self.all_good = False
        self.delay = 0.0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append(body)
                    fake.headers.append(dict(self.headers))
                    fake.inflight += 1
                    fake.max_inflight = max(fake.max_inflight, fake.inflight)
                    counted = True
                    n_same = sum(
                        1 for r in fake.requests if r["messages"][1]["content"] == body["messages"][1]["content"]
                    )
                try:
                    mid = re.search(r"Motion (\S+):", body["messages"][1]["content"]).group(1)
                    if fake.delay:
                        time.sleep(fake.delay)
                    with fake.lock:
                        # Counted as in flight until the answer is about to be sent (the client can only free its
                        # slot after that, so a new request never overlaps one that is finishing).
                        fake.inflight -= 1
                        counted = False
                    if fake.all_good or mid.startswith("good"):
                        self._reply(200, _good_answer(mid))
                    elif mid.startswith("fenced"):
                        self._reply(200, "Here you go:\n```json\n" + _good_answer(mid) + "\n```")
                    elif mid.startswith("malformed"):
                        self._reply(200, '{"groups": {"torso": "bows"')
                    elif mid.startswith("wrongkeys"):
                        self._reply(200, json.dumps({"groups": {"torso": "x"}, "interactions": {}}))
                    elif mid.startswith("flaky"):
                        if n_same == 1:
                            self._raw(500, b"overloaded")
                        else:
                            self._reply(200, _good_answer(mid))
                    elif mid.startswith("err"):
                        self._raw(500, b"internal error")
                    elif mid.startswith("slow"):
                        time.sleep(1.5)
                        self._reply(200, _good_answer(mid))
                    else:
                        self._raw(404, b"unknown")
                finally:
                    if counted:
                        with fake.lock:
                            fake.inflight -= 1

            def _reply(self, code: int, content: str) -> None:
                payload = {
                    "id": "x",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                }
                self._raw(code, json.dumps(payload).encode())

            def _raw(self, code: int, data: bytes) -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def llm():
    server = FakeLLM()
    yield server
    server.close()


@pytest.fixture(scope="module")
def joints(fixture_joints) -> np.ndarray:
    return fixture_joints[:60]


def _analysis(joints, mid):
    return analyse_motion(joints, mid)


def _client(llm, **kw) -> OpenAIAnnotator:
    opts = {
        "base_url": llm.url,
        "model": "fake-model",
        "api_key": "sk-test",
        "timeout": 5.0,
        "max_retries": 2,
        "backoff": 0.01,
    }
    opts.update(kw)
    return OpenAIAnnotator(**opts)


def test_good_answer_is_validated_and_request_is_well_formed(llm, joints):
    out = _client(llm).annotate(_analysis(joints, "good_1"), ["a person stands"])
    assert set(out["groups"]) == set(GROUPS) and set(out["interactions"]) == set(PAIRS)
    req = llm.requests[0]
    assert req["model"] == "fake-model" and req["messages"][0]["role"] == "system"
    user = req["messages"][1]["content"]
    assert "Keyframe pose descriptions" in user and "a person stands" in user and "[left_arm]" in user
    assert llm.headers[0]["Authorization"] == "Bearer sk-test"


def test_fenced_json_is_accepted(llm, joints):
    out = _client(llm).annotate(_analysis(joints, "fenced_1"))
    assert out["groups"]["torso"].startswith("fenced_1")


@pytest.mark.parametrize(
    "mid, reason", [("malformed_1", "malformed"), ("wrongkeys_1", "schema"), ("err_1", "HTTP 500")]
)
def test_bad_answers_are_retried_then_reported(llm, joints, mid, reason):
    with pytest.raises(AnnotationError, match=reason):
        _client(llm, max_retries=2).annotate(_analysis(joints, mid))
    assert len(llm.requests) == 3  # one try plus two retries


def test_transient_error_recovers_on_retry(llm, joints):
    out = _client(llm).annotate(_analysis(joints, "flaky_1"))
    assert out["groups"]["neck"].startswith("flaky_1") and len(llm.requests) == 2


def test_slow_endpoint_times_out(llm, joints):
    t0 = time.perf_counter()
    with pytest.raises(AnnotationError, match="timed out|request failed"):
        _client(llm, timeout=0.3, max_retries=1).annotate(_analysis(joints, "slow_1"))
    assert time.perf_counter() - t0 < 5


def test_endpoint_down_is_reported():
    client = OpenAIAnnotator(base_url="http://127.0.0.1:9/v1", model="m", timeout=1, max_retries=1, backoff=0.01)
    with pytest.raises(AnnotationError, match="unreachable|refused|request failed"):
        client.annotate(analyse_motion(np.load(Path(__file__).parent / "fixtures" / "012314_new_joints.npy")[:40]))


def test_answers_are_cached_by_motion_and_prompt_version(llm, joints, tmp_path):
    a = _analysis(joints, "good_cache")
    first = _client(llm, cache_dir=tmp_path).annotate(a)
    second = _client(llm, cache_dir=tmp_path).annotate(a)
    assert first == second and len(llm.requests) == 1
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and "good_cache" in files[0].name and PROMPT_VERSION in files[0].name


def test_bad_options_are_input_errors():
    with pytest.raises(KinmoInputError):
        OpenAIAnnotator(base_url="ftp://nowhere", model="m")
    with pytest.raises(KinmoInputError):
        OpenAIAnnotator(base_url="http://x", model="m", max_concurrency=0)


def test_parse_annotation_rejects_non_objects():
    for text in ("", "no json here", "[1, 2]", '{"groups": 1}'):
        with pytest.raises(AnnotationError):
            parse_annotation(text)


def _dataset(root: Path, joints: np.ndarray, ids: list[str]) -> Path:
    (root / "new_joints").mkdir(parents=True)
    for i, mid in enumerate(ids):
        np.save(root / "new_joints" / f"{mid}.npy", joints[i : i + 40])
    return root


def test_dataset_run_reports_failures_then_resumes(llm, joints, tmp_path, capsys):
    ds = _dataset(tmp_path / "ds", joints, ["good_a", "good_b", "malformed_c", "err_d", "slow_e"])
    out = tmp_path / "ann.json"
    argv = [
        "annotate",
        str(ds),
        "-o",
        str(out),
        "--annotator",
        "openai",
        "--base-url",
        llm.url,
        "--model",
        "fake",
        "--retries",
        "1",
        "--timeout",
        "0.5",
        "--workers",
        "3",
        "--quiet",
    ]
    assert main(argv) == 1
    data = read_annotations(out)
    assert set(data["motions"]) == {"good_a", "good_b"}
    assert set(data["failures"]) == {"malformed_c", "err_d", "slow_e"}
    assert "malformed" in data["failures"]["malformed_c"] and "HTTP 500" in data["failures"]["err_d"]
    err = capsys.readouterr().err
    assert "failed err_d" in err and "Traceback" not in err
    # The endpoint recovers: a re-run redoes only the failed motions.
    llm.all_good = True
    n_before = len(llm.requests)
    assert main(argv) == 0
    assert len(llm.requests) - n_before == 3
    data = read_annotations(out)
    assert len(data["motions"]) == 5 and not data["failures"] and data["complete"]
    assert data["motions"]["err_d"]["annotator"]["name"] == "openai"


def test_concurrency_is_bounded(llm, joints, tmp_path):
    llm.delay = 0.2
    ds = _dataset(tmp_path / "ds", joints, [f"good_{i}" for i in range(6)])
    client = _client(llm, max_concurrency=2)
    summary = annotate_dataset(ds, tmp_path / "a.json", client, workers=6, progress=False)
    assert summary.exit_code == 0 and llm.max_inflight <= 2 and len(llm.requests) == 6


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    """A 2-layer GPT-2 with random weights and a tokenizer built from the local MiniLM vocabulary."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from kinmo_core.text import default_model_path

    path = tmp_path_factory.mktemp("tiny_lm")
    tok = AutoTokenizer.from_pretrained(str(default_model_path()), local_files_only=True)
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=512,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
        pad_token_id=tok.pad_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_hf_annotator_runs_a_local_model_and_reports_invalid_output(tiny_lm, joints):
    ann = HFAnnotator(tiny_lm, max_new_tokens=12)
    text = ann.generate([{"role": "system", "content": "hi"}, {"role": "user", "content": "describe"}])
    assert isinstance(text, str)
    with pytest.raises(AnnotationError, match="no valid answer"):
        ann.annotate(_analysis(joints, "hf_1"))


def test_hf_dataset_run_and_bad_path(tiny_lm, joints, tmp_path, capsys):
    ds = _dataset(tmp_path / "ds", joints, ["m1"])
    out = tmp_path / "hf.json"
    rc = main(
        [
            "annotate",
            str(ds),
            "-o",
            str(out),
            "--annotator",
            "hf",
            "--hf-model",
            str(tiny_lm),
            "--max-new-tokens",
            "8",
            "--quiet",
        ]
    )
    assert rc == 1 and "m1" in read_annotations(out)["failures"]
    rc = main(
        ["annotate", str(ds), "-o", str(tmp_path / "x.json"), "--annotator", "hf", "--hf-model", str(tmp_path / "nope")]
    )
    assert rc == 2 and "error:" in capsys.readouterr().err
