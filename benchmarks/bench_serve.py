"""Serving throughput: ``nlu serve`` with dynamic batching against ``--no-batching``.

Two servers run side by side (same models, same machine): one with dynamic batching
(``nlu serve``'s defaults: ``--max-batch-size 64 --max-wait-ms 10 --idle-ms 2 --batch-size 32``),
one with ``--no-batching``,
which runs each request alone (one forward pass per request, one request at a time
per model). ``--clients`` concurrent clients (threads, each with its own keep-alive
connection) each send ``--requests`` requests of one SST-2 sentence, for:

* ``POST /embed``    (the embedded all-MiniLM-L6-v2);
* ``POST /classify`` with zero-shot ``labels`` on the same MiniLM (embedding zero-shot,
  what ``nlu classify --labels`` runs offline), or, with ``--classify-model DIR``, a
  model fine-tuned by ``nlu finetune`` (no labels sent).

Rounds alternate between the two servers (order swapped each round) so that CPU-speed
drift hits both alike; the headline is the median of the per-round ratios. Every
response is checked: status 200, the record for the text that was sent, and the same
label (classify) or a vector with cosine >= 0.9999 (embed) from both servers; any
mismatch, or a server that does not exit 0 on SIGTERM, exits non-zero. Timing includes
HTTP, JSON and the client threads, which share the CPU with the servers: it is what a
caller on the same machine sees.

    python benchmarks/bench_serve.py                         # 16 clients x 40 requests, 3 rounds
    python benchmarks/bench_serve.py --ceiling                # + the model alone: batch 1 vs (packed) passes
    NLU_PACKING=0 python benchmarks/bench_serve.py            # both servers without packing
    python benchmarks/bench_serve.py --threads 1 --endpoints /classify --classify-model /work/models/sst2-minilm
    python benchmarks/bench_serve.py --backend onnx --ceiling   # both servers on ONNX Runtime
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from nlu_toolkit.serve.config import DEFAULT_BATCH_SIZE, DEFAULT_IDLE_MS, DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_WAIT_MS

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SST2 = DATA / "sst2" / "train.tsv"
TARGET = 3.0
LABELS = ["positive", "negative"]
MIN_COSINE = 0.9999


def load_sentences(n: int) -> list[str]:
    if not SST2.is_file():
        sys.exit(f"bench_serve: {SST2} not found; the benchmark reads SST-2 from ../shared/data (see PROVENANCE.md)")
    with open(SST2, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        texts = [row["sentence"].strip() for _, row in zip(range(n), reader, strict=False)]
    return texts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``nlu serve`` as a subprocess on a free loopback port."""

    def __init__(self, name: str, extra: list[str], env: dict[str, str], classify_model: str) -> None:
        self.name, self.port = name, free_port()
        nlu = shutil.which("nlu") or str(Path(sys.executable).with_name("nlu"))
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server; read on failure
        command = [nlu, "serve", "--port", str(self.port), "--task", "embed", "--task", "classify", *extra]
        command += ["--model", f"classify={classify_model}"]
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def wait(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                sys.exit(f"bench_serve: the {self.name} server exited:\n{self.log.read().decode(errors='replace')}")
            try:
                if request(self.port, "GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.5)
        sys.exit(f"bench_serve: the {self.name} server did not start in {timeout:.0f} s")

    def health(self) -> dict:
        return request(self.port, "GET", "/health")[1]

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads) the server has used so far: Linux's /proc."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(60)


def request(port: int, method: str, path: str, body: dict | None = None, conn=None) -> tuple[int, dict]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    out = response.status, json.loads(response.read())
    if own:
        conn.close()
    return out


def load(
    port: int, endpoint: str, texts: list[str], clients: int, per_client: int, labels: list[str] | None
) -> tuple[float, list[list]]:
    """``clients`` threads send ``per_client`` one-text requests each; returns seconds and per-client answers."""
    answers: list[list] = [[] for _ in range(clients)]
    errors: list[str] = []
    start = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start.wait()
        try:
            for k in range(per_client):
                text = texts[(c * per_client + k) % len(texts)]
                body = {"text": text, "labels": labels} if endpoint == "/classify" and labels else {"text": text}
                status, out = request(port, "POST", endpoint, body, conn)
                if status != 200:
                    errors.append(f"{endpoint} answered {status}: {out}")
                    return
                answers[c].append((text, out))
        except Exception as e:  # reported below: the benchmark fails
            errors.append(f"{type(e).__name__}: {e}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    if errors:
        sys.exit(f"bench_serve: FAIL: {errors[0]}")
    return seconds, answers


def check(endpoint: str, batched: list[list], alone: list[list]) -> int:
    """Both servers answered every text with its own record and the same result; returns mismatches."""
    bad = 0
    for ours, peer in zip(batched, alone, strict=True):
        for (text, a), (text_b, b) in zip(ours, peer, strict=True):
            if text != text_b:
                bad += 1
            elif endpoint == "/classify":
                bad += a["text"] != text or b["text"] != text or a["label"] != b["label"]
            else:
                x, y = np.asarray(a["embedding"]), np.asarray(b["embedding"])
                bad += float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y))) < MIN_COSINE
    return bad


def ceiling(texts: list[str], group: int, batch_size: int, threads: int | None, backend: str = "torch") -> None:
    """What batching can gain inside the model alone: the same texts in groups of ``group`` (what
    ``group`` concurrent clients make), one forward per text vs passes of up to ``batch_size``
    (packed on the CPU unless NLU_PACKING=0)."""
    import torch

    from nlu_toolkit.engine.packing import enabled
    from nlu_toolkit.tasks.embed import Embedder

    if threads:
        torch.set_num_threads(threads)
    groups = [texts[i : i + group] for i in range(0, len(texts), group)]
    rates = {}
    for size in (1, batch_size):
        embedder = Embedder(None, batch_size=size, runtime=backend)
        embedder.encode(groups[0])
        start = time.perf_counter()
        for chunk in groups:
            embedder.encode(chunk)
        rates[size] = len(texts) / (time.perf_counter() - start)
    passes = "packed passes" if enabled() and backend == "torch" else "sorted padded passes"
    print(
        f"model only (Embedder.encode in this process, torch threads {torch.get_num_threads()}): groups of {group}, "
        f"one text per forward {rates[1]:.1f} texts/s, {passes} of up to {batch_size} {rates[batch_size]:.1f} "
        f"texts/s: {rates[batch_size] / rates[1]:.2f}x is what batching can gain in the model"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--requests", type=int, default=40, help="requests per client per round (default 40)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per endpoint and server (default 3)")
    parser.add_argument("--max-batch-size", type=int, default=DEFAULT_MAX_BATCH_SIZE)
    parser.add_argument("--max-wait-ms", type=float, default=DEFAULT_MAX_WAIT_MS)
    parser.add_argument("--idle-ms", type=float, default=DEFAULT_IDLE_MS)
    parser.add_argument("--endpoints", default="/embed,/classify")
    parser.add_argument(
        "--classify-model",
        default="embedded",
        help="classify with this fine-tuned model folder (no labels sent); default: zero-shot on the embedded MiniLM",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads of each server (default: all cores)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="the batching server's --batch-size")
    parser.add_argument("--ceiling", action="store_true", help="also time the model alone: batch 1 vs --batch-size")
    parser.add_argument("--backend", default="torch", help="both servers' --backend (torch, onnx)")
    args = parser.parse_args()
    labels = LABELS if args.classify_model == "embedded" else None

    texts = load_sentences(args.clients * args.requests)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    import torch

    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, cpus {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"data: {len(texts)} SST-2 train sentences, one per request")
    from nlu_toolkit.engine.packing import enabled

    print(
        f"batching server: --max-batch-size {args.max_batch_size} --max-wait-ms {args.max_wait_ms:g} "
        f"--idle-ms {args.idle_ms:g} --batch-size {args.batch_size}; packing {'on' if enabled() else 'off'}"
    )
    common = ["--threads", str(args.threads)] if args.threads else []
    common += ["--backend", args.backend]
    batching = ["--max-batch-size", str(args.max_batch_size), "--max-wait-ms", str(args.max_wait_ms)]
    batching += ["--idle-ms", str(args.idle_ms)]
    batching += ["--batch-size", str(args.batch_size)]
    batched = Server("batching", [*common, *batching], env, args.classify_model)
    alone = Server("no-batching", [*common, "--no-batching"], env, args.classify_model)
    what = "zero-shot labels on the embedded MiniLM" if labels else f"the fine-tuned model {args.classify_model}"
    print(f"/classify: {what}; threads per server: {args.threads or 'default (one per core)'}; backend {args.backend}")
    failures = 0
    try:
        batched.wait()
        alone.wait()
        servers = [batched, alone]
        n = args.clients * args.requests
        for endpoint in args.endpoints.split(","):
            for server in servers:  # warm-up: first calls pay for lazy initialisation
                load(server.port, endpoint, texts, 4, 4, labels)
            seconds: dict[str, list[float]] = {s.name: [] for s in servers}
            cpu: dict[str, float] = dict.fromkeys(seconds, 0.0)
            answers: dict[str, list] = {}
            for r in range(args.rounds):
                for server in servers if r % 2 == 0 else servers[::-1]:
                    before = server.cpu_seconds()
                    t, out = load(server.port, endpoint, texts, args.clients, args.requests, labels)
                    cpu[server.name] += server.cpu_seconds() - before
                    seconds[server.name].append(t)
                    answers[server.name] = out
            mismatches = check(endpoint, answers["batching"], answers["no-batching"])
            failures += mismatches
            ratios = [a / b for a, b in zip(seconds["no-batching"], seconds["batching"], strict=True)]
            ratio = statistics.median(ratios)
            for server in servers:
                rates = [n / t for t in seconds[server.name]]
                # CPU time per request shrugs off other jobs on the machine better than wall time does.
                per_request = 1000 * cpu[server.name] / (n * args.rounds)
                print(
                    f"{endpoint:10s} {server.name:12s} median {statistics.median(rates):7.1f} req/s  "
                    f"(rounds: {', '.join(f'{x:.1f}' for x in rates)}); server CPU {per_request:.2f} ms/request"
                )
            workers = batched.health()["workers"]
            stats = ", ".join(
                f"{w['mean_batch']:.1f} items/batch (largest {w['largest_batch']})"
                for w in workers.values()
                if w["items"]
            )
            verdict = "met" if ratio >= TARGET else "MISSED"
            print(
                f"{endpoint:10s} ratio batching / no-batching: {ratio:.2f}x median of {len(ratios)} rounds "
                f"(target >= {TARGET:.0f}x: {verdict}); batching server so far: {stats}; "
                f"{mismatches} mismatched answers of {n}"
            )
    finally:
        codes = [batched.stop(), alone.stop()]
    print(f"both servers stopped on SIGTERM with exit codes {codes}")
    if args.ceiling:
        ceiling(texts, args.clients, args.batch_size, args.threads, args.backend)
    failures += sum(c != 0 for c in codes)
    if failures:
        print(f"FAIL: {failures} mismatched answers or bad exit codes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
