"""train_mask_detector.py (facemask-train): its arguments and its run."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..classifier import card_path
from ..errors import require
from ..outputs import Input, Output, check_outputs
from .arguments import (
    check_input_file,
    checked,
    fraction,
    int_range,
    layer_count,
    learning_rate,
    model_inputs,
    seed,
)
from .process import command_parser, console_entry, run_command


def train_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "train_mask_detector.py",
        "Fine-tune MobileNetV2 to tell masked, unmasked and incorrectly masked faces apart.",
    )
    p.add_argument("-d", "--dataset", default="dataset", help="folder with one sub-folder of face images per class "
                   "(with_mask, without_mask, incorrect_mask, or an alias such as mask_weared_incorrect)")
    p.add_argument("-m", "--model", default="models/mask_detector.h5",
                   help="where to save the model: .h5, or .keras for the native Keras format")
    p.add_argument("-p", "--plot", default="plots", help="folder for training.png, confusion_matrix.png, report.txt")
    p.add_argument("--epochs", type=int_range(1, 100_000), default=20, help="epochs of training the head")
    p.add_argument("--batch-size", type=int_range(1, 4096), default=32, help="images per training step")
    p.add_argument("--learning-rate", type=learning_rate, default=1e-4, help="Adam's initial rate (decays each epoch)")
    p.add_argument("--views", type=int_range(1, 100), default=3,
                   help="augmented views of each image whose base features are computed once and reused "
                        "across epochs (epoch e trains on view e mod VIEWS)")
    p.add_argument("--fine-tune", type=layer_count, default="all", metavar="N",
                   help="after training the head, also train MobileNetV2 with it (BatchNorm stays frozen): 'all' "
                        "trains every layer on a fresh augmentation of each image every epoch; N trains only the "
                        "last N layers on cached features, much faster; 0: the head alone")
    p.add_argument("--fine-tune-epochs", type=int_range(1, 100_000), default=6, help="epochs of the fine-tuning phase")
    p.add_argument("--fine-tune-learning-rate", type=learning_rate, default=3e-5,
                   help="Adam's initial rate when fine-tuning")
    p.add_argument("--real-share", type=fraction, default=0.5, metavar="F",
                   help="share of a class's weight carried by its real photos when the manifest marks some of its "
                        "images synthetic: synthetic masks far outnumber real incorrectly worn ones, and the model "
                        "is judged on real photos")
    p.add_argument("--val-split", type=fraction, default=0.2,
                   help="fraction held out for validation (a dataset manifest's splits take precedence)")
    p.add_argument("--train-on-val", action="store_true",
                   help="also train on the validation split: the final fit once a recipe is chosen, for the real "
                        "faces it adds; the validation figures printed are then on images the model has seen")
    p.add_argument("--seed", type=seed, default=42, help="seed for the split, augmentation and initial weights")
    p.add_argument("--members", type=int_range(1, 100), default=1, metavar="N",
                   help="train N models, with seeds SEED, SEED+1, ..., and save one model that averages their "
                        "probabilities, at N times the training time and the time per face")
    p.add_argument("--weights", choices=("imagenet", "none"), default="imagenet",
                   help="start MobileNetV2 from ImageNet weights, or from random ones (for tests)")
    p.add_argument("--no-tflite", action="store_true", help="do not export the faster .tflite twin of the model")
    p.add_argument("--export-tflite", action="store_true",
                   help="do not train: write the .tflite twin of the existing --model and exit")
    return p


def _train(args) -> None:
    require("keras", "training", "train")
    from facemask.train.model import TrainConfig
    from facemask.train.training import export_existing, run_training

    if args.export_tflite:
        print(f"saved {export_existing(args.model)}")
        return

    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, views=args.views,
        fine_tune=args.fine_tune, fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_learning_rate=args.fine_tune_learning_rate, real_share=args.real_share, seed=args.seed,
        weights=None if args.weights == "none" else "imagenet", train_on_val=args.train_on_val,
        members=args.members,
    )
    run_training(args.dataset, args.model, args.plot, config, args.val_split, tflite=not args.no_tflite)


def _train_outputs(args: argparse.Namespace) -> list[Output]:
    """The model, its card and its .tflite twin (exported, or removed as stale), and the plots."""
    from facemask.train.training import PLOT_FILES

    model = Path(args.model)
    twin = Output("--model", model.with_suffix(".tflite"))
    if args.export_tflite:
        return [twin]
    return [Output("--model", model), Output("--model", card_path(model)), twin,
            Output("--plot", args.plot, folder=True, files=PLOT_FILES)]


def _check_train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.export_tflite:
        check_input_file(parser, "--model", args.model, "a model file")
        inputs = model_inputs("--model", args.model)[:2]
    else:
        if not Path(args.dataset).is_dir():
            missing = "" if Path(args.dataset).exists() else " (no such file or folder)"
            parser.error(f"--dataset: not a folder: {args.dataset}{missing}")
        inputs = [Input("--dataset", args.dataset, recursive=True)]
    check_outputs(parser, _train_outputs(args), inputs)
    if Path(args.model).suffix not in (".h5", ".keras"):
        parser.error(f"--model must end in .h5 or .keras: {args.model}")


def train_main(argv: list[str] | None = None) -> int:
    parser = train_parser()
    args = parser.parse_args(argv)
    checked(parser, _check_train, args)
    return run_command(_train, args)


train_console = console_entry(train_main)
