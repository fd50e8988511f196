"""CUDA graphs without a GPU, for the tests of vsr.ops.cuda_graph and of what uses it.

A tensor that says it is on cuda:0 takes GraphedNetwork's graph path, and the graph it
captures is a stand-in with a real one's contract: `replay()` reads the captured input
buffer and writes the captured output buffer, which every call of that shape shares.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
import torch

import vsr.ops.cuda_graph as cuda_graph


class OnCuda(torch.Tensor):
    """A CPU tensor whose `device` says cuda:0 (the graph path reads nothing else)."""

    @property
    def device(self) -> torch.device:
        return torch.device("cuda", 0)


def on_cuda(x: torch.Tensor) -> torch.Tensor:
    return x.as_subclass(OnCuda)


class StandInGraph:
    """What `replay()` of a captured network does: network(source) into result.
    `before_replay` runs first (a test's hook: an out-of-memory error, a wait)."""

    def __init__(self, network: Callable, source: torch.Tensor, result: torch.Tensor) -> None:
        self.network, self.source, self.result = network, source, result
        self.before_replay: Callable[[], None] = lambda: None
        self.replays = 0

    def replay(self) -> None:
        self.replays += 1
        self.before_replay()
        self.result.copy_(self.network(self.source))


def use_stand_in_graphs(monkeypatch: pytest.MonkeyPatch) -> list[StandInGraph]:
    """GraphedNetwork captures StandInGraphs (listed in the list returned, as captured) and
    enters no CUDA device."""
    captured: list[StandInGraph] = []

    def capture(graphed: cuda_graph.GraphedNetwork, x: torch.Tensor) -> cuda_graph._Captured:
        source = x.as_subclass(torch.Tensor).clone()
        result = graphed.network(source)
        captured.append(StandInGraph(graphed.network, source, result))
        return cuda_graph._Captured(captured[-1], source, result)

    monkeypatch.setattr(cuda_graph.GraphedNetwork, "_capture", capture)
    monkeypatch.setattr(torch.cuda, "device", lambda device: contextlib.nullcontext())
    return captured
