"""Start-up time: ``nlu --help`` against ``python -c "import transformers"``.

Each command runs as a fresh subprocess ``--runs`` times (default 7, after one
untimed warm-up run each, so both see a warm disk cache); the medians and their
ratio are printed. A ratio below 1 means ``nlu --help`` starts faster than a
bare ``import transformers``.

    python benchmarks/bench_startup.py
    python benchmarks/bench_startup.py --runs 11
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall_times(command: list[str], runs: int) -> list[float]:
    subprocess.run(command, check=True, capture_output=True)  # warm-up, untimed
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (default 7)")
    args = parser.parse_args()

    nlu = shutil.which("nlu") or str(Path(sys.executable).with_name("nlu"))
    if not Path(nlu).exists():
        sys.exit("bench_startup: the nlu command is not installed; run pip install -e . first")
    ours_cmd = [nlu, "--help"]
    peer_cmd = [sys.executable, "-c", "import transformers"]

    ours = wall_times(ours_cmd, args.runs)
    peer = wall_times(peer_cmd, args.runs)
    ours_med, peer_med = statistics.median(ours), statistics.median(peer)
    print(f"runs: {args.runs} each (median), after one untimed warm-up run")
    print(f"ours  nlu --help:                        median {ours_med * 1000:7.1f} ms  (min {min(ours) * 1000:.1f})")
    print(f"peer  python -c 'import transformers':   median {peer_med * 1000:7.1f} ms  (min {min(peer) * 1000:.1f})")
    ratio = ours_med / peer_med
    print(f"ratio nlu --help / import transformers: {ratio:.2f}x (nlu --help starts {1 / ratio:.1f}x as fast)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
