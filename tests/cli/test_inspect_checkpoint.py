"""`mgselect inspect`: sizes, settings, memory and problems of a checkpoint without loading its weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mgselect_node.cli.inspect_checkpoint import inspect, main
from mgselect_node.model.formats import LoadOptions
from tests.model.pi0fast.test_weights import lerobot_shapes, write_header_only

DATA = Path(__file__).parents[1] / "data" / "lerobot_pi0fast_tiny"
OPTIONS = LoadOptions(text_tokenizer=str(DATA / "paligemma_tokenizer"), action_tokenizer=str(DATA / "fast_tokenizer"))


def test_tiny_lerobot_checkpoint(capsys):
    code = main([str(DATA / "checkpoint"), "--text-tokenizer", OPTIONS.text_tokenizer,
                 "--action-tokenizer", OPTIONS.action_tokenizer])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["problems"] == []
    assert report["format"] == "lerobot_pi0fast" and report["cameras"] == ["base", "wrist"]
    assert (report["state_dim"], report["horizon"], report["text_vocab"], report["fast_vocab"]) == (6, 10, 1152, 512)
    assert report["normalization"] == {"state": "mean_std", "action": "mean_std"}
    assert report["model"]["gemma"]["layers"] == 2 and report["model"]["parameters"] == 165952


def test_full_size_checkpoint_memory_grows_with_candidates_and_wrong_tokenizer_is_a_problem(tmp_path):
    """A header-only Gemma 2B + So400m checkpoint: 3.45e9 parameters; the tiny tokenizer cannot be its own."""
    root = Path(shutil.copytree(DATA / "checkpoint", tmp_path / "big"))
    write_header_only(root / "model.safetensors", lerobot_shapes())
    config = json.loads((root / "config.json").read_text())
    (root / "config.json").write_text(json.dumps(config | {"image_resolution": [224, 224]}))
    report, problems = inspect(root, options=OPTIONS)
    assert 3.4e9 < report["model"]["parameters"] < 3.5e9
    memory = report["memory_mib"]["bfloat16"]
    assert 6400 < memory["weights"] < 6700
    gpu = [memory["gpu"][f"N={n}"] for n in (1, 2, 4, 8, 16)]
    assert gpu == sorted(gpu) and gpu[0] < gpu[-1] and memory["cpu"]["N=4"] < memory["gpu"]["N=4"]
    assert len(problems) == 1 and "does not belong to this checkpoint" in problems[0]


def test_unknown_directory_and_pi0_are_problems(tmp_path):
    report, problems = inspect(tmp_path)
    assert report["format"] is None and "no known checkpoint format" in problems[0]
    root = Path(shutil.copytree(DATA / "checkpoint", tmp_path / "pi0"))
    config = json.loads((root / "config.json").read_text())
    (root / "config.json").write_text(json.dumps(config | {"type": "pi05"}))
    assert main([str(root)]) == 1


def test_native_bundle(random_bundle):
    report, problems = inspect(Path(random_bundle))
    assert problems == [] and report["format"] == "mgselect"
    assert report["model"]["parameters"] > 0 and report["memory_mib"]["float32"]["cpu"]["N=16"] > 0
