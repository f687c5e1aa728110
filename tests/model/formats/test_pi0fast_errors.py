"""Bad pi0-FAST inputs: each a clear error at load or configure time, naming what is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from tokenizers import Tokenizer, models

from mgselect_node.config import Config, ConfigError
from mgselect_node.control.pipeline import ControlPipeline
from mgselect_node.engine.policy import Policy
from mgselect_node.errors import BundleError, InputError
from mgselect_node.model.bundle import load_bundle
from mgselect_node.model.formats import LoadOptions

DATA = Path(__file__).parents[2] / "data" / "lerobot_pi0fast_tiny"


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    return Path(shutil.copytree(DATA / "checkpoint", tmp_path / "checkpoint"))


def _load(path: Path, options: LoadOptions | None = None):
    return load_bundle(str(path), options=options or LoadOptions(
        text_tokenizer=str(DATA / "paligemma_tokenizer"), action_tokenizer=str(DATA / "fast_tokenizer")))


def test_missing_weights(checkpoint):
    (checkpoint / "model.safetensors").unlink()
    with pytest.raises(BundleError, match=r"missing model\.safetensors"):
        _load(checkpoint)


def test_missing_statistics(checkpoint):
    next(checkpoint.glob("policy_postprocessor_step_*.safetensors")).unlink()
    with pytest.raises(BundleError, match="action statistics"):
        _load(checkpoint)


def test_tokenizers_not_found_anywhere(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(BundleError, match=r"text tokenizer: not found .*google/paligemma-3b-pt-224.*nothing is "
                                          r"downloaded"):
        _load(checkpoint, LoadOptions())


def test_tokenizers_found_in_a_hugging_face_cache(tmp_path, monkeypatch, lerobot_tiny):
    """The checkpoint names hub ids; a HF cache snapshot directory of each is found with no option."""
    for repo, local in (("google/paligemma-3b-pt-224", "paligemma_tokenizer"),
                        ("lerobot/fast-action-tokenizer", "fast_tokenizer")):
        root = tmp_path / "hub" / ("models--" + repo.replace("/", "--"))
        shutil.copytree(DATA / local, root / "snapshots" / "0123abc")
        (root / "refs").mkdir()
        (root / "refs" / "main").write_text("0123abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    bundle = _load(Path(lerobot_tiny[0]), LoadOptions())
    assert bundle.layout.terminator_id == bundle.text_tokenizer.token_to_id("|")


def test_pi0_policy_is_refused(checkpoint):
    config = json.loads((checkpoint / "config.json").read_text())
    (checkpoint / "config.json").write_text(json.dumps(config | {"type": "pi0"}))
    with pytest.raises(BundleError, match=r"flow-matching pi0 / pi0\.5 policy; MG-Select needs an autoregressive"):
        _load(checkpoint)


def test_weights_of_a_flow_matching_model_are_refused(checkpoint):
    tensors = load_file(str(checkpoint / "model.safetensors"))
    tensors["model.action_in_proj.weight"] = np.zeros((2, 2), dtype=np.float32)
    save_file(tensors, str(checkpoint / "model.safetensors"))
    with pytest.raises(BundleError, match="action_in_proj"):
        _load(checkpoint)


def test_text_tokenizer_that_does_not_match_the_embeddings(checkpoint, tmp_path):
    vocab = {token: i for i, token in enumerate(["<pad>", "<eos>", "<bos>", "<image>", "|", "a"])}
    (tmp_path / "small").mkdir()
    Tokenizer(models.WordLevel(vocab, unk_token="a")).save(str(tmp_path / "small" / "tokenizer.json"))
    options = LoadOptions(text_tokenizer=str(tmp_path / "small"), action_tokenizer=str(DATA / "fast_tokenizer"))
    with pytest.raises(BundleError, match="has 6 ids but the model's embeddings have 1152 rows"):
        _load(checkpoint, options)


def test_fast_directory_without_processor_config(checkpoint, tmp_path):
    shutil.copytree(DATA / "fast_tokenizer", tmp_path / "fast")
    (tmp_path / "fast" / "processor_config.json").unlink()
    options = LoadOptions(text_tokenizer=str(DATA / "paligemma_tokenizer"), action_tokenizer=str(tmp_path / "fast"))
    with pytest.raises(BundleError, match=r"processor_config\.json: missing or not a FAST processor config"):
        _load(checkpoint, options)


def test_fewer_camera_topics_than_policy_cameras_and_wrong_joint_count(lerobot_tiny_bundle):
    policy = Policy(lerobot_tiny_bundle)
    with pytest.raises(ConfigError, match=r"image_topics has 1 entries; policy .* needs 2 camera\(s\)"):
        ControlPipeline(policy, Config().with_flat({"joint_names": [f"j{i}" for i in range(6)]}))
    with pytest.raises(ConfigError, match=r"joint_names has 5 entries; policy .* drives 6"):
        ControlPipeline(policy, Config().with_flat({"joint_names": [f"j{i}" for i in range(5)],
                                                    "image_topics": ["/a", "/b"]}))
    images = [np.zeros((28, 28, 3), np.uint8)] * 2
    with pytest.raises(InputError, match="state: expected 6 values"):
        policy.select(images, np.zeros(5), "pick")
