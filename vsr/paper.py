"""The IMDN paper's results: its table of scores and its networks' parameter counts.

Scores are PSNR/SSIM on the Y channel, MATLAB convention (Hui et al., ACM MM 2019, Table);
parameter counts are those of the official checkpoints (vsr profile gives the same).
"""

from __future__ import annotations

# The IMDN paper's Table (PSNR/SSIM, Y channel, MATLAB convention), by scale and dataset.
PAPER_IMDN: dict[int, dict[str, tuple[float, float]]] = {
    2: {
        "Set5": (38.00, 0.9605),
        "Set14": (33.63, 0.9177),
        "B100": (32.19, 0.8996),
        "Urban100": (32.17, 0.9283),
        "Manga109": (38.88, 0.9774),
    },
    3: {
        "Set5": (34.36, 0.9270),
        "Set14": (30.32, 0.8417),
        "B100": (29.09, 0.8046),
        "Urban100": (28.17, 0.8519),
        "Manga109": (33.61, 0.9445),
    },
    4: {
        "Set5": (32.21, 0.8948),
        "Set14": (28.58, 0.7811),
        "B100": (27.56, 0.7353),
        "Urban100": (26.04, 0.7838),
        "Manga109": (30.45, 0.9075),
    },
}
# Other names the same benchmark sets go by.
DATASET_ALIASES = {"bsd100": "B100", "bsds100": "B100", "urban": "Urban100"}
# How many images each benchmark holds: a folder named after one but holding another number
# (two crops of Set5's images) scores what the paper's table does not measure.
BENCHMARK_IMAGES = {"Set5": 5, "Set14": 14, "B100": 100, "Urban100": 100, "Manga109": 109}
# The official x2/x3/x4 networks' parameters (the paper: 694K, 703K, 715K).
PAPER_PARAMETERS = {2: 694_404, 3: 703_059, 4: 715_176}


def _benchmark_name(dataset: str) -> str | None:
    """The benchmark a dataset name (any case, or an alias) is, or None."""
    name = DATASET_ALIASES.get(dataset.lower(), dataset).lower()
    return next((known for known in BENCHMARK_IMAGES if known.lower() == name), None)


def paper_scores(dataset: str, scale: int) -> tuple[float, float] | None:
    """The paper's IMDN (PSNR, SSIM) for a dataset name and scale, or None."""
    name = _benchmark_name(dataset)
    return None if name is None else PAPER_IMDN.get(scale, {}).get(name)


def benchmark_images(dataset: str) -> int | None:
    """How many images the benchmark of this name holds; None for another dataset."""
    name = _benchmark_name(dataset)
    return None if name is None else BENCHMARK_IMAGES[name]


def is_part_of_a_benchmark(dataset: str, images: object) -> bool:
    """Whether a result is of a folder named after a benchmark but holding another number of
    images than the benchmark's own: its score is not comparable with the paper's."""
    whole = benchmark_images(dataset)
    if whole is None or isinstance(images, bool) or not isinstance(images, int):
        return False
    return images != whole
