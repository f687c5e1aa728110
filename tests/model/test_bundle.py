"""Policy bundles load, and a malformed one fails with a message naming the bad part."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mgselect_node.engine.policy import load_policy
from mgselect_node.errors import BundleError
from mgselect_node.model import bundle as bundle_mod


@pytest.fixture
def bundle_copy(random_bundle, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(random_bundle, target)
    return target


def test_random_bundle_loads_with_its_spec(random_bundle):
    policy = load_policy(random_bundle)
    assert policy.spec.name == "tiny-random"
    assert policy.bundle.layout.to_action(policy.bundle.layout.to_model(7)) == 7
    assert policy.bundle.layout.first_action_model_id >= policy.bundle.text_tokenizer.get_vocab_size()


@pytest.mark.parametrize("part", [bundle_mod.POLICY_FILE, bundle_mod.CONFIG_FILE, bundle_mod.WEIGHTS_FILE,
                                  bundle_mod.TEXT_TOKENIZER_FILE, bundle_mod.ACTION_TOKENIZER_DIR])
def test_missing_part_is_named(bundle_copy, part):
    target = bundle_copy / part
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(BundleError, match=part.split(".")[0]):
        load_policy(str(bundle_copy))


@pytest.mark.parametrize(("part", "content", "message"), [
    (bundle_mod.WEIGHTS_FILE, b"not a safetensors file", "model.safetensors"),
    (bundle_mod.CONFIG_FILE, b"{broken json", "config.json"),
    (bundle_mod.POLICY_FILE, b"horizon: [unclosed", "policy.yaml"),
    (bundle_mod.TEXT_TOKENIZER_FILE, b"{}", "tokenizer.json"),
])
def test_corrupt_part_is_named(bundle_copy, part, content, message):
    (bundle_copy / part).write_bytes(content)
    with pytest.raises(BundleError, match=message):
        load_policy(str(bundle_copy))


def test_inconsistent_spec_is_explained(bundle_copy):
    spec = yaml.safe_load((bundle_copy / bundle_mod.POLICY_FILE).read_text())
    spec["horizon"] = spec["horizon"] + 1
    (bundle_copy / bundle_mod.POLICY_FILE).write_text(yaml.safe_dump(spec))
    with pytest.raises(BundleError, match="horizon"):
        load_policy(str(bundle_copy))


def test_unknown_policy_name_lists_builtins():
    with pytest.raises(BundleError, match="built-in"):
        load_policy("no-such-policy")
