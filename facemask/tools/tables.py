"""Plain-text tables for the tools' summaries: read in a terminal, pasted into an issue or the docs."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(rows: Sequence[Sequence[object]]) -> str:
    """The first row is the header; the first column is left-aligned, the others (numbers) right-aligned."""
    cells = [[str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return "\n".join(
        "  ".join([r[0].ljust(widths[0]), *(v.rjust(w) for v, w in zip(r[1:], widths[1:], strict=True))])
        for r in cells
    )
