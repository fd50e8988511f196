"""The terminal's tables (vsr.text_table): names left-aligned, figures right-aligned from
the column asked, no spaces after a line's last cell."""

from __future__ import annotations

from vsr.text_table import text_table


def test_figures_are_right_aligned_from_the_column_asked_and_lines_end_at_their_text():
    rows = [["IMDN x2", "12.25", "ok"], ["IMDN_RTC", "3.5", "out of memory"]]
    assert text_table(["network", "ms", "status"], rows, right_aligned_from=1) == [
        "network      ms         status",
        "--------  -----  -------------",
        "IMDN x2   12.25             ok",
        "IMDN_RTC    3.5  out of memory",
    ]
    assert text_table(["network", "ms", "status"], rows, right_aligned_from=None) == [
        "network   ms     status",
        "--------  -----  -------------",
        "IMDN x2   12.25  ok",
        "IMDN_RTC  3.5    out of memory",
    ]
