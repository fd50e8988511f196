"""A process-wide change shared by overlapping users (vsr.shared_change)."""

from __future__ import annotations

from vsr.shared_change import SharedChange


def test_the_first_user_makes_the_change_and_the_last_undoes_it_whatever_the_order():
    state = {"level": "quiet"}
    events: list[str] = []

    def make() -> str:
        events.append("make")
        before, state["level"] = state["level"], "loud"
        return before

    def undo(before: str) -> None:
        events.append("undo")
        state["level"] = before

    change = SharedChange(make, undo)
    first, second = change, change
    first.__enter__()
    second.__enter__()  # overlaps the first
    first.__exit__(None, None, None)  # leaves before the second
    assert state["level"] == "loud" and events == ["make"]
    second.__exit__(None, None, None)
    assert state["level"] == "quiet" and events == ["make", "undo"]
    with change:  # used again later: made anew
        assert state["level"] == "loud"
    assert events == ["make", "undo", "make", "undo"]
