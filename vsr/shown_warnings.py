"""The warnings the `vsr` command has printed, by their text.

What a user should hear at once (bf16 emulated on this CPU, a failed compile) vsr says
twice over: as a warning when it happens, which a program calling the API gets, and as a
note of the run, which its report keeps. The command prints the warning when it comes
(a run 50 times slower than it should be is worth stopping early) and then leaves out
the note's line of the same text, so that a user reads it once.

Kept for one command (`vsr.cli.main` starts it anew): the warnings module shows a warning
of one place and text once a process, so a second command in a process (a script calling
main() per file) is not warned again, and must print the note. vsr's warnings are few
kinds of text (dozens, not a set that grows with the clips of a watch).
"""

from __future__ import annotations

_SHOWN: set[str] = set()  # a set's add and `in` are each atomic: threads may share it


def remember(text: str) -> None:
    """Record that the command printed a warning of this text."""
    _SHOWN.add(text)


def shown_as_warning(text: str) -> bool:
    """Whether the command has printed a warning of this text (a note that repeats it is
    left out)."""
    return text in _SHOWN


def forget() -> None:
    """Start a command's record: the warnings of an earlier command in this process are
    not printed again by Python, so its notes are this command's only word on them."""
    _SHOWN.clear()
