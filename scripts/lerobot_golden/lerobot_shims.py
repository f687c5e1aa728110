"""Runtime patches that let LeRobot 0.6.1 build a tiny pi0_fast offline (side venv only).

- PI0FastPaliGemma.__init__ builds a tiny PaliGemmaConfig instead of Gemma 2B + SigLIP So400m
  (LeRobot hard-codes the sizes; the vocabulary is the synthetic tokenizer's).
- The FAST processor is normally remote code from the Hub; a local loader gives LeRobot the attributes its
  decode path uses (bpe_tokenizer, scale, min_token, vocab_size) from processor_config.json + the BPE file.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import PaliGemmaConfig, PreTrainedTokenizerFast

VOCAB = 1152
TEXT = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_key_value_heads": 1,
        "head_dim": 16, "num_hidden_layers": 2, "vocab_size": VOCAB, "hidden_activation": "gelu_pytorch_tanh"}
# SigLIP heads are not recoverable from tensor shapes; head_dim 64 (as SigLIP base/large) keeps the
# importer's rule (72 for So400m, else 64) true for this tiny tower too. No pooling head, as PaliGemma.
VISION = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 1, "num_hidden_layers": 1,
          "image_size": 28, "patch_size": 14, "projection_dim": 32, "vision_use_head": False}
HUB_TEXT, HUB_FAST = "google/paligemma-3b-pt-224", "lerobot/fast-action-tokenizer"


def tiny_config() -> PaliGemmaConfig:
    config = PaliGemmaConfig(text_config={"model_type": "gemma", **TEXT},
                             vision_config={"model_type": "siglip_vision_model", **VISION},
                             image_token_index=VOCAB, projection_dim=32)
    config.text_config.use_adarms = False
    config.text_config.adarms_cond_dim = None
    config.text_config.dtype = "float32"
    config.vision_config.projector_hidden_act = "gelu_fast"
    return config


class LocalFastProcessor:
    """What LeRobot reads from the FAST processor, loaded from a local directory with no remote code."""

    def __init__(self, directory: str) -> None:
        path = Path(directory)
        config = json.loads((path / "processor_config.json").read_text())
        self.scale, self.min_token, self.vocab_size = config["scale"], config["min_token"], config["vocab_size"]
        self.bpe_tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(path / "bpe_tokenizer" / "tokenizer.json"),
                                                     clean_up_tokenization_spaces=False)

    @classmethod
    def from_pretrained(cls, directory: str, **_: object) -> LocalFastProcessor:
        return cls(directory)


def install() -> None:
    from lerobot.policies import pi_gemma
    from lerobot.policies.pi0_fast import modeling_pi0_fast as m

    def tiny_init(self, vlm_config, use_adarms=None, precision="float32") -> None:
        torch.nn.Module.__init__(self)
        self.paligemma = pi_gemma.PaliGemmaForConditionalGenerationWithPiGemma(config=tiny_config())
        self.to_bfloat16_for_selected_params(precision)

    m.PI0FastPaliGemma.__init__ = tiny_init
    m.AutoProcessor = LocalFastProcessor
    from lerobot.processor import tokenizer_processor
    tokenizer_processor.AutoProcessor = LocalFastProcessor


def untie_lm_head(policy) -> None:
    """Give lm_head its own tensor, as in real LeRobot checkpoints (embed_tokens and lm_head differ)."""
    paligemma = policy.model.paligemma_with_expert.paligemma
    paligemma.lm_head.weight = torch.nn.Parameter(paligemma.lm_head.weight.detach().clone())


def publish_names(ckpt: Path) -> None:
    """Replace the local tokenizer paths in the saved JSON by the hub names a real checkpoint carries."""
    for name in ("config.json", "policy_preprocessor.json"):
        path = ckpt / name
        text = path.read_text()
        data = json.loads(text)

        def swap(node):
            if isinstance(node, dict):
                return {k: swap(v) for k, v in node.items()}
            if isinstance(node, list):
                return [swap(v) for v in node]
            if isinstance(node, str) and node.endswith("/paligemma_tokenizer"):
                return HUB_TEXT
            if isinstance(node, str) and node.endswith("/fast_tokenizer"):
                return HUB_FAST
            return node

        path.write_text(json.dumps(swap(data), indent=4) + "\n")
