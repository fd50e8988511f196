"""Replay a network as a CUDA graph, one graph per input shape.

A video has one frame shape, so after the first batch every call launches the same few
hundred kernels with the same sizes. Capturing them once and replaying the graph costs one
launch instead of hundreds, which matters when frames are small and the GPU would otherwise
wait for the host to enqueue work. Large frames gain little; `vsr bench` shows which.

The graph reads from and writes to fixed buffers: the input is copied into the captured
input buffer, and the output is copied out of the captured one, because the next replay
overwrites it (tiling calls the network several times before stitching). The copy costs
one pass over the output, tens of microseconds for a batch of 1080p frames on an H100.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch

# Each graph keeps its own memory pool; a video needs one shape, tiling a few.
MAX_GRAPHS = 4
# Calls before capture: cuDNN picks its algorithms and compiled code is built on these.
WARMUP_CALLS = 3


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    source: torch.Tensor
    result: torch.Tensor


class GraphedNetwork:
    """`graphed(x)` equals `network(x)` for CUDA inputs; shapes beyond MAX_GRAPHS run eagerly."""

    def __init__(self, network: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.network = network
        self.graphs: dict[tuple, _Captured] = {}
        # A shape's graph has one input and one output buffer, shared by every caller:
        # threads calling at once (an Upscaler serves several) interleaved their copy in,
        # replay and copy out, and one got the other's picture. Held while those three are
        # queued, which the GPU then runs in that order on the stream the callers share
        # (microseconds: none of them waits for the GPU), and while a shape is captured.
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cuda":
            return self.network(x)
        key = (tuple(x.shape), x.stride(), x.dtype, x.device)
        with self._lock:
            captured = self.graphs.get(key)
            if captured is None and len(self.graphs) < MAX_GRAPHS:
                captured = self.graphs[key] = self._capture(x)
            if captured is not None:
                # inference_mode throughout: the captured buffers are inference tensors,
                # which may only be written inside it, whatever grad mode the caller is in.
                # The device guard: replay() launches on the current device's stream, which
                # must be x's.
                with torch.inference_mode(), torch.cuda.device(x.device):
                    captured.source.copy_(x)
                    captured.graph.replay()
                # Cloned outside inference_mode: a caller in no_grad mode may modify it.
                return captured.result.clone()
        return self.network(x)  # a shape beyond MAX_GRAPHS: eager, with no shared buffers

    def release(self) -> None:
        """Drop every graph, its buffers and its memory pool; a shape called again is
        captured again."""
        with self._lock:
            if not self.graphs:
                return
            self.graphs.clear()
        torch.cuda.empty_cache()  # the pools, free now, go back to the device

    def _capture(self, x: torch.Tensor) -> _Captured:
        with torch.inference_mode(), torch.cuda.device(x.device):
            source = x.clone()
            # Warm-up and capture run on a side stream, as CUDA requires for capture; the
            # caller's stream waits for them so ordering is kept.
            caller = torch.cuda.current_stream(x.device)
            side = torch.cuda.Stream(x.device)
            side.wait_stream(caller)
            with torch.cuda.stream(side):
                for _ in range(WARMUP_CALLS):
                    self.network(source)
            caller.wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            # thread_local: the engine's decoder and encoder threads may touch CUDA (event
            # waits, pinned buffers) while this thread captures; only this thread's calls
            # are checked.
            # Captured on `side`, which is on x's device: torch.cuda.graph's own default stream
            # is made once, on whichever device was current then (cuda:0 for --device cuda:1).
            with torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local"):
                result = self.network(source)
        return _Captured(graph, source, result)
