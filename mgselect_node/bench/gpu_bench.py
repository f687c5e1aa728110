"""`mgselect bench --preset pi0fast --device cuda [--json PATH] [--layers L]`: the engine at model-preset size.

Random weights at the preset's dimensions (pi0-FAST: SigLIP So400m/14 at 224 px + Gemma 2B, 2.9 B parameters,
PaliGemma's 257152-token vocabulary) are built directly on the device in the requested dtype (bfloat16 on CUDA),
then written as a LeRobot pi0_fast directory (synthetic PaliGemma-layout and byte-level FAST tokenizers) in a
temporary folder and loaded by the lerobot_pi0fast adapter: the path a real checkpoint takes. Nothing is
downloaded.

Measured in one process, on one observation, every variant with the same seed:
- the decode-time weight bytes and the device's copy bandwidth (a large tensor copy: read + write), hence the
  floor: weight bytes / bandwidth per token (every token costs one read of the decoder weights at least);
- for 32 and 64 action tokens (no row may draw the terminator: the engine's `allowed_tokens=token_mask(
  terminator=False)`, so every row decodes exactly that many): greedy,
  and MG-Select at N in {1, 2, 4, 8, 16} (static KV cache; a CUDA graph per step on CUDA): full chunk latency,
  its prefill and per-step decode time, peak device memory;
- naive MG-Select at N=4 (per candidate its own prefill, decode and teacher-forced reference pass).
Headline keys: chunk_ms_n4_64tok, mg_select_n4_over_greedy, over_floor_n4_64tok (targets <= 1.15 and <= 1.3).
`--device cpu --layers 1 --vision-layers 1` is a dry run of the same code at reduced depth (scripts/gpu_check.sh).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import transformers
from torch import nn
from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration
from transformers.initialization import no_init_weights

from mgselect_node.bench.engine_bench import SYNTHETIC_INSTRUCTION as INSTRUCTION
from mgselect_node.bench.engine_bench import naive_mg_select, synthetic_observation
from mgselect_node.bench.lerobot_checkpoint import write_lerobot_checkpoint
from mgselect_node.config import SelectionConfig
from mgselect_node.engine.engine import SelectionEngine
from mgselect_node.engine.policy import Policy, load_policy
from mgselect_node.model.bundle import TORCH_DTYPES, PolicyBundle, native_prompts
from mgselect_node.model.memory import GIB
from mgselect_node.model.presets import PRESETS, ModelDims, build_config
from mgselect_node.model.random_bundle import (
    DEFAULT_INSTRUCTIONS,
    DEFAULT_JOINTS,
    SYNTHETIC_CHUNKS,
    fit_action_tokenizer,
    random_spec,
    synthetic_chunks,
)
from mgselect_node.model.token_layout import TokenLayout
from mgselect_node.tokenization.normalization import QuantileNormalizer
from mgselect_node.tokenization.text_tokenizer import build_text_tokenizer

# PaliGemma's vocabulary (text + 1024 location + 128 segmentation tokens): its lm_head is ~0.5 B of the 2.9 B
# parameters and is read at every decode step, so the preset keeps it. Other presets: text + action ids.
PRESET_VOCAB_SIZE = {"pi0fast": 257_152}
ADAPTER_PRESETS = ("pi0fast",)  # built through a checkpoint directory and its format adapter
FAST_VOCAB_SIZE = 2048          # pi0-FAST's FAST tokenizer vocabulary
HORIZON = 10                    # pi0-FAST DROID chunk length
CHUNK_TOKENS = (32, 64)
SWEEP_N = (1, 2, 4, 8, 16)
REFERENCE_N = 4
INIT_STD = 0.02                 # random-weight scale (transformers' default initializer_range)
COPY_BYTES = {"cuda": 2 * GIB, "cpu": GIB // 4}
COPY_REPEATS = 10
READ_AND_WRITE = 2              # a copy moves every byte twice
MS_PER_S = 1e3
REPEATS = {"quick": (1, 3), "full": (2, 7)}  # (warm-up runs, measured runs) per variant
TARGETS = {"mg_select_n4_over_greedy": 1.15, "over_floor_n4_64tok": 1.3}


# ---------------------------------------------------------------------------------------------- building
def preset_dims(preset: str, layers: int | None = None, vision_layers: int | None = None) -> ModelDims:
    """The preset's dimensions, optionally at reduced depth (CPU dry runs)."""
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r}: expected one of {sorted(PRESETS)}")
    dims = PRESETS[preset]
    changes = {k: v for k, v in (("layers", layers), ("vision_layers", vision_layers)) if v is not None}
    if any(v < 1 for v in changes.values()):
        raise ValueError(f"layers and vision_layers must be >= 1, got {changes}")
    return dataclasses.replace(dims, **changes)


def _init_random_(model: nn.Module, std: float) -> None:
    """Fill every parameter (allocated uninitialised): matrices ~ N(0, std), LayerNorm scales 1, Gemma RMSNorm
    scales 0 (Gemma multiplies by 1 + w), biases 0."""
    with torch.no_grad():
        for module in model.modules():
            for name, param in module.named_parameters(recurse=False):
                if isinstance(module, nn.LayerNorm) and name == "weight":
                    param.fill_(1.0)
                elif param.ndim >= 2:
                    param.normal_(0.0, std)
                else:
                    param.zero_()


def build_random_model(config: PaliGemmaConfig, device: str, dtype: torch.dtype, seed: int = 0
                       ) -> PaliGemmaForConditionalGeneration:
    """Allocate directly on `device` in `dtype` (no float32 copy, no CPU detour), then fill with random values."""
    target = torch.device(device)
    rng_devices = [target.index or 0] if target.type == "cuda" else []
    previous = torch.get_default_dtype()
    with torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(seed)
        torch.set_default_dtype(dtype)
        try:
            with no_init_weights(), target:
                model = PaliGemmaForConditionalGeneration(config)
        finally:
            torch.set_default_dtype(previous)
        _init_random_(model, INIT_STD)
    model.tie_weights()
    return model.eval()


def build_preset_policy(preset: str = "pi0fast", device: str = "cpu", dtype: str = "float32",
                        layers: int | None = None, vision_layers: int | None = None,
                        vocab_size: int | None = None, max_action_tokens: int = max(CHUNK_TOKENS),
                        static_cache: bool = True, seed: int = 0) -> Policy:
    """A Policy on random weights at a preset's dimensions. pi0fast: written as a LeRobot pi0_fast directory
    and loaded by its format adapter, exactly as a user's checkpoint; other presets: built in memory."""
    dims = preset_dims(preset, layers, vision_layers)
    if preset in ADAPTER_PRESETS:
        model = build_random_model(build_config(vocab_size or PRESET_VOCAB_SIZE[preset], dims), device,
                                   TORCH_DTYPES[dtype], seed=seed)
        with tempfile.TemporaryDirectory(prefix=f"mgselect-{preset}-") as workdir:
            path, options = write_lerobot_checkpoint(Path(workdir), model, cameras=("front",),
                                                     dim=len(DEFAULT_JOINTS), horizon=HORIZON,
                                                     max_tokens=max_action_tokens, fast_vocab=FAST_VOCAB_SIZE,
                                                     seed=seed)
            del model
            return load_policy(str(path), device=device, dtype=dtype, static_cache=static_cache,
                               text_tokenizer=options.text_tokenizer, action_tokenizer=options.action_tokenizer)
    spec = random_spec(name=f"{preset}-random", image_size=dims.image_size, horizon=HORIZON,
                       max_action_tokens=max_action_tokens)
    text_tokenizer = build_text_tokenizer(list(DEFAULT_INSTRUCTIONS))
    chunks = synthetic_chunks(SYNTHETIC_CHUNKS, spec.horizon, spec.action_dim, seed=seed)
    action_tokenizer = fit_action_tokenizer("fast", chunks, FAST_VOCAB_SIZE)
    needed = text_tokenizer.get_vocab_size() + action_tokenizer.vocab_size
    vocab = vocab_size or PRESET_VOCAB_SIZE.get(preset, needed)
    if vocab < needed:
        raise ValueError(f"vocab_size={vocab} is too small: text and action tokens need {needed}")
    model = build_random_model(build_config(vocab, dims), device, TORCH_DTYPES[dtype], seed=seed)
    bundle = PolicyBundle(
        path=Path(f"<in-memory {preset}>"), spec=spec, model=model, text_tokenizer=text_tokenizer,
        action_tokenizer=action_tokenizer, state_normalizer=QuantileNormalizer(spec.state_q01, spec.state_q99),
        action_normalizer=QuantileNormalizer(spec.action_q01, spec.action_q99),
        layout=TokenLayout(vocab, action_tokenizer.vocab_size),
        prompts=native_prompts(text_tokenizer, spec, model.config))
    return Policy(bundle, static_cache=static_cache)


# ---------------------------------------------------------------------------------------------- measuring
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def decode_weight_bytes(model: PaliGemmaForConditionalGeneration) -> int:
    """Bytes one decode step must read at least: the language model (its embedding matrix is the tied lm_head,
    read once per step); the vision tower and projector run only in the prefill."""
    return sum(p.numel() * p.element_size() for p in model.model.language_model.parameters())


def copy_bandwidth(device: torch.device, nbytes: int, repeats: int = COPY_REPEATS) -> float:
    """Device-to-device bytes per second of a large tensor copy (read + write counted)."""
    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        dst.copy_(src)
    _sync(device)
    return READ_AND_WRITE * nbytes * repeats / (time.perf_counter() - start)


def _median(samples: Sequence[float]) -> float:
    return round(statistics.median(samples), 3)


def measure(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> list[float]:
    """Wall-clock ms of `fn` per run after `warmup` runs (device synchronised around every run)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        samples.append((time.perf_counter() - start) * MS_PER_S)
    return samples


def run(policy: Policy, naive_policy: Policy, *, tokens: Sequence[int], sweep: Sequence[int],
        warmup: int, repeats: int, config: SelectionConfig, copy_bytes: int, eager_policy: Policy | None = None
        ) -> dict:
    """All measurements; returns the report (see the module docstring). `eager_policy` (static cache, no CUDA
    graph) adds MG-Select N=4 at the longest chunk without the graph, to show what the graph buys."""
    device = policy.engine.backend.device
    on_cuda = device.type == "cuda"
    no_terminator = policy.engine.token_mask(terminator=False)  # fixed length: every row decodes `count` tokens
    config = config.replace(restrict_to_action_tokens=True, complete_chunks=False)
    images, state = synthetic_observation(policy)
    weight_bytes = decode_weight_bytes(policy.bundle.model)
    bandwidth = copy_bandwidth(device, copy_bytes)
    floor_step_ms = weight_bytes / bandwidth * MS_PER_S
    prompt_tokens = len(policy.engine.build_prompts(np.asarray(state), INSTRUCTION, None)[0])

    chunk_ms: dict[str, float] = {}
    prefill_ms: dict[str, float] = {}
    decode_step_ms: dict[str, float] = {}
    peak_gib: dict[str, float] = {}
    valid: dict[str, int] = {}

    def variant(name: str, cfg: SelectionConfig, count: int, engine: SelectionEngine = policy.engine) -> None:
        breakdowns = []

        def once() -> None:
            result = engine.select(images, state, INSTRUCTION, cfg, fallback=False, allowed_tokens=no_terminator)
            breakdowns.append(result.timing)
            valid[name] = int(sum(c is not None for c in result.candidates))

        if on_cuda:
            torch.cuda.reset_peak_memory_stats(device)
        samples = measure(once, device, warmup, repeats)
        measured = breakdowns[-repeats:]
        chunk_ms[name] = _median(samples)
        prefill_ms[name] = _median([t.prefill_ms for t in measured])
        decode_step_ms[name] = _median([t.decode_ms / max(count - 1, 1) for t in measured])
        if on_cuda:
            peak_gib[name] = round(torch.cuda.max_memory_allocated(device) / GIB, 3)
        print(f"  {name}: {chunk_ms[name]:.1f} ms/chunk, prefill {prefill_ms[name]:.1f} ms, "
              f"{decode_step_ms[name]:.3f} ms/step", flush=True)  # progress: the log keeps it if a timeout hits

    for count in tokens:
        cfg = config.replace(max_action_tokens=count)
        variant(f"greedy_{count}tok", cfg.replace(strategy="greedy"), count)
        for n in sweep:
            variant(f"mg_select_n{n}_{count}tok", cfg.replace(strategy="mg_select", num_candidates=n), count)
    longest = max(tokens)
    if eager_policy is not None:
        variant(f"mg_select_n{REFERENCE_N}_{longest}tok_no_graph", config.replace(
            strategy="mg_select", num_candidates=REFERENCE_N, max_action_tokens=longest), longest,
            eager_policy.engine)
    naive_cfg = config.replace(strategy="mg_select", num_candidates=REFERENCE_N, max_action_tokens=longest)
    naive_name = f"naive_mg_select_n{REFERENCE_N}_{longest}tok"
    chunk_ms[naive_name] = _median(
        measure(lambda: naive_mg_select(naive_policy, images, state, INSTRUCTION, naive_cfg, no_terminator), device,
                warmup, repeats))
    print(f"  {naive_name}: {chunk_ms[naive_name]:.1f} ms/chunk", flush=True)

    report: dict = {
        "preset_params": sum(p.numel() for p in policy.bundle.model.parameters()),
        "decode_weight_bytes": weight_bytes,
        "copy_bandwidth_gbps": round(bandwidth / 1e9, 1),
        "floor_step_ms": round(floor_step_ms, 4),
        "prompt_tokens": prompt_tokens,
        "chunk_ms": chunk_ms, "prefill_ms": prefill_ms, "decode_step_ms": decode_step_ms,
        "peak_memory_gib": peak_gib, "valid_candidates": valid,
    }
    for count in tokens:
        floor = floor_step_ms * count
        report[f"floor_ms_{count}tok"] = round(floor, 3)
        key = f"mg_select_n{REFERENCE_N}_{count}tok"
        if key in chunk_ms:
            report[f"chunk_ms_n{REFERENCE_N}_{count}tok"] = chunk_ms[key]
            report[f"over_floor_n{REFERENCE_N}_{count}tok"] = round(chunk_ms[key] / floor, 3)
            report[f"mg_select_n{REFERENCE_N}_over_greedy_{count}tok"] = round(
                chunk_ms[key] / chunk_ms[f"greedy_{count}tok"], 3)
    headline = f"mg_select_n{REFERENCE_N}_over_greedy_{longest}tok"
    if headline in report:
        report[f"mg_select_n{REFERENCE_N}_over_greedy"] = report[headline]
        report[f"naive_over_mg_select_n{REFERENCE_N}"] = round(
            chunk_ms[naive_name] / chunk_ms[f"mg_select_n{REFERENCE_N}_{longest}tok"], 3)
    report["targets"] = {k: {"target": v, "value": report.get(k), "met": k in report and report[k] <= v}
                         for k, v in TARGETS.items()}
    return report


def print_table(report: dict) -> None:
    print(f"{report['preset']} ({report['preset_params'] / 1e9:.3f} B params, {report['layers']} layers) on "
          f"{report['device_name']} in {report['dtype']}; copy bandwidth {report['copy_bandwidth_gbps']} GB/s, "
          f"floor {report['floor_step_ms']:.3f} ms/token; prompt {report['prompt_tokens']} tokens")
    print(f"{'variant':<30}{'chunk ms':>11}{'prefill ms':>12}{'step ms':>10}{'peak GiB':>10}")
    for name, ms in report["chunk_ms"].items():
        prefill = report["prefill_ms"].get(name, float("nan"))
        step = report["decode_step_ms"].get(name, float("nan"))
        peak = report["peak_memory_gib"].get(name, float("nan"))
        print(f"{name:<30}{ms:>11.1f}{prefill:>12.1f}{step:>10.2f}{peak:>10.2f}")
    for name, entry in report["targets"].items():
        print(f"{name:<30}{entry['value']!s:>11} (target <= {entry['target']}: "
              f"{'met' if entry['met'] else 'NOT met'})")


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mgselect bench --preset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True, choices=sorted(PRESETS))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", choices=sorted(TORCH_DTYPES), help="default: bfloat16 on CUDA, else float32")
    parser.add_argument("--layers", type=int, help="decoder layers (default: the preset's; fewer for dry runs)")
    parser.add_argument("--vision-layers", type=int, help="vision tower layers (default: the preset's)")
    parser.add_argument("--vocab-size", type=int, help="model vocabulary (default: the preset's)")
    parser.add_argument("--tokens", type=_ints, default=CHUNK_TOKENS, help="action tokens per chunk, e.g. 32,64")
    parser.add_argument("--sweep", type=_ints, default=SWEEP_N, help="candidate counts N, e.g. 1,2,4,8,16")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--repeats", type=int, help="measured runs per variant (overrides --quick)")
    parser.add_argument("--warmup", type=int, help="warm-up runs per variant (overrides --quick)")
    parser.add_argument("--no-cuda-graph", action="store_true", help="static cache without the CUDA graph")
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument("--mask-mode", default="text", choices=("text", "state", "both"))
    parser.add_argument("--temperature", type=float, default=SelectionConfig().temperature)
    parser.add_argument("--policy", help="ignored: the preset is built in memory")
    args = parser.parse_args(argv)
    if REFERENCE_N not in args.sweep:
        parser.error(f"--sweep must include N={REFERENCE_N} (the headline numbers are at N={REFERENCE_N})")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch has no CUDA device here (CPU build of torch, or no GPU visible)")
    dtype = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    warmup, repeats = REPEATS["quick" if args.quick else "full"]
    repeats = args.repeats or repeats
    warmup = warmup if args.warmup is None else args.warmup

    start = time.perf_counter()
    policy = build_preset_policy(args.preset, str(device), dtype, args.layers, args.vision_layers,
                                 args.vocab_size, max_action_tokens=max(args.tokens))
    build_s = time.perf_counter() - start
    print(f"built {args.preset} on {device} in {dtype} in {build_s:.1f} s", flush=True)
    if args.no_cuda_graph:
        policy.engine.cuda_graph = False
    naive_policy = Policy(policy.bundle, static_cache=False)  # shares the weights
    eager_policy = None
    if policy.engine.cuda_graph:
        eager_policy = Policy(policy.bundle, static_cache=True)
        eager_policy.engine.cuda_graph = False
    config = SelectionConfig(temperature=args.temperature, mask_mode=args.mask_mode, seed=0)
    report = {
        "preset": args.preset, "device": str(device), "dtype": dtype,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__, "transformers": transformers.__version__,
        "layers": policy.bundle.model.config.text_config.num_hidden_layers,
        "vision_layers": policy.bundle.model.config.vision_config.num_hidden_layers,
        "vocab_size": policy.bundle.model.config.text_config.vocab_size,
        "cuda_graph": policy.engine.cuda_graph, "static_cache": policy.engine.static_cache,
        "tokens": list(args.tokens), "sweep": list(args.sweep), "warmup": warmup, "repeats": repeats,
        "build_s": round(build_s, 1),
    }
    report.update(run(policy, naive_policy, tokens=args.tokens, sweep=args.sweep, warmup=warmup,
                      repeats=repeats, config=config, copy_bytes=COPY_BYTES.get(device.type, COPY_BYTES["cpu"]),
                      eager_policy=eager_policy))
    report["total_s"] = round(time.perf_counter() - start, 1)
    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0
