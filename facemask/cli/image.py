"""detect_mask_image.py (facemask-image): its arguments, its checks, and the run they describe."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import FacemaskError, OutputError
from ..images import IMAGE_SUFFIXES, find_images, image_limits
from ..interrupt import interrupt_for
from ..outputs import Input, Output, check_outputs
from .arguments import (
    check_model_arguments,
    checked,
    face_detector_inputs,
    float_range,
    model_arguments,
    model_inputs,
    show_progress,
)
from .process import command_parser, console_entry, run_command


def image_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "detect_mask_image.py",
        "Detect faces and masks in an image file or a folder of images: writes an annotated copy "
                    "of each image and a CSV with one row per face (file, box, label, confidence). "
                    "Unreadable images are skipped with a warning.",
    )
    p.add_argument("-i", "--image", required=True, metavar="PATH",
                   help=f"an image file, or a folder: its {', '.join(IMAGE_SUFFIXES)} files, hidden ones left out; "
                        "only those directly in it unless --recursive")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="also take the images in sub-folders; copies keep the sub-folder layout")
    p.add_argument("-o", "--output", default="annotated", metavar="DIR",
                   help="folder for the annotated copies, under the images' own names")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar (there is none when stderr is not "
                   "a terminal)")
    p.add_argument("--csv", metavar="FILE", help="the CSV of faces; default DIR/faces.csv (a cell that a "
                   "spreadsheet would run as a formula, such as a file name starting with =, gets a leading ')")
    p.add_argument("--max-image-mb", type=float_range(0.0, 1e6, low_included=False), default=100.0, metavar="MB",
                   help="skip, with a warning, an image file larger than this, before reading it into memory")
    p.add_argument("--max-megapixels", type=float_range(0.0, 1e6, low_included=False), default=100.0,
                   metavar="MP",
                   help="skip, with a warning, an image whose header declares more than this many million pixels, "
                        "before decoding it (a 100 kB PNG can declare 32000x32000: 3 GB once decoded); OpenCV "
                        "itself refuses more than the environment variable OPENCV_IO_MAX_IMAGE_PIXELS, 100 million "
                        "unless set")
    model_arguments(p)
    return p


def _image(args) -> None:
    from ..detector import MaskDetector
    from ..image_batch import detect_images

    if not args.paths:
        raise FacemaskError(f"no images in {args.image} (looked for {', '.join(IMAGE_SUFFIXES)})")
    detector = MaskDetector.load(args.model, args.face_detector, args.confidence, args.backend,
                                 min_face=args.min_face)
    with image_limits(args.max_image_mb, args.max_megapixels):
        summary = detect_images(detector, args.paths, args.image, args.output, args.csv, show_progress(args))
    print(summary)
    if summary.images:
        print(f"wrote {summary.images} annotated image(s) to {args.output}, faces to {args.csv}")
    if summary.interrupted:
        raise interrupt_for(summary.interrupted)
    if summary.unwritten:
        raise OutputError(f"{summary.unwritten} annotated copies could not be written to {args.output} (their faces "
                          "are not in the CSV)")
    if not summary.images:
        raise FacemaskError(f"none of the {summary.unreadable} image(s) could be read")


def _check_image_outputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The copies are checked one by one: an image linked from elsewhere, or a copy in a sub-folder, could
    land on another input even when the folders differ."""
    from ..image_batch import copy_path

    root, output = Path(args.image), Path(args.output)
    copies = [copy_path(path, root, output).relative_to(output) for path in args.paths]
    inputs = [Input("--image", root, recursive=args.recursive), *(Input("--image", p) for p in args.paths),
              *model_inputs("--model", args.model)]
    inputs += face_detector_inputs(args.face_detector)
    outputs = [Output("--output", output, folder=True, files=copies), Output("--csv", args.csv)]
    check_outputs(parser, outputs, inputs)


def _check_image(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not Path(args.image).exists():
        parser.error(f"--image: no such file or folder: {args.image}")
    check_model_arguments(parser, args)
    args.csv = args.csv or str(Path(args.output) / "faces.csv")
    args.paths = find_images(args.image, args.recursive)
    _check_image_outputs(parser, args)


def image_main(argv: list[str] | None = None) -> int:
    parser = image_parser()
    args = parser.parse_args(argv)
    checked(parser, _check_image, args)
    return run_command(_image, args)


image_console = console_entry(image_main)
