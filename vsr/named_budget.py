"""A memory budget that says where it was set, for the error where it is too small.

A pipeline file's max_memory too small to tile a clip was told "raise --max-memory", a flag
nobody gave, in a folder run's failed clips and in Ray workers, where no caller of the
Upscaler knows the file. The name travels with the number instead (an int to everything
else, pickled with it to a worker).
"""

from __future__ import annotations


class NamedBudget(int):
    """`size` bytes, set by `named` ("pipeline p.toml: max_memory")."""

    named: str

    def __new__(cls, size: int, named: str) -> NamedBudget:
        budget = super().__new__(cls, size)
        budget.named = named
        return budget

    def __reduce__(self) -> tuple[type, tuple[int, str]]:
        return type(self), (int(self), self.named)


def budget_named(budget: object) -> str | None:
    """Where `budget` was set, for one that says so; None for a plain number (a flag's)."""
    return getattr(budget, "named", None)
