"""DDP on the CPU: two gloo processes train on distinct patches and end with equal weights."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp
from test_train_loop import tiny_config

from vsr.models.checkpoint import read_state_dict
from vsr.train.data import PatchStore, batch_generator
from vsr.train.loop import train


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, tmp_path) -> None:
    # What torchrun would set for each process.
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
    )  # fmt: skip
    model = train(tiny_config(tmp_path, steps=3, out=str(tmp_path / "run")))
    torch.save(model.state_dict(), tmp_path / f"rank{rank}.pt")


@pytest.mark.slow  # two spawned processes: 6 s
def test_two_gloo_ranks_hold_identical_weights(tmp_path) -> None:
    tiny_config(tmp_path)  # writes the dataset once, before the processes start
    # spawn, not fork: after other tests the parent holds threads (OpenMP, Ray, engine
    # workers) and a forked child can deadlock on a lock one of them held.
    mp.start_processes(
        _rank_main, args=(2, _free_port(), tmp_path), nprocs=2, join=True, start_method="spawn"
    )
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key, value in rank0.items():
        assert torch.equal(rank1[key], value), key
    assert (tmp_path / "run" / "last.safetensors").is_file()  # written by rank 0 only
    # The batch is per process: the record says how many there were.
    _, metadata = read_state_dict(tmp_path / "run" / "last.safetensors")
    assert metadata["processes"] == "2" and metadata["batch"] == "4"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["processes"] == 2
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["processes"] == 2
    # The two ranks trained on different patches (their shards differ at every step).
    config = tiny_config(tmp_path)
    store = PatchStore.from_folder(config.train_dir, 2, config.patch // 2)
    for step in range(3):
        a = store.sample(config.batch, batch_generator(config.seed, 0, step))
        b = store.sample(config.batch, batch_generator(config.seed, 1, step))
        assert not torch.equal(a.hr, b.hr)


def _rank_stopped_by_a_signal(rank: int, world: int, port: int, tmp_path) -> None:
    import signal

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
    )  # fmt: skip
    real_sample = PatchStore.sample
    calls = []

    def sample(self, size, generator):  # Ctrl-C reaches rank 1 alone, during step 1
        calls.append(None)
        if rank == 1 and len(calls) == 1:
            signal.raise_signal(signal.SIGINT)
        return real_sample(self, size, generator)

    PatchStore.sample = sample
    try:
        train(tiny_config(tmp_path, steps=6, log_every=2, out=str(tmp_path / "run")))
    except KeyboardInterrupt:
        (tmp_path / f"stopped{rank}").write_text(str(len(calls)))


@pytest.mark.slow  # two processes, 9 s
def test_ranks_agree_to_stop_at_the_same_step(tmp_path) -> None:
    tiny_config(tmp_path)
    mp.start_processes(
        _rank_stopped_by_a_signal,
        args=(2, _free_port(), tmp_path),
        nprocs=2,
        join=True,
        start_method="spawn",
    )
    # Both stopped after step 2, where they next met, and rank 0 saved that step.
    assert (tmp_path / "stopped0").read_text() == (tmp_path / "stopped1").read_text() == "2"
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 2
    assert not (tmp_path / "run" / "last.safetensors").exists()


def _rank_that_diverges(rank: int, world: int, port: int, tmp_path) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
    )  # fmt: skip
    # lr 100 makes the weights NaN by step 2, where rank 0 alone saves (no log row before 100).
    config = tiny_config(tmp_path, lr=100.0, steps=8, log_every=100, save_every=2)
    try:
        train(config)
        outcome = "finished"
    except Exception as error:  # noqa: BLE001 - the outcome is what is compared
        outcome = f"{type(error).__name__}: {error}"
    (tmp_path / f"outcome{rank}").write_text(outcome)


@pytest.mark.slow  # two processes, 8 s
def test_every_rank_stops_a_diverged_run_where_rank_0_does(tmp_path) -> None:
    # Rank 0 checked the weights before its save alone and stopped; rank 1 went on into the
    # next step's gradient exchange, with no one left to answer it (hung, or a gloo error).
    tiny_config(tmp_path)
    context = mp.start_processes(
        _rank_that_diverges,
        args=(2, _free_port(), tmp_path),
        nprocs=2,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + 60
    try:
        while not context.join(timeout=1):
            assert time.monotonic() < deadline, "a rank hung"
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    for rank in (0, 1):
        outcome = (tmp_path / f"outcome{rank}").read_text()
        assert outcome.startswith("VsrError: training diverged by step 2: "), (rank, outcome)
    assert not (tmp_path / "run" / "last.pt").exists()
