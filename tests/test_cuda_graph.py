"""vsr.ops.cuda_graph on the CPU, with stand-in graphs (tests/graph_stand_in.py); the real
ones are checked against the network in tests/test_cuda.py, on a GPU."""

from __future__ import annotations

import contextlib
import threading

import torch
from graph_stand_in import on_cuda, use_stand_in_graphs

from vsr.ops.cuda_graph import MAX_GRAPHS, GraphedNetwork


def test_threads_replaying_one_graph_at_once_each_get_their_own_result(monkeypatch):
    # Two threads' calls interleaved as copy in A, copy in B, replay A, replay B: both
    # replays read B's input, and A got B's picture without a word.
    captured = use_stand_in_graphs(monkeypatch)
    graphed = GraphedNetwork(lambda t: t * 10)
    graphed(on_cuda(torch.zeros(1, 3, 4, 4)))  # captures the shape both threads call with
    both_copied_in = threading.Barrier(2)

    def wait_for_the_other_call() -> None:
        # Both calls meet here unless one waits for the other: then the first gives up.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_copied_in.wait(timeout=0.5)

    captured[0].before_replay = wait_for_the_other_call
    results = {}

    def call(value: float) -> None:
        results[value] = graphed(on_cuda(torch.full((1, 3, 4, 4), value)))

    threads = [threading.Thread(target=call, args=(value,)) for value in (1.0, 2.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {value: y.unique().tolist() for value, y in results.items()} == {
        1.0: [10.0],
        2.0: [20.0],
    }
    assert len(captured) == 1 and captured[0].replays == 3


def test_shapes_beyond_max_graphs_run_eagerly_and_capture_nothing(monkeypatch):
    # Each graph keeps a memory pool of its own: a fifth shape (tiling's edge tiles, say)
    # would hold one more for the rest of the run.
    captured = use_stand_in_graphs(monkeypatch)
    calls: list[tuple[int, ...]] = []

    def network(t: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(t.shape))
        return t * 10

    graphed = GraphedNetwork(network)
    for side in range(1, MAX_GRAPHS + 3):
        y = graphed(on_cuda(torch.ones(1, 3, side, side)))
        assert y.shape == (1, 3, side, side) and y.unique().tolist() == [10.0]
    assert len(captured) == len(graphed.graphs) == MAX_GRAPHS
    calls.clear()
    graphed(on_cuda(torch.ones(1, 3, MAX_GRAPHS + 1, MAX_GRAPHS + 1)))  # beyond: eager
    assert calls == [(1, 3, MAX_GRAPHS + 1, MAX_GRAPHS + 1)]
    assert sum(graph.replays for graph in captured) == MAX_GRAPHS


def test_release_drops_the_graphs_and_hands_their_pools_back(monkeypatch):
    captured = use_stand_in_graphs(monkeypatch)
    emptied: list[bool] = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    graphed = GraphedNetwork(lambda t: t * 10)
    graphed.release()  # nothing captured: nothing to hand back
    assert emptied == []
    graphed(on_cuda(torch.ones(1, 3, 4, 4)))
    graphed.release()
    assert graphed.graphs == {} and emptied == [True]
    graphed(on_cuda(torch.ones(1, 3, 4, 4)))  # captured again
    assert len(captured) == 2
