"""`python -m facemask.tools.evaluate`: the command line in cli.py."""

from facemask.tools.evaluate.cli import console

if __name__ == "__main__":
    console()
