"""What qualifies an eval score, worded once for `vsr eval`'s terminal and `vsr report`'s
page: images run in patches, and a folder named after a benchmark holding another number of
images than it."""

from __future__ import annotations

from collections.abc import Sequence

from vsr.counted import counted
from vsr.paper import benchmark_images


def in_patches_note(names: Sequence[str]) -> str:
    """The images whose network input the memory budget split."""
    return (
        f"{len(names)} image(s) ran in patches, so channel attention saw each patch, not the "
        f"image: {', '.join(names)}"
    )


def part_of_a_benchmark_note(dataset: str, images: int) -> str:
    """A folder named after a benchmark (vsr.paper.is_part_of_a_benchmark) with `images`."""
    return f"{counted(images, 'image')}, not {dataset}'s {benchmark_images(dataset)}: not compared with the paper"
