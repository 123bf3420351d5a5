"""`python -m facemask.tools.synthesis`: the command line in cli.py."""

from facemask.tools.synthesis.cli import console

if __name__ == "__main__":
    console()
