"""One PolicyBundle from the parts every pi0-FAST checkpoint has, whatever framework saved it.

The format adapters (model/formats/lerobot_pi0fast.py, openpi_pi0fast.py) only read their own files into a
Pi0FastParts; everything they share (weights, tokenizers, token layout, prompt, images, cross-checks) is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mgselect_node.errors import BundleError
from mgselect_node.model.bundle import TORCH_DTYPES, PolicyBundle
from mgselect_node.model.images import preprocess_images_bilinear
from mgselect_node.model.pi0fast.tokenizer_files import load_text_tokenizer
from mgselect_node.model.pi0fast.weights import config_from_shapes, load_weights, read_header, refuse_flow_matching
from mgselect_node.model.spec import PolicySpec
from mgselect_node.model.token_layout import TokenLayout
from mgselect_node.tokenization.fast_bytelevel import ByteLevelFastTokenizer
from mgselect_node.tokenization.pi0fast_prompt import Pi0FastPromptBuilder, Pi0FastPromptStyle
from mgselect_node.tokenization.stats_normalizer import StatsNormalizer

# Embedding rows may exceed the tokenizer's base vocabulary (Google pads PaliGemma's 257152 to 257216).
MAX_EXTRA_EMBEDDING_ROWS = 64
DEFAULT_CONTROL_RATE = 10.0  # Hz; neither LeRobot's nor openpi's policy files record it (node parameter)


@dataclass(frozen=True)
class Pi0FastParts:
    """What a format adapter found. action_dim: the FAST chunk width the model was trained on (openpi: 32);
    robot_action_dim: the joints the robot gets (the chunk is cut to it)."""

    name: str
    weights: Path
    text_tokenizer: Path
    fast_tokenizer: Path
    cameras: list[str]
    image_size: int
    state_dim: int
    action_dim: int
    robot_action_dim: int
    horizon: int
    max_action_tokens: int
    fast_skip_tokens: int
    style: Pi0FastPromptStyle
    state_normalizer: StatsNormalizer
    action_normalizer: StatsNormalizer


def check_vocab(tokenizer_vocab: int, embedding_rows: int, where: Path) -> None:
    """The text tokenizer must be the one the embeddings were trained with (same ids, same size)."""
    if not tokenizer_vocab <= embedding_rows <= tokenizer_vocab + MAX_EXTRA_EMBEDDING_ROWS:
        raise BundleError(f"{where}: the text tokenizer has {tokenizer_vocab} ids but the model's embeddings "
                          f"have {embedding_rows} rows: this tokenizer does not belong to this checkpoint")


def build_bundle(path: Path, parts: Pi0FastParts, device: str, dtype: str) -> PolicyBundle:
    """Load and cross-check every part; each error names the file and what was expected."""
    infos = read_header(parts.weights)
    refuse_flow_matching(list(infos), parts.weights)
    tokenizer, ids = load_text_tokenizer(parts.text_tokenizer)
    fast = ByteLevelFastTokenizer.load(parts.fast_tokenizer, parts.horizon, parts.action_dim)
    config = config_from_shapes(infos, parts.weights, image_token_index=ids.image_id)
    check_vocab(ids.vocab_size, config.text_config.vocab_size, parts.text_tokenizer)
    if config.vision_config.image_size != parts.image_size:
        raise BundleError(f"{path}: the vision tower takes {config.vision_config.image_size} px images but the "
                          f"policy config says {parts.image_size}")
    for name, normalizer, dim in (("state", parts.state_normalizer, parts.state_dim),
                                  ("action", parts.action_normalizer, parts.robot_action_dim)):
        if normalizer.dim not in (0, dim):
            raise BundleError(f"{path}: {name} statistics have {normalizer.dim} values, the policy {dim}")
    try:
        layout = TokenLayout(vocab_size=ids.vocab_size, action_vocab_size=fast.vocab_size, pad_id=ids.pad_id,
                             bos_id=ids.bos_id, eos_id=ids.eos_id, image_id=ids.image_id,
                             action_offset=parts.fast_skip_tokens, model_vocab_size=config.text_config.vocab_size,
                             terminator_id=ids.bar_id)
    except ValueError as exc:
        raise BundleError(f"{path}: {exc}") from exc
    model = load_weights(parts.weights, config, infos, device, TORCH_DTYPES[dtype])
    tokens_per_camera = (parts.image_size // config.vision_config.patch_size) ** 2
    prompts = Pi0FastPromptBuilder(tokenizer, parts.style, image_tokens=tokens_per_camera * len(parts.cameras),
                                   bos_id=ids.bos_id, image_id=ids.image_id, state_dim=parts.state_dim)
    state_low, state_high = _ranges(parts.state_normalizer, parts.state_dim)
    action_low, action_high = _ranges(parts.action_normalizer, parts.robot_action_dim)
    spec = PolicySpec(
        name=parts.name, camera_names=list(parts.cameras), image_size=parts.image_size,
        joint_names=[f"joint_{i}" for i in range(parts.state_dim)], horizon=parts.horizon,
        control_rate=DEFAULT_CONTROL_RATE, state_q01=state_low, state_q99=state_high, action_q01=action_low,
        action_q99=action_high, max_action_tokens=parts.max_action_tokens,
        description=f"pi0-FAST checkpoint ({parts.style.name} format)")
    return PolicyBundle(path=path, spec=spec, model=model, text_tokenizer=tokenizer, action_tokenizer=fast,
                        state_normalizer=parts.state_normalizer, action_normalizer=parts.action_normalizer,
                        layout=layout, prompts=prompts, images=preprocess_images_bilinear)


def _ranges(normalizer: StatsNormalizer, dim: int) -> tuple[list[float], list[float]]:
    """Plausible robot ranges for warm-up inputs and simulated arms (identity stats: [-1, 1])."""
    if normalizer.dim == 0:
        return [-1.0] * dim, [1.0] * dim
    return normalizer.robot_range()
