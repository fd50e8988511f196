"""DDP on the CPU: two gloo processes train on distinct patches and end with equal weights."""

from __future__ import annotations

import functools
import json
import os
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp
from test_train_loop import tiny_config
from test_train_time_left_out import STEP_S, Clock

import vsr.train.budget as budget
import vsr.train.loop as loop
from vsr.models.checkpoint import read_state_dict
from vsr.train.data import PatchStore, batch_generator
from vsr.train.distributed import torchrun_place
from vsr.train.loop import train


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_two_ranks_or_fail_if_one_hangs(rank_main, tmp_path) -> None:
    """Two spawned ranks of `rank_main`, killed and failed after 60 s: the tests that use
    it are of a rank left waiting for another, which must not hang the suite."""
    context = mp.start_processes(
        rank_main, args=(2, _free_port(), tmp_path), nprocs=2, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + 60
    try:
        while not context.join(timeout=1):
            assert time.monotonic() < deadline, "a rank hung"
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()


def _join_as_rank(rank: int, world: int, port: int) -> None:
    """Set what torchrun would set for this process."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
    )  # fmt: skip


def _write_outcome(tmp_path, rank: int, run) -> None:
    """Call `run` and write how it ended, "finished" or its error, for the test to compare."""
    try:
        run()
        outcome = "finished"
    except Exception as error:  # noqa: BLE001 - the outcome is what is compared
        outcome = f"{type(error).__name__}: {error}"
    (tmp_path / f"outcome{rank}").write_text(outcome)


def _rank_main(rank: int, world: int, port: int, tmp_path) -> None:
    _join_as_rank(rank, world, port)
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

    _join_as_rank(rank, world, port)
    real_sample = PatchStore.sample
    calls = []

    def sample(self, size, generator):  # Ctrl-C reaches rank 1 alone, during step 1
        calls.append(None)
        if rank == 1 and len(calls) == 1:
            signal.raise_signal(signal.SIGINT)
        return real_sample(self, size, generator)

    PatchStore.sample = sample
    try:
        train(tiny_config(tmp_path, steps=6, log_every=100, out=str(tmp_path / "run")))
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
    # Both stopped after step 1, and rank 0 saved that step. They agreed only at log rows
    # (here none before the end), and torchrun kills its workers 30 s after passing them
    # Ctrl-C: with the default 50 steps between rows, last.pt was never written.
    assert (tmp_path / "stopped0").read_text() == (tmp_path / "stopped1").read_text() == "1"
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 1
    assert not (tmp_path / "run" / "last.safetensors").exists()


def _rank_that_diverges(rank: int, world: int, port: int, tmp_path) -> None:
    _join_as_rank(rank, world, port)
    # lr 100 makes the weights NaN by step 2, where rank 0 alone saves (no log row before 100).
    config = tiny_config(tmp_path, lr=100.0, steps=8, log_every=100, save_every=2)
    _write_outcome(tmp_path, rank, lambda: train(config))


@pytest.mark.slow  # two processes, 8 s
def test_every_rank_stops_a_diverged_run_where_rank_0_does(tmp_path) -> None:
    # Rank 0 checked the weights before its save alone and stopped; rank 1 went on into the
    # next step's gradient exchange, with no one left to answer it (hung, or a gloo error).
    tiny_config(tmp_path)
    _run_two_ranks_or_fail_if_one_hangs(_rank_that_diverges, tmp_path)
    for rank in (0, 1):
        outcome = (tmp_path / f"outcome{rank}").read_text()
        assert outcome.startswith("VsrError: training diverged by step 2: "), (rank, outcome)
    assert not (tmp_path / "run" / "last.pt").exists()


def _rank_on_a_moved_clock(rank: int, world: int, port: int, tmp_path) -> None:
    _join_as_rank(rank, world, port)
    clock = Clock()
    time.perf_counter = clock
    budget.WARMUP_STEPS, budget.MEASURE_STEPS = 2, 4  # steps 3 to 6 are measured
    real_sample = PatchStore.sample
    samples = []

    def one_step_s_batch(self, size, generator):
        samples.append(None)
        # Rank 0 validates for 0.5 s after step 4; rank 1 waits for it at step 5's gradient
        # exchange, so its clock counts that time as the step's.
        clock.advance(STEP_S + (0.5 if rank == 1 and len(samples) == 5 else 0.0))
        return real_sample(self, size, generator)

    class Validator:  # rank 0's alone: 0.5 s the first time, then at once and no better
        def __init__(self, folder, scale) -> None:
            self.calls = 0

        def __call__(self, model, device) -> tuple[float, float]:
            self.calls += 1
            clock.advance(0.5 if self.calls == 1 else 0.0)
            return (21.0 if self.calls == 1 else 20.0), 0.5

    PatchStore.sample = one_step_s_batch
    loop.Validator = Validator
    config = tiny_config(
        tmp_path, steps=1_000_000, minutes=2.005 / 60, log_every=10, val_every=4,
        val_dir=str(tmp_path), out=str(tmp_path / "run"),
    )  # fmt: skip
    loop.train(config)


@pytest.mark.slow  # two processes, about 100 steps: 10 s
def test_ranks_fit_a_time_budget_with_the_time_rank_0_left_out_and_kept(tmp_path) -> None:
    # Rank 0 alone validates and saves, and leaves that time out of the budget's speed and
    # keeps the final validation's; the ranks settled on the mean of their totals, and rank
    # 1, which waits for rank 0's validations at its next step, counted them as its steps'
    # time: with a 0.5 s validation among 4 measured steps of 10 ms, rank 0 measured 100
    # steps/s and fitted 100 steps into 2 s, rank 1 measured 7.4, and the run trained 58.
    tiny_config(tmp_path)
    mp.start_processes(
        _rank_on_a_moved_clock,
        args=(2, _free_port(), tmp_path),
        nprocs=2,
        join=True,
        start_method="spawn",
    )
    _, metadata = read_state_dict(tmp_path / "run" / "last.safetensors")
    # As one process trains: at step 6, 0.56 s in, 0.945 s left for steps once 0.5 s is
    # kept for the final validation.
    assert metadata["steps"] == metadata["steps_total"] == "100"
    assert metadata["measured_steps_per_s"] == "100.000"


def _rank_on_its_own_disk(rank: int, world: int, port: int, tmp_path) -> None:
    _join_as_rank(rank, world, port)
    # --out on a per-node disk: the same path names rank 0's folder (an earlier run's
    # config.json) and rank 1's (empty); two folders stand for the two disks.
    config = tiny_config(tmp_path, steps=2, out=str(tmp_path / f"node{rank}"))
    _write_outcome(tmp_path, rank, lambda: train(config))


@pytest.mark.slow  # two processes, 6 s
def test_every_rank_refuses_the_out_folder_rank_0_refuses(tmp_path) -> None:
    # Rank 0 alone refused its folder while rank 1 went on to the barrier after the check,
    # where no one came (hung, or a gloo error): both now refuse, with rank 0's reason.
    tiny_config(tmp_path)
    (tmp_path / "node0").mkdir()
    (tmp_path / "node0" / "config.json").write_text('{"name": "an earlier run"}')
    _run_two_ranks_or_fail_if_one_hangs(_rank_on_its_own_disk, tmp_path)
    refusal = f"VsrError: {tmp_path / 'node0'} already holds config.json, which a new run"
    for rank in (0, 1):
        outcome = (tmp_path / f"outcome{rank}").read_text()
        assert outcome.startswith(refusal), (rank, outcome)
    assert not (tmp_path / "node1" / "config.json").exists()


def _rank_whose_save_fails(which: str, rank: int, world: int, port: int, tmp_path) -> None:
    _join_as_rank(rank, world, port)
    real_save_weights = loop.save_weights

    def save_weights(model, path, metadata=None):  # rank 0's disk is full by the end
        if path.name == "last.safetensors":
            raise OSError(28, "No space left on device")
        real_save_weights(model, path, metadata)

    def save_checkpoint(path, state):  # rank 0's disk fills before the run's end
        raise OSError(28, "No space left on device")

    if which == "the final weights":
        loop.save_weights = save_weights
    else:
        loop.save_checkpoint = save_checkpoint
    config = tiny_config(tmp_path, steps=4, save_every=2, out=str(tmp_path / "run"))
    _write_outcome(tmp_path, rank, lambda: train(config))


@pytest.mark.slow  # two processes, 6 s
@pytest.mark.parametrize("which", ["the final weights", "a checkpoint mid-run"])
def test_every_rank_ends_with_rank_0s_error_when_a_save_fails(tmp_path, which) -> None:
    # Rank 0 failed to write (a full disk) and left the run. Rank 1 waited for it for ever at
    # the barrier after the final saves; or, when last.pt failed at step 2 of 4, it went on
    # into step 3's gradient exchange with no one to answer it ("Connection closed by peer"
    # on gloo, NCCL's timeout on a GPU).
    tiny_config(tmp_path)
    _run_two_ranks_or_fail_if_one_hangs(functools.partial(_rank_whose_save_fails, which), tmp_path)
    assert (tmp_path / "outcome0").read_text() == "OSError: [Errno 28] No space left on device"
    assert (tmp_path / "outcome1").read_text() == (
        "VsrError: rank 0 failed, so this rank stops too: "
        "OSError: [Errno 28] No space left on device"
    )


def _rank_resuming_from_its_own_disk(rank: int, world: int, port: int, tmp_path) -> None:
    _join_as_rank(rank, world, port)

    def resume() -> None:
        model = train(tiny_config(tmp_path, steps=4, out=str(tmp_path / f"node{rank}")), True)
        torch.save(model.state_dict(), tmp_path / f"rank{rank}.pt")

    _write_outcome(tmp_path, rank, resume)


@pytest.mark.slow  # two processes, 6 s
@pytest.mark.parametrize("where", ["rank 0's disk", "rank 1's disk", "both, finished"])
def test_ranks_resume_from_rank_0s_checkpoint_or_refuse_together(tmp_path, where) -> None:
    # --out on per-node disks, where rank 0 alone writes: each rank read its own last.pt, and
    # one that found none (or, of a finished run, no final weights) failed or went on alone
    # while the other waited for it (hung, or a gloo error).
    node0, node1 = tmp_path / "node0", tmp_path / "node1"
    if where == "both, finished":
        loop.train(tiny_config(tmp_path, steps=4, out=str(node0)))
        node1.mkdir()
        (node1 / "last.pt").write_bytes((node0 / "last.pt").read_bytes())  # not its weights
    else:
        loop.train(tiny_config(tmp_path, steps=2, out=str(node0 if "0" in where else node1)))
    _run_two_ranks_or_fail_if_one_hangs(_rank_resuming_from_its_own_disk, tmp_path)
    outcomes = [(tmp_path / f"outcome{rank}").read_text() for rank in (0, 1)]
    if where == "rank 0's disk":
        assert outcomes == ["finished", "finished"]
        rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
        rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
        assert all(torch.equal(rank1[key], value) for key, value in rank0.items())
        assert read_state_dict(node0 / "last.safetensors")[1]["steps"] == "4"
    elif where == "rank 1's disk":
        missing = f"nothing to resume: {node0 / 'last.pt'} not found"
        assert outcomes == [
            f"VsrError: {missing}",
            f"VsrError: rank 0 failed, so this rank stops too: {missing}",
        ]
    else:
        for rank, outcome in enumerate(outcomes):
            assert outcome.startswith(
                f"VsrError: the run in {tmp_path / f'node{rank}'} is already at step 4 "
            ), (rank, outcome)


@pytest.mark.parametrize(
    ("variables", "place"),
    [
        # One node, torchrun's LOCAL_RANK left out: the rank picks the GPU, not GPU 0 for all.
        ({"WORLD_SIZE": "2", "RANK": "1"}, (1, 2, 1)),
        # The second of two nodes of two GPUs each: rank 3 is that node's second GPU.
        ({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}, (3, 4, 1)),
        # A RANK without WORLD_SIZE means nothing: the run is alone.
        ({"RANK": "1", "LOCAL_RANK": "1"}, (0, 1, 0)),
    ],
)
def test_each_process_takes_the_place_torchrun_names(monkeypatch, variables, place) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    found = torchrun_place()
    assert (found.rank, found.world, found.local_rank) == place
