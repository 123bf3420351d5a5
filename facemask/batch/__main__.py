"""python -m facemask.batch: see facemask.batch.cli."""

from .cli import console

if __name__ == "__main__":
    console()
