from pathlib import Path

import pytest

from mgselect_node.errors import BundleError
from mgselect_node.model import formats
from mgselect_node.model.bundle import load_bundle, resolve_policy_path


def test_the_bundled_policy_is_detected_as_the_native_format():
    path = resolve_policy_path("default")
    assert formats.detect_format(path).name == "mgselect"
    assert "mgselect" in formats.formats()


def test_explicit_and_detected_format_load_the_same_policy():
    detected = load_bundle("default")
    named = load_bundle("default", policy_format="mgselect")
    assert detected.spec == named.spec and detected.layout == named.layout


def test_unknown_directory_and_unknown_format_name_are_clear_errors(tmp_path: Path):
    with pytest.raises(BundleError, match="no known checkpoint format"):
        load_bundle(str(tmp_path))
    with pytest.raises(BundleError, match=r"'nope' is unknown; known: .*auto.*mgselect"):
        load_bundle("default", policy_format="nope")


def test_a_format_name_can_only_be_registered_once():
    existing = formats.formats()["mgselect"]
    with pytest.raises(ValueError, match="already registered"):
        formats.register(existing)
