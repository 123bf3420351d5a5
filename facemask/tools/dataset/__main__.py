"""`python -m facemask.tools.dataset`: the command line in cli.py."""

from facemask.tools.dataset.cli import console

if __name__ == "__main__":
    console()
