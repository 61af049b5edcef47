"""`nlu_toolkit.train.launch`: the process's rank and world size, and the refusal of a launch that asked
for N processes but started one (accelerate's plain launcher). The real launches are in
tests/integration/test_finetune_distributed.py; these cover the environments a launcher leaves."""

from __future__ import annotations

import pytest

from nlu_toolkit.errors import UsageError
from nlu_toolkit.train.launch import check_launch, is_main_process, process_rank, world_size

LAUNCHER_VARS = (
    "ACCELERATE_USE_CPU",
    "MASTER_ADDR",
    "MASTER_PORT",
    "RANK",
    "WORLD_SIZE",
    "PMI_RANK",
    "PMI_SIZE",
    "OMPI_COMM_WORLD_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "MV2_COMM_WORLD_RANK",
    "MV2_COMM_WORLD_SIZE",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in LAUNCHER_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_launcher_is_one_main_process(env):
    check_launch()
    assert (world_size(), process_rank(), is_main_process()) == (1, 0, True)


def test_plain_accelerate_launcher_asked_for_several_processes_is_refused(env):
    # What `accelerate launch --cpu --num_processes 2` exports to the one process it starts.
    env.setenv("ACCELERATE_USE_CPU", "True")
    env.setenv("MASTER_ADDR", "127.0.0.1")
    env.setenv("MASTER_PORT", "29500")
    with pytest.raises(UsageError) as caught:
        check_launch()
    text = str(caught.value)
    assert "started 1 process" in text and "WORLD_SIZE is unset" in text
    assert "accelerate launch --multi_gpu --num_processes N" in text and "torchrun --nproc_per_node N" in text


def test_plain_accelerate_launcher_with_one_process_runs(env):
    env.setenv("ACCELERATE_USE_CPU", "False")  # `accelerate launch` alone: no MASTER_ADDR for one process
    check_launch()


@pytest.mark.parametrize(
    ("rank", "size"),
    [("RANK", "WORLD_SIZE"), ("PMI_RANK", "PMI_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE")],
)
def test_launchers_that_start_every_process_pass_and_name_the_rank(env, rank, size):
    env.setenv("ACCELERATE_USE_CPU", "True")
    env.setenv("MASTER_ADDR", "127.0.0.1")
    env.setenv(rank, "1")
    env.setenv(size, "2")
    check_launch()
    assert (world_size(), process_rank(), is_main_process()) == (2, 1, False)
