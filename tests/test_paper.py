"""The paper's figures vsr carries (vsr.paper) are the published ones."""

from __future__ import annotations

import json
import re

from conftest import SHARED, shared_path

from vsr.models import create_model
from vsr.paper import PAPER_IMDN, PAPER_PARAMETERS, paper_scores


def test_the_table_is_the_published_one():
    published = json.loads(shared_path("reference", "paper_table.json").read_text())["paper"]
    assert {f"x{scale}": table for scale, table in PAPER_IMDN.items()} == {
        scale: {dataset: tuple(scores) for dataset, scores in table.items()}
        for scale, table in published.items()
    }


def test_parameter_counts_are_the_networks_and_names_meet_their_aliases():
    for scale, count in PAPER_PARAMETERS.items():
        assert sum(p.numel() for p in create_model("imdn", scale).parameters()) == count
    assert paper_scores("bsd100", 3) == paper_scores("B100", 3) == (29.09, 0.8046)
    assert paper_scores("set5", 4) == (32.21, 0.8948)
    assert paper_scores("DIV2K", 2) is None and paper_scores("Set5", 8) is None


def test_the_benchmark_image_counts_are_the_datasets():
    from vsr.paper import BENCHMARK_IMAGES, is_part_of_a_benchmark

    for name, count in BENCHMARK_IMAGES.items():
        folder = SHARED / "datasets" / "benchmark" / name / "HR"
        if folder.is_dir():
            assert len([p for p in folder.iterdir() if not p.name.startswith(".")]) == count
    assert is_part_of_a_benchmark("set5", 2) and is_part_of_a_benchmark("bsd100", 99)
    assert not is_part_of_a_benchmark("Set5", 5) and not is_part_of_a_benchmark("Mine", 2)
    assert not is_part_of_a_benchmark("Set5", None)  # a count not given: cannot be told


def test_each_benchmark_holds_the_images_its_name_counts():
    # Set5, Set14, B100 (BSD100), Urban100 and Manga109 (109 manga volumes, Matsui et al.
    # 2017) are named after their image counts; with Manga109 at 108 a whole Manga109 was
    # flagged as part of one, its score not comparable with the paper's.
    from vsr.paper import BENCHMARK_IMAGES, benchmark_images, is_part_of_a_benchmark

    assert set(BENCHMARK_IMAGES) == {"Set5", "Set14", "B100", "Urban100", "Manga109"}
    for name, count in BENCHMARK_IMAGES.items():
        assert count == int(re.search(r"\d+$", name).group())
    assert not is_part_of_a_benchmark("Manga109", 109)
    assert is_part_of_a_benchmark("Manga109", 108)
    # Urban100 also goes by "urban" (as in the EDSR/RCAN test scripts).
    assert benchmark_images("urban") == benchmark_images("Urban100") == 100
    assert paper_scores("urban", 2) == paper_scores("Urban100", 2) == (32.17, 0.9283)
