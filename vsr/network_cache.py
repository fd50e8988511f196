"""The networks of a run of many clips (folder mode, a Ray worker), each loaded once.

A folder's clips may need different network scales (the default weights depend on the
factor a clip needs) but mostly share one. Each network is loaded once, and each Upscaler
built on it is kept, so that its compiled code and CUDA graphs are made once, not once a
clip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vsr.upscale import Upscaler


class NetworkCache:
    """Loads each network once and keeps it, and keeps each Upscaler built on it (folder
    mode runs many clips on one model: a compiled network and its CUDA graphs are made
    once, not once per clip)."""

    def __init__(self, weights: str | Path | None) -> None:
        self.weights = weights
        self.models: dict[int | None, torch.nn.Module] = {}
        self.upscalers: dict[tuple, Upscaler] = {}
        self.frame_sizes: dict[tuple, object] = {}  # each Upscaler's last clip's

    def get(self, network_scale: int) -> torch.nn.Module:
        # Given weights serve every clip; the defaults depend on the scale a clip needs.
        key = None if self.weights is not None else network_scale
        if key not in self.models:
            self.models[key] = load_network_for(self.weights, network_scale)
        return self.models[key]

    def upscaler(
        self, model: torch.nn.Module, frame_size: tuple[int, int] | None = None, **options: Any
    ) -> Upscaler:
        """The Upscaler for `model` (one of this cache's) with these options, for clips of
        `frame_size` (the network's input, H x W)."""
        key = (id(model), *sorted(options.items()))
        if key not in self.upscalers:
            self.upscalers[key] = Upscaler(model, **options)
        elif self.frame_sizes.get(key) != frame_size:
            # Each CUDA graph keeps its memory pool: the last clip's, of another size, would
            # narrow what this clip's frames may use (and make them tile).
            self.upscalers[key].release_graphs()
        self.frame_sizes[key] = frame_size
        return self.upscalers[key]


def load_network_for(
    weights: str | Path | torch.nn.Module | NetworkCache | None, network_scale: int | None
) -> torch.nn.Module:
    """A model from an nn.Module, a cache, a weights path or manifest name, or the default
    weights for the scale (None: 2; a cache needs one): the project's of the smallest
    network factor that reaches it (x2's for 1), as vsr.scaling serves any scale."""
    from vsr.scaling import network_scale_for
    from vsr.weights import load_network

    if isinstance(weights, NetworkCache):
        return weights.get(network_scale)
    if weights is not None:
        # Given weights are what they are (the geometry check below says if they cannot
        # serve the request); the scale only picks the default weights.
        return load_network(weights, None).model
    # Weights serve their own factor and any smaller one: `vsr image --scale 1` was "no
    # default weights for x1", where --weights vsr_imdn_x2 served it, as vsr run does.
    default = None if network_scale is None else network_scale_for(network_scale)
    return load_network(None, default).model
