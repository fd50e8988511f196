"""A time budget for training: the run measures its own speed, then fixes its length.

With ``minutes`` set, the run does WARMUP_STEPS steps (cuDNN autotuning, the allocator and
the first kernels make them slow), times the next MEASURE_STEPS (a validation or a save
among them left out: it is no step's time), and then fixes the total number of steps so that
training ends when the budget does. The learning-rate schedule is a closed form of (step,
total), so the cosine is laid over the final count; until it is known the schedule holds its
starting rate (what a cosine of thousands of steps gives there anyway). The count is stored
in the checkpoint, so a resumed run keeps it (a resume with another budget measures again
and fits the rest of the run into that).

The budget covers the training loop, from its first step: start-up (imports, reading and
downscaling the images, CUDA initialisation) comes before it, and the final saves after it.
The final validation is in it once a validation has been timed: the longest so far is kept
from the steps' time, and a validation in the middle of the run that would leave the final
one no time is skipped, with a note (validating at 1 s every 30 steps of 10 ms, a 3 s budget
ended at 5 s, two validations past its end). The validations and saves in between are in it:
the fit cannot know what they will cost (a Set5 pass on a CPU takes seconds), so at every
log row after it the total is lowered to the steps that the time left holds at the measured
speed (never raised), and the cosine from then on is laid over the lowered count (its rate
steps down a little). A run resumed with its own budget keeps the stored count but measures
its speed again over its first steps (the speed before was not stored, and the machine may
be another one), so that its validations are held too; the validation time kept for the
final one is stored, and a resume on the same validation set keeps it until it has timed one
of its own. A run stopped before its count was fixed measures afresh after the resume, a
warm-up of its own included (the first steps after a start are slow again, and the steps
measured before the stop are not kept: the machine may be another one). Until then it holds
its starting rate, as before the stop; from then on its rates are those of the cosine an
uninterrupted run lays over the same count, but for the steps between the two fixes (held
where that run's had begun to fall). A run always takes at least WARMUP_STEPS +
MEASURE_STEPS steps, and says so once where they outlast the budget. The step schedule
(halve every lr_step) is in absolute steps and does not depend on the total.
"""

from __future__ import annotations

import math
from collections.abc import Callable

WARMUP_STEPS = 10
MEASURE_STEPS = 50


class StepBudget:
    """The total number of steps: from the config, from a checkpoint, or fitted to a budget.

    ``total`` is None while the speed is being measured. Every DDP rank decides at the same
    step (the end of the measurement), so the collectives in ``agree`` line up.
    """

    def __init__(self, steps: int, minutes: float, start_step: int, stored: int | None) -> None:
        self.seconds = minutes * 60
        self.total: int | None = steps if minutes <= 0 else stored
        self.measure_from = start_step + WARMUP_STEPS
        self.measure_to = self.measure_from + MEASURE_STEPS
        self.measured_rate: float | None = None  # steps/s over the measured steps
        self._measure_start: float | None = None
        self._left_out = 0.0  # seconds among the measured steps spent on other things
        self.validation_s: float | None = None  # the longest validation so far
        self._validation_stored = False  # validation_s is a checkpoint's, not this run's
        self._said_overrun = False

    @property
    def measuring(self) -> bool:
        """Whether ``after_step`` is still to be called: the speed of a run with a budget is
        not known yet (a resumed run measures it too, to refit the count it keeps)."""
        return self.seconds > 0 and self.measured_rate is None

    def after_step(
        self, done: int, elapsed: Callable[[], float], agree: Callable[[int], int]
    ) -> bool:
        """Call after every step while ``measuring``; True when the total has just been fixed
        (a total taken from a checkpoint is kept: the speed is measured for ``refit``).

        ``elapsed()`` gives the run's seconds so far with the device synchronised;
        ``agree(n)`` returns the value all ranks settle on (rank 0's; n itself when alone).
        """
        if done == self.measure_from:
            self._measure_start = elapsed()
        elif done == self.measure_to:
            now = elapsed()
            steps_s = now - self._measure_start - self._left_out
            self.measured_rate = MEASURE_STEPS / max(steps_s, 1e-9)
            if self.total is not None:
                return False
            left = self._left_for_steps(now)
            self.total = max(done, agree(done + math.floor(self.measured_rate * left)))
            return True
        return False

    def overrun_note(self, done: int, now: float) -> str | None:
        """The note, once, that the steps measuring the speed outlast the budget: they are
        taken whatever it is (``--minutes 0.05`` on a CPU ran 0.13 min without a word).
        ``now`` need not wait for the device: a host already past the budget is surely
        not early. Call after every step until ``measure_to``, after ``after_step``, so
        that the note at that step has the measured speed."""
        if self._said_overrun or self.seconds <= 0 or done > self.measure_to:
            return None
        if now <= self.seconds:
            return None
        self._said_overrun = True
        end = self.measure_to if self.total is None else min(self.total, self.measure_to)
        if done == self.measure_to and self.measured_rate is not None:
            return (
                f"time budget: the {WARMUP_STEPS + MEASURE_STEPS} steps that measure the speed "
                f"outlast its {self.seconds / 60:g} min ({self.measured_rate:.2f} steps/s "
                f"measured): the run ends with them, at step {end}, past the budget"
            )
        return (
            f"time budget: its {self.seconds / 60:g} min are spent at step {done}, "
            f"before the {WARMUP_STEPS + MEASURE_STEPS} steps that measure the speed are "
            f"done: the run ends at step {end}, past the budget"
        )

    def leave_out(self, seconds: float) -> None:
        """Take time spent on something other than steps (a validation, a save) out of the
        speed being measured: a 1 s validation among 4 steps of 10 ms measured 3.85 steps/s,
        not 100, and the fit gave the run a 26th of the steps its budget held."""
        if self.measuring and self._measure_start is not None:
            self._left_out += seconds

    def refit(self, done: int, elapsed: Callable[[], float], agree: Callable[[int], int]) -> int:
        """Lower the total to ``done`` plus the steps the time left holds at the measured speed;
        returns the total before. Call at the same steps on every rank (the log rows); until
        the speed is measured the total stays as it is."""
        before = self.total
        if self.measured_rate is None or before is None or done >= before:
            return before
        left = self._left_for_steps(elapsed())
        self.total = min(before, max(done, agree(done + math.floor(self.measured_rate * left))))
        return before

    def validated(self, seconds: float) -> None:
        """Note how long a validation took: the final one is expected to take as long as the
        longest so far, and that time is kept from the steps."""
        if self._validation_stored:  # this run's own time replaces a checkpoint's
            self.validation_s, self._validation_stored = seconds, False
        else:
            self.validation_s = max(seconds, self.validation_s or 0.0)

    def expect_validation(self, seconds: float | None) -> None:
        """A resumed run's validation time, from its checkpoint, kept for the final
        validation until this run has timed one of its own: the machine may be another one
        (a CPU run's slow validations resumed on a GPU skipped its validations mid-run)."""
        self.validation_s, self._validation_stored = seconds, seconds is not None

    def room_to_validate(self, now: float) -> bool:
        """Whether a validation in the middle of the run, started at ``now``, still leaves the
        final one its time within the budget (True until a validation has been timed)."""
        if self.seconds <= 0 or self.validation_s is None:
            return True
        return now + 2 * self.validation_s <= self.seconds

    def skip_note(self, step: int, now: float) -> str:
        """The note for a validation at ``step``, at ``now``, that ``room_to_validate``
        refused: its figures must show what refused it (the seconds left are fewer than two
        validations'), so they get the decimals that tell them apart; one figure rounded to
        0.1 s made 0.98 s left of 0.5 s validations read "1.0 s left", room for two."""
        start = f"time budget: no validation from step {step} on but the final one: "
        one = self.validation_s or 0.0
        left = self.seconds - now
        if left <= 0:  # a non-log step past the end: no "-0.2 s left"
            # Decimals enough that a short validation does not read "takes 0.0 s".
            shown = next((f"{one:.{d}f}" for d in (1, 2) if float(f"{one:.{d}f}") > 0), None)
            shown = shown or f"{math.ceil(one * 1000) / 1000:.3f}"
            return start + f"one takes {shown} s, and the budget's {self.seconds:g} s are spent"
        for decimals in (1, 2, 3):
            one_shown, left_shown = f"{one:.{decimals}f}", f"{left:.{decimals}f}"
            if float(left_shown) < 2 * float(one_shown):
                break
        else:  # closer than a millisecond: left rounded down and one up still differ
            one_shown = f"{math.ceil(one * 1000) / 1000:.3f}"
            left_shown = f"{math.floor(left * 1000) / 1000:.3f}"
        return (
            start + f"one takes {one_shown} s, and the {left_shown} s left hold the final one only"
        )

    def _left_for_steps(self, now: float) -> float:
        """The budget's seconds after ``now`` less those the final validation will take."""
        return max(0.0, self.seconds - now - (self.validation_s or 0.0))
