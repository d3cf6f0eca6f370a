"""Hub loading and pushing with a mocked huggingface_hub (never the network), and the model card."""

from __future__ import annotations

import json

import huggingface_hub
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError

from kinmo_core.errors import KinmoInputError, KinmoModelError
from kinmo_core.hub import is_hub_id, model_card
from kinmo_core.pipeline import KinMoPipeline, random_pipeline


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub") / "pipe"
    random_pipeline("tiny", seed=4).save_pretrained(
        folder, extra={"data": ["/data/synth20k", "/data/bandai:8"], "data_version": "abc",
                       "commands": [{"component": "rvq", "command": "python -m training.train_rvq --out r",
                                     "minutes": 3.5}],
                       "components": {"rvq": {"val_mpjpe_m": 0.08}}})
    return folder


class FakeDownload:
    def __init__(self, folder, cached: bool = True) -> None:
        self.folder, self.cached, self.calls = folder, cached, []

    def __call__(self, repo_id, revision=None, token=None, cache_dir=None, local_files_only=False):
        self.calls.append({"repo_id": repo_id, "revision": revision, "local_files_only": local_files_only})
        if local_files_only and not self.cached:
            raise LocalEntryNotFoundError("not cached")
        return str(self.folder)


def test_hub_ids() -> None:
    assert is_hub_id("owner/name") and is_hub_id("Kin-Mo/kinmo.v1_2")
    assert not is_hub_id("runs/a/b") and not is_hub_id("/abs/path") and not is_hub_id("./x/y") and not is_hub_id("x")


def test_a_hub_id_downloads_through_huggingface_hub(saved, monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fake = FakeDownload(saved)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    pipe = KinMoPipeline.from_pretrained("someone/kinmo-test", revision="v1")
    assert fake.calls == [{"repo_id": "someone/kinmo-test", "revision": "v1", "local_files_only": False}]
    assert pipe.manifest["data_version"] == "abc"


def test_a_local_folder_wins_and_nothing_is_fetched_without_a_hub_id(saved, monkeypatch, tmp_path) -> None:
    def no_network(*a, **k):
        raise AssertionError("the hub was asked")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    import shutil

    shutil.copytree(saved, tmp_path / "someone" / "kinmo-test")
    monkeypatch.chdir(tmp_path)
    assert KinMoPipeline.from_pretrained("someone/kinmo-test").manifest["data_version"] == "abc"
    with pytest.raises(KinmoModelError, match="not a KinMo pipeline folder"):
        KinMoPipeline.from_pretrained(str(tmp_path / "missing" / "folder"))


def test_offline_reads_the_cache_or_fails_clearly(saved, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cached = FakeDownload(saved, cached=True)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", cached)
    KinMoPipeline.from_pretrained("someone/kinmo-test")
    assert cached.calls[0]["local_files_only"] is True
    monkeypatch.setattr(huggingface_hub, "snapshot_download", FakeDownload(saved, cached=False))
    with pytest.raises(KinmoModelError, match="HF_HUB_OFFLINE=1"):
        KinMoPipeline.from_pretrained("someone/kinmo-test")


def test_model_card_from_pipeline_json(saved) -> None:
    card = (saved / "README.md").read_text()
    assert "license: cc-by-nc-4.0" in card and "Bandai Namco Research Inc." in card
    assert "python -m training.train_rvq --out r" in card and "val_mpjpe_m" in card and "/data/synth20k" in card
    plain = model_card({"data": ["/data/HumanML3D"]}, "a/b")
    assert "AMASS" in plain and 'from_pretrained("a/b")' in plain and "license: other" in plain


def test_push_to_hub_uploads_the_folder_with_its_card(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    calls = []

    class FakeApi:
        def __init__(self, token=None) -> None:
            calls.append(("init", token))

        def create_repo(self, **kw):
            calls.append(("create", kw))

        def upload_folder(self, **kw):
            calls.append(("upload", kw, sorted(p.name for p in (tmp_path / "out").iterdir())))
            return type("Info", (), {"commit_url": "https://hub/commit/1"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    pipe = random_pipeline("tiny", seed=5)
    pipe.save_pretrained(tmp_path / "out", push_to_hub=True, repo_id="me/kinmo", private=True, token="t")
    assert calls[0] == ("init", "t")
    assert calls[1][1]["repo_id"] == "me/kinmo" and calls[1][1]["private"] is True
    assert calls[2][1]["folder_path"] == str(tmp_path / "out") and "README.md" in calls[2][2]
    assert "pipeline.json" in calls[2][2]
    assert 'from_pretrained("me/kinmo")' in (tmp_path / "out" / "README.md").read_text()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(KinmoInputError, match="HF_HUB_OFFLINE"):
        pipe.save_pretrained(tmp_path / "out2", push_to_hub=True, repo_id="me/kinmo")
    with pytest.raises(KinmoInputError, match="repo_id"):
        pipe.save_pretrained(tmp_path / "out3", push_to_hub=True)
    assert json.loads((tmp_path / "out3" / "pipeline.json").read_text())["cond"] == "sentence"
