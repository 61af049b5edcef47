"""The header every benchmark prints: machine, library versions, load, and the command that ran."""

from __future__ import annotations

import os
import platform
import sys


def print_machine(threads: int | None = None) -> None:
    """Set torch's CPU threads (when given), then print the machine line and the command line."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    print(
        f"machine: {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"command: python {' '.join(sys.argv)}")
