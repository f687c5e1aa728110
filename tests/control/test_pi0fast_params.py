"""config/pi0fast_lerobot.yaml (quoted whole in the README) configures the pipeline on a LeRobot checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mgselect_node.config import Config
from mgselect_node.control.pipeline import ControlPipeline
from mgselect_node.engine.policy import load_policy

ROOT = Path(__file__).parents[2]
PARAMS = ROOT / "config" / "pi0fast_lerobot.yaml"


def test_readme_quotes_the_params_file_whole():
    assert "```yaml\n" + PARAMS.read_text() + "```" in (ROOT / "README.md").read_text()


def test_params_file_configures_a_lerobot_checkpoint(lerobot_tiny):
    """The file as shipped, with the policy and tokenizer paths pointed at the tiny LeRobot checkpoint."""
    path, options = lerobot_tiny
    config = Config.from_yaml(str(PARAMS)).with_flat({
        "policy": path, "text_tokenizer": options.text_tokenizer, "action_tokenizer": options.action_tokenizer,
        "device": "cpu", "dtype": "float32"})
    assert config.runtime.policy_format == "lerobot_pi0fast" and config.selection.decoding == "strict"
    rt = config.runtime
    policy = load_policy(rt.policy, device=rt.device, dtype=rt.dtype, policy_format=rt.policy_format,
                         text_tokenizer=rt.text_tokenizer, action_tokenizer=rt.action_tokenizer)
    pipeline = ControlPipeline(policy, config)  # joint and camera counts checked here
    assert pipeline.joint_names == [f"joint{i}" for i in range(1, 7)]
    images = [np.zeros((48, 64, 3), np.uint8)] * len(config.node.image_topics)
    result = policy.select(images, np.zeros(6), config.node.instruction, config.selection.replace(max_action_tokens=8))
    assert len(result.candidates) == config.selection.num_candidates
