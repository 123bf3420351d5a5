"""How every command starts and ends: one error line and exit status 1 for a FacemaskError, 130 (143) after
Ctrl-C (SIGTERM), 2 for bad arguments (argparse), and an exit that no library's clean-up can turn into a crash."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from ..errors import FacemaskError, console_logging, printable
from ..interrupt import exit_status, sigterm_as_exception


def run_command(main, args) -> int:
    """Run a command, the same way for every script and tool: a FacemaskError becomes one line on stderr and
    exit status 1; Ctrl-C (SIGTERM) prints "interrupted" and exits 130 (143), after whatever the command does
    to finish its files. Bad arguments exit 2 before this, from argparse."""
    console_logging()
    try:
        with sigterm_as_exception():
            with contextlib.suppress(ImportError):  # absl comes with tensorflow, which detection may go without
                import absl.logging

                absl.logging.set_verbosity(absl.logging.ERROR)  # Keras warns through absl that .h5 is legacy
            main(args)
    except FacemaskError as e:
        print(f"error: {printable(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print("interrupted", file=sys.stderr)
        return exit_status(e)
    return 0


def exit_now(code: int) -> NoReturn:
    """Exit without the interpreter's final clean-up, once the command has closed its outputs: the threads of
    TensorFlow and of Ray's core worker can crash that clean-up (a segmentation fault instead of the exit
    status) after an interrupted run."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (| head) has nothing left to flush into
            stream.flush()
    os._exit(code)


def console_entry(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], NoReturn]:
    """The process entry of a command, for its console script and its `__main__`: main(argv), then exit_now()."""
    @functools.wraps(main)
    def console(argv: list[str] | None = None) -> NoReturn:
        exit_now(main(argv))

    return console


def prog(name: str) -> str:
    """The command's name in usage and error lines: the console script the user typed (facemask-video), else
    `name`, the script or module that runs it."""
    typed = Path(sys.argv[0]).name
    return typed if typed.startswith("facemask-") else name


def command_parser(name: str, description: str) -> argparse.ArgumentParser:
    """Every command's parser: named as the user typed it, each flag's default shown in --help."""
    return argparse.ArgumentParser(prog=prog(name), description=description,
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
