"""Plain-text tables for the terminal (bench, profile, eval, weights)."""

from __future__ import annotations

from collections.abc import Sequence

from vsr.printable import printable


def text_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    right_aligned_from: int | None = 1,
    rule: bool = True,
) -> list[str]:
    """The lines of a table: columns as wide as their widest cell, two spaces apart. Columns
    from index `right_aligned_from` on are right-aligned (figures), those before it
    left-aligned (names); None aligns all left. `rule` draws dashes under the header.
    Cells hold names from anywhere (datasets' folders, weights' paths): a newline in one
    split its row and forged a line, so control characters are shown escaped."""
    table = [list(header), *([printable(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    first_right = len(widths) if right_aligned_from is None else right_aligned_from

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(width) if index >= first_right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    lines = [line(table[0])]
    if rule:
        lines.append("  ".join("-" * width for width in widths))
    return lines + [line(row) for row in table[1:]]
