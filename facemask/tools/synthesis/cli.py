"""The command line, `python -m facemask.tools.synthesis`: check the arguments, then run synthesize_dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facemask.cli import command_parser, console_entry, run_command
from facemask.errors import FacemaskError
from facemask.tools.synthesis.dataset import CACHE_NAME
from facemask.tools.synthesis.geometry import KINDS


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "python -m facemask.tools.synthesis",
        "Paste masks onto the training split's without_mask crops: worn correctly (-> with_mask) and "
        "incorrectly, nose out or on the chin (-> incorrect_mask), and list them in the manifest as synthetic "
        "training rows. A rerun replaces the crops and rows of the previous run.")
    parser.add_argument("--dataset", type=Path, default=Path("dataset"),
                        help="dataset folder with without_mask/, with_mask/, incorrect_mask/ and manifest.csv")
    parser.add_argument("--templates", type=Path, default=Path("../shared/datasets/mask-templates"),
                        help="MaskTheFace mask folder with masks.cfg, templates/ and textures/")
    parser.add_argument("--per-face", type=int, default=1,
                        help="masked versions of each face per kind")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help=f"comma-separated ways of wearing the mask, of {', '.join(KINDS)}")
    parser.add_argument("--seed", type=int, default=42, help="random seed; same seed, same crops")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only a seeded random sample of N faces, for a quick look; all when not given")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="also write a PNG contact sheet of examples here (original, then each kind)")
    parser.add_argument("--cache", type=Path, default=None,
                        help=f"landmark cache file; DATASET/{CACHE_NAME} when not given")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for MTCNN")
    parser.add_argument("--min-confidence", type=float, default=0.9,
                        help="MTCNN confidence below which a face counts as not found")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    problems = []
    if not (args.dataset / "without_mask").is_dir():
        problems.append(f"{args.dataset / 'without_mask'} is not a folder (--dataset)")
    if not (args.templates / "masks.cfg").is_file() or not (args.templates / "templates").is_dir():
        problems.append(f"{args.templates} has no masks.cfg and templates/ folder (--templates)")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or any(k not in KINDS for k in kinds):
        problems.append(f"--kinds {args.kinds!r}: choose from {', '.join(KINDS)}")
    if args.per_face < 1:
        problems.append("--per-face must be at least 1")
    if args.limit is not None and args.limit < 1:
        problems.append("--limit must be at least 1")
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2

    args.kinds = kinds
    return run_command(_synthesize, args)


def _synthesize(args: argparse.Namespace) -> None:
    # Looked up on the package at call time, so that a patched facemask.tools.synthesis.synthesize_dataset (or
    # MtcnnLandmarks) is what the command runs, as it was when the package was one module.
    from facemask.tools import synthesis

    try:
        synthesis.synthesize_dataset(
            args.dataset, args.templates, per_face=args.per_face, kinds=args.kinds, seed=args.seed, limit=args.limit,
            landmarks=synthesis.MtcnnLandmarks(args.min_confidence, args.threads), cache_path=args.cache,
            sheet=args.sheet)
    except (ValueError, OSError) as error:
        raise FacemaskError(str(error)) from error
    if args.sheet is not None:
        print(f"contact sheet: {args.sheet}")


console = console_entry(main)
