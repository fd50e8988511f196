"""Do one thing to each file of a set and report every file it failed on, not the first.

Stopping at the first damaged file made a folder with three of them take three runs to
find them all, each redoing the work before it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from vsr.errors import VsrError
from vsr.printable import name_list

Item = TypeVar("Item")
Result = TypeVar("Result")


def each_or_every_failure(
    items: Sequence[Item],
    attempt: Callable[[Item], Result],
    reason: Callable[[Item, VsrError], str],
    what: str,
) -> list[Result]:
    """`attempt` of every item, in order; or, where it raised VsrError for some, one
    VsrError naming them all, "N of the M {what}: {reason}, ...; remove or replace them".
    One failure alone is raised as it was, its message already whole."""
    results, failures = [], []
    for item in items:
        try:
            results.append(attempt(item))
        except VsrError as error:
            failures.append((item, error))
    if len(failures) == 1:
        raise failures[0][1]
    if failures:
        reasons = [reason(item, error) for item, error in failures]
        raise VsrError(
            f"{len(failures)} of the {len(items)} {what}: {name_list(reasons)}; "
            "remove or replace them"
        )
    return results
