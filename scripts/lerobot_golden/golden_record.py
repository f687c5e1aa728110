"""Record LeRobot's own outputs on fixed observations and fixed token sequences (the golden files).

golden.json: per case the inputs (task, state, image sizes), the preprocessed prompt ids and mask, LeRobot's
greedy tokens (up to and including its "|" stop), whether its FAST decode failed (zero chunk); then the
decode-only cases (token sequences straight into LeRobot's detokenizer). golden.npz: images, per-step
logits, normalized and robot-unit chunks, select_action outputs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

CAMERAS = ("base", "wrist")
CASES = [  # (task, state in robot units, {camera: (height, width)})
    ("pick up the red cube", [0.3, -0.1, 0.2, 0.1, 0.6, -0.9], {"base": (28, 28), "wrist": (28, 28)}),
    ("open the drawer", [-0.4, 0.2, 0.9, -0.1, 0.4, 0.2], {"base": (40, 30), "wrist": (20, 36)}),
    ("stack the blue cube", [0.0, -0.5, 0.1, 0.3, 0.45, -1.2], {"base": (28, 28), "wrist": (56, 56)}),
    ("wave", [0.2, 0.1, -0.3, 0.2, 0.5, 0.1], {"base": (28, 28), "wrist": (28, 28)}),
    ("wave right", [-0.2, -0.6, 0.5, 0.0, 0.3, -0.5], {"base": (28, 28), "wrist": (28, 28)}),
    ("wave left", [0.1, 0.0, 0.0, -0.2, 0.7, 0.4], {"base": (28, 28), "wrist": (28, 28)}),
    ("  Move_left\nnow ", [5.0, -5.0, 0.3, 0.0, 0.5, -0.4], {"base": (28, 28), "wrist": (28, 28)}),
    ("pick up the red cube and place it in the bowl and close the drawer and push the button",
     [0.1, 0.1, 0.1, 0.1, 0.1, 0.1], {"base": (28, 28), "wrist": (28, 28)}),
]


class _DecodeFailures(logging.Handler):
    """Counts LeRobot's 'Error decoding tokens' warnings: each is a zero chunk it returned."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("Error decoding tokens"):
            self.count += 1


def _decode_cases(text, fast, vocab: int) -> list[list[int]]:
    """Token sequences for LeRobot's detokenizer alone: every relaxed-decoding branch."""
    rng = np.random.default_rng(7)
    import synthetic_tokenizers as st
    chunk = np.cumsum(rng.normal(0, 0.2, (10, 6)), axis=0)
    ids = [vocab - 1 - 128 - k for k in fast.encode(st.fast_strings(chunk[None], 10.0, -354)[0]).ids]
    action = text.encode("Action: ", add_special_tokens=False).ids
    bar, red, seg = text.token_to_id("|"), text.token_to_id("▁red"), text.token_to_id("<seg010>")
    return [
        action + ids + [bar, 1],                          # valid
        action + ids[:-2] + [bar, 1],                     # too few coefficients: padded
        action + ids + ids[:3] + [bar, 1],                # too many: truncated
        action + ids[:4] + [seg] + ids[4:] + [bar, 1],    # negative FAST id: zero chunk
        action + ids[:4] + [red] + ids[4:] + [bar, 1],    # text id: dropped, then padded
        action + ids + [0, 0, 0],                         # no "|": trailing pads dropped
        action + ids[:5] + action + ids[5:] + [bar],      # "Action: " again inside: removed
        action + ids + [bar] + ids[:2] + [bar, 1],        # tokens after "|": ignored
    ]


def record(out: Path, ckpt: Path, text, fast) -> None:
    from lerobot.policies.factory import make_pre_post_processors
    from lerobot.policies.pi0_fast.modeling_pi0_fast import PI0FastPolicy

    torch.manual_seed(0)
    policy = PI0FastPolicy.from_pretrained(ckpt)
    policy.eval()
    # The saved preprocessor omits the text tokenizer of its action step (LeRobot quirk): name it here.
    overrides = {"action_tokenizer_processor": {"paligemma_tokenizer_name": str(out / "paligemma_tokenizer")}}
    pre, post = make_pre_post_processors(policy.config, pretrained_path=str(ckpt),
                                         preprocessor_overrides=overrides)
    failures = _DecodeFailures()
    logging.getLogger().addHandler(failures)
    logging.getLogger().setLevel(logging.WARNING)  # LeRobot reports a failed decode as a root WARNING
    lm_head = policy.model.paligemma_with_expert.paligemma.lm_head
    steps: list[torch.Tensor] = []
    lm_head.register_forward_hook(lambda _m, _i, output: steps.append(output[0, -1].detach().clone()))
    generated: list[torch.Tensor] = []
    sample = policy.model.sample_actions_fast_kv_cache

    def spy(*args, **kwargs):
        result = sample(*args, **kwargs)
        generated.append(result.clone())
        return result

    policy.model.sample_actions_fast_kv_cache = spy
    bar = policy._paligemma_tokenizer.convert_tokens_to_ids("|")
    rng = np.random.default_rng(3)
    cases, arrays = [], {}
    for index, (task, state, sizes) in enumerate(CASES):
        images = {c: rng.integers(0, 256, (*sizes[c], 3), dtype=np.uint8) for c in CAMERAS}
        batch = {f"observation.images.{c}": torch.from_numpy(images[c]).permute(2, 0, 1).float() / 255.0
                 for c in CAMERAS}
        batch["observation.state"] = torch.tensor(state, dtype=torch.float32)
        batch["task"] = task
        processed = pre(batch)
        steps.clear()
        generated.clear()
        before = failures.count
        chunk_norm = policy.predict_action_chunk(processed)
        tokens = generated[0][0].tolist()
        stop = tokens.index(bar) + 1 if bar in tokens else len(tokens)
        chunk = post(chunk_norm)
        policy.reset()
        first = [post(policy.select_action(processed)).numpy()[0] for _ in range(2)]
        cases.append({"task": task, "state": state, "image_sizes": {c: list(sizes[c]) for c in CAMERAS},
                      "prompt_ids": processed["observation.language.tokens"][0].tolist(),
                      "prompt_mask": processed["observation.language.attention_mask"][0].int().tolist(),
                      "tokens": tokens[:stop], "zero_chunk": failures.count > before})
        for c in CAMERAS:
            arrays[f"case{index}_image_{c}"] = images[c]
        arrays[f"case{index}_logits"] = torch.stack(steps[:stop]).numpy().astype(np.float32)
        arrays[f"case{index}_chunk_normalized"] = chunk_norm[0].numpy().astype(np.float32)
        arrays[f"case{index}_chunk"] = chunk[0].numpy().astype(np.float32)
        arrays[f"case{index}_select_action"] = np.stack(first).astype(np.float32)
        print(f"case {index}: {len(tokens[:stop])} tokens, zero_chunk={cases[-1]['zero_chunk']}", flush=True)
    decode = []
    vocab = policy.model.paligemma_with_expert.paligemma.lm_head.out_features
    for index, seq in enumerate(_decode_cases(text, fast, vocab)):
        before = failures.count
        out_norm = policy.detokenize_actions(torch.tensor([seq]), 10, 6)
        decode.append({"tokens": seq, "zero_chunk": failures.count > before})
        arrays[f"decode{index}_chunk_normalized"] = out_norm[0].numpy().astype(np.float32)
    tok = policy._paligemma_tokenizer
    meta = {"lerobot": "0.6.1", "text_vocab_size": tok.vocab_size, "bos_id": tok.bos_token_id, "bar_id": bar,
            "action_prefix_ids": tok.encode("Action: ", add_special_tokens=False),
            "cameras": list(CAMERAS), "horizon": 10, "action_dim": 6}
    (out / "golden.json").write_text(json.dumps({"meta": meta, "cases": cases, "decode": decode}, indent=1) + "\n")
    np.savez_compressed(out / "golden.npz", **arrays)
