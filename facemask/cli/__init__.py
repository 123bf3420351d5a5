"""The command line: process start-up and exit (`process`), argument types and the option groups every command
shares (`arguments`), the dashboard of a run (`serving`), and one module per command (`video`, `image`,
`train`). The work itself is in the library."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# after the variable above, which TensorFlow reads when it is imported
from .arguments import (
    add_options,
    check_face_detector,
    check_model_arguments,
    check_serve_arguments,
    checked,
    face_detector_inputs,
    int_range,
    model_arguments,
    model_inputs,
    mqtt_argument,
    options_from,
    serve_address,
    serve_arguments,
    show_progress,
)
from .image import image_console, image_main, image_parser
from .process import command_parser, console_entry, prog, run_command
from .serving import linger, start_dashboard
from .train import train_console, train_main, train_parser
from .video import video_console, video_main, video_parser

__all__ = [
    "add_options", "check_face_detector", "check_model_arguments", "check_serve_arguments", "checked",
    "command_parser", "console_entry", "face_detector_inputs", "image_console", "image_main", "image_parser",
    "int_range", "linger", "model_arguments", "model_inputs", "mqtt_argument", "options_from", "prog",
    "run_command", "serve_address", "serve_arguments", "show_progress", "start_dashboard", "train_console",
    "train_main", "train_parser", "video_console", "video_main", "video_parser",
]
