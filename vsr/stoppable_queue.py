"""Blocking queue calls that give up once a stop flag is set.

The engine's stages and the parallel writer's encoder workers hand work to each other
through bounded queues. A thread blocked on a full or empty queue would never notice that
another stage failed or that the user pressed Ctrl-C, so every wait is cut into short
polls that look at the flag in between.
"""

from __future__ import annotations

import queue
import threading

POLL_S = 0.05  # how often a waiting thread looks at the stop flag


class Stopped(Exception):
    """Raised in a thread waiting on a queue when its stop flag is set."""


def put_unless_stopped(q: queue.Queue, item: object, stop: threading.Event) -> None:
    """`q.put(item)`, or Stopped as soon as `stop` is set while the queue is full."""
    while True:
        if stop.is_set():
            raise Stopped
        try:
            q.put(item, timeout=POLL_S)
            return
        except queue.Full:
            continue


def get_unless_stopped(q: queue.Queue, stop: threading.Event) -> object:
    """`q.get()`, or Stopped as soon as `stop` is set while the queue is empty."""
    while True:
        if stop.is_set():
            raise Stopped
        try:
            return q.get(timeout=POLL_S)
        except queue.Empty:
            continue
