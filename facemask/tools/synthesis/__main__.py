"""`python -m facemask.tools.synthesis`: the command line in cli.py."""

import sys

from facemask.tools.synthesis.cli import main

if __name__ == "__main__":
    sys.exit(main())
