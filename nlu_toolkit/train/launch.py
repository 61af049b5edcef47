"""Which process of a launch this is, and a refusal of launches that asked for N processes but started one.

A run across processes is started by a launcher that sets the rank and world size of each process:
``torchrun`` (``RANK``, ``WORLD_SIZE``), ``accelerate launch --multi_gpu`` (torchrun underneath; on a
machine without GPUs its processes talk over gloo) or ``mpirun`` (``OMPI_COMM_WORLD_*``, ``PMI_*``).
``accelerate launch --num_processes N`` *without* ``--multi_gpu``, on a machine with fewer than two
GPUs (``--cpu`` included), uses accelerate's plain launcher instead: it exports ``MASTER_ADDR`` for N
processes, but starts this one alone, which would train the whole data set on its own and exit 0
(accelerate 1.x, ``accelerate/utils/launch.py: prepare_simple_launcher_cmd_env``). `check_launch`
refuses that before any work.
"""

from __future__ import annotations

import os

from nlu_toolkit.errors import UsageError

# The variables a launcher sets, in the order accelerate's PartialState reads them.
_WORLD = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_RANK = ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")

#: The launch lines that start N processes, named in the refusal (and in the README).
LAUNCH_LINES = (
    "accelerate launch --multi_gpu --num_processes N -m nlu_toolkit finetune ...",
    "torchrun --nproc_per_node N -m nlu_toolkit finetune ...",
)


def _first_int(names: tuple[str, ...]) -> int | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                continue
    return None


def world_size() -> int:
    """How many processes this run has (1 when no launcher set a world size)."""
    return max(1, _first_int(_WORLD) or 1)


def process_rank() -> int:
    """This process's global rank (0 when no launcher set one)."""
    return _first_int(_RANK) or 0


def is_main_process() -> bool:
    """True for the process that writes the output folder (global rank 0)."""
    return process_rank() == 0


def check_launch() -> None:
    """Refuse a run that accelerate's plain launcher started alone although it was asked for several processes.

    The plain launcher marks the environment with ``ACCELERATE_USE_CPU`` and, for more than one process
    (or machine), ``MASTER_ADDR``; a launcher that really starts the processes also sets a world size.
    """
    asked_for_many = "ACCELERATE_USE_CPU" in os.environ and "MASTER_ADDR" in os.environ
    if asked_for_many and _first_int(_WORLD) is None:
        raise UsageError(
            "accelerate launch started 1 process although --num_processes asked for more: without --multi_gpu, "
            "on a machine with fewer than 2 GPUs (or with --cpu), its plain launcher runs the script once "
            "(WORLD_SIZE is unset), and this run would train alone",
            f"launch with `{LAUNCH_LINES[0]}` (gloo on CPUs) or `{LAUNCH_LINES[1]}`, "
            "or drop --num_processes for a single process",
        )
