"""`mgselect train`: teacher-forced training of a tiny PaliGemma-architecture VLA from expert episodes, with
MG-Select* condition dropout, resumable checkpoints and a policy bundle as the result.

Data: a directory written by `mgselect collect` (mgselect_node/datasets/episodes.py). Condition dropout: per
sample the prompt is the full one, or the text-, state- or both-masked variant with probabilities
`--dropout text=P,state=P,both=P`; the rest is full, all zero = vanilla. Every `--checkpoint-every` steps
OUT/checkpoint/ holds what `--resume` needs to continue bit for bit. The modules: mgselect_node/training/.

Cost on this 2-core machine (no GPU), tiny dims (2.52 M parameters), batch 16, 16 image tokens, ~55-token
sequences, `--threads 1` (the other core busy with a second training): 0.18-0.20 s/step, 3000 steps in 9-10
min, peak RSS 0.8 GB. Two torch threads on a machine shared with other jobs were SLOWER (1.4-3 s/step at
batch 32) than one.

Reproduce the shipped bundles (README, round 2): 1500 contrastive expert episodes (scene seeds 0..499, every pad
named in turn, worded by colour or by position with probability 1/2; 2.6 min to collect), 6000 steps each with
half of every batch from the first 10 frames. 23 min at 0.23 s/step per bundle, the two side by side; peak RSS
4.0 GB.
    mgselect collect --episodes 1500 --targets-per-layout 3 --instructions colour:1,position:1 --seed 0 \\
        --out data/contrastive1500
    mgselect train --data data/contrastive1500 --out mgselect_node/policies/sim-mgselect-star --steps 6000 \\
        --seed 0 --dropout text=0.15,state=0.15,both=0.1 --early-fraction 0.5 --threads 1 --discard-checkpoint
    mgselect train --data data/contrastive1500 --out mgselect_node/policies/sim-vanilla --steps 6000 \\
        --seed 0 --dropout text=0,state=0,both=0 --early-fraction 0.5 --threads 1 --discard-checkpoint
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mgselect_node.errors import InputError
from mgselect_node.model.presets import PRESETS
from mgselect_node.training import config as recipe


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mgselect train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="dataset directory written by `mgselect collect`")
    parser.add_argument("--max-episodes", type=int, default=0, help="use only the first N episodes (0 = all)")
    parser.add_argument("--out", required=True, help="bundle directory to write (checkpoints in OUT/checkpoint)")
    parser.add_argument("--steps", type=int, default=recipe.DEFAULT_STEPS)
    parser.add_argument("--batch", type=int, default=recipe.DEFAULT_BATCH)
    parser.add_argument("--lr", type=float, default=recipe.DEFAULT_LR, help="peak learning rate (AdamW)")
    parser.add_argument("--schedule", choices=recipe.SCHEDULES, default="cosine", help="after a linear warm-up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dropout", default="text=0,state=0,both=0",
                        help="condition dropout probabilities, e.g. text=0.15,state=0.15,both=0.1 (0 = vanilla)")
    parser.add_argument("--horizon", type=int, default=recipe.DEFAULT_HORIZON, help="action chunk length (steps)")
    parser.add_argument("--fast-vocab", type=int, default=recipe.DEFAULT_FAST_VOCAB, help="FAST BPE vocabulary size")
    parser.add_argument("--early-fraction", type=float, default=0.0,
                        help="share of every batch drawn from the first --early-frames frames of episodes, where "
                             "only the instruction tells the target (0 = uniform over frames)")
    parser.add_argument("--early-frames", type=int, default=recipe.DEFAULT_EARLY_FRAMES)
    parser.add_argument("--dims", choices=sorted(PRESETS), default="tiny", help="model size preset")
    parser.add_argument("--action-mode", choices=recipe.ACTION_MODES, default="absolute")
    parser.add_argument("--checkpoint-every", type=int, default=recipe.DEFAULT_CHECKPOINT_EVERY)
    parser.add_argument("--weights-dtype", choices=recipe.WEIGHT_DTYPES, default="float16",
                        help="storage dtype of the final bundle's weights (loading casts to any dtype)")
    parser.add_argument("--name", default="", help="policy name in policy.yaml (default: OUT's basename)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    parser.add_argument("--discard-checkpoint", action="store_true",
                        help="delete OUT/checkpoint after the bundle is written (for shipped bundles)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0 = torch's default; 1 is fastest on a busy shared machine)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from mgselect_node.datasets.episodes import DatasetError, load_dataset
    from mgselect_node.training.trainer import peak_rss_mb, train

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        config = recipe.TrainConfig(
            out=args.out, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
            dropout=recipe.parse_dropout(args.dropout), horizon=args.horizon, fast_vocab=args.fast_vocab,
            dims=args.dims, schedule=args.schedule, action_mode=args.action_mode,
            checkpoint_every=args.checkpoint_every, weights_dtype=args.weights_dtype,
            max_episodes=args.max_episodes, early_fraction=args.early_fraction, early_frames=args.early_frames,
            name=args.name, progress=not args.no_progress)
        try:
            dataset = load_dataset(args.data)
        except DatasetError as exc:
            raise InputError(f"--data {args.data}: {exc}") from exc
        trainer = train(dataset, config, resume=args.resume, keep_checkpoint=not args.discard_checkpoint)
    except InputError as exc:
        print(f"mgselect train: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {trainer.step} steps in {trainer.elapsed_s:.0f} s "
          f"({trainer.elapsed_s / max(1, trainer.step):.3f} s/step), peak RSS {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
