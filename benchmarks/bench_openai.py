"""``POST /v1/embeddings`` (the ``openai`` client) against the native ``POST /embed``, on one ``nlu serve``.

One server (``nlu serve --task embed``, the embedded all-MiniLM-L6-v2 unless ``--model``) as a
subprocess on a free loopback port. ``--clients`` threads (default 16) each send ``--n`` requests
of ``--texts-per-request`` SST-2 sentences (default 1; the first sentences of
``../shared/data/sst2/train.tsv``, or generated sentences when it is absent), the same texts in the
same order on both routes:

* native: a plain HTTP client (``http.client``, one keep-alive connection per thread) posting
  ``{"text": ...}`` (or ``{"texts": [...]}``) with ``"normalize": true`` to ``/embed``;
* OpenAI: one ``openai.OpenAI(base_url=.../v1)`` client per thread calling
  ``client.embeddings.create(input=..., model=...)`` (the client's default encoding, base64, unless
  ``--encoding float``), and reading the vectors back as the client parses them.

Both run unit-length vectors on the same worker, so the work per text is the same; what differs
is the route, the answer's encoding and the client. Rounds alternate the order (``--rounds``,
default 3); the headline is the median of the per-round ratios (OpenAI / native requests/s;
goal >= 0.9). Every answer is checked: the vector of each text from both routes agrees (cosine >=
0.9999), or the script exits non-zero. Clients and server share the machine's CPUs, so each route's
CPU time per request is reported too, split into the clients' (this process) and the server's:
the ``openai`` client's own work (httpx, its models) is paid from the CPUs the server runs on.

``--split-cpus`` puts the server on half the CPUs and the clients on the other half, so the
clients' CPU time is no longer taken from the server's (the default shares them all).
``--plain-v1`` adds a diagnostic route, not in the headline: ``/v1/embeddings`` posted with the
native side's ``http.client`` (base64 decoded as the ``openai`` client decodes it), which tells the
route's server-side cost apart from the ``openai`` client's.

    python benchmarks/bench_openai.py                         # 16 clients x 40 requests x 3 rounds
    python benchmarks/bench_openai.py --n 2 --rounds 1        # a dry run
    python benchmarks/bench_openai.py --texts-per-request 8 --encoding float
    python benchmarks/bench_openai.py --plain-v1              # also /v1/embeddings from http.client
"""

from __future__ import annotations

import argparse
import base64
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
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SST2 = ROOT.parent / "shared" / "data" / "sst2" / "train.tsv"
MIN_COSINE = 0.9999
#: The diagnostic route of ``--plain-v1``.
PLAIN = "http.client /v1/embeddings"
TARGET = 0.9


def load_sentences(n: int) -> list[str]:
    if not SST2.is_file():
        print(f"bench_openai: {SST2} not found; generated sentences instead", file=sys.stderr)
        return [f"sentence number {i} says something about film {i % 37}" for i in range(n)]
    with open(SST2, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [row["sentence"].strip() for _, row in zip(range(n), reader, strict=False)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    model: str, threads: int | None, extra: list[str] | None = None, cpus: set[int] | None = None
) -> tuple[subprocess.Popen, int, Any]:
    port = free_port()
    nlu = shutil.which("nlu") or str(Path(sys.executable).with_name("nlu"))
    command = [nlu, "serve", "--port", str(port), "--task", "embed", "--model", f"embed={model}"]
    if threads:
        command += ["--threads", str(threads)]
    command += extra or []
    log = tempfile.TemporaryFile()  # noqa: SIM115 - read if the server fails
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pin)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            sys.exit(f"bench_openai: the server exited:\n{log.read().decode(errors='replace')}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return proc, port, log
        except OSError:
            time.sleep(0.5)
    sys.exit("bench_openai: the server did not start in 600 s")


def requests_for(texts: list[str], clients: int, n: int, per_request: int) -> list[list[list[str]]]:
    """Per client, its ``n`` requests, each a list of ``per_request`` texts (the same for both routes)."""
    out, k = [], 0
    for _ in range(clients):
        mine = []
        for _ in range(n):
            mine.append([texts[(k + j) % len(texts)] for j in range(per_request)])
            k += per_request
        out.append(mine)
    return out


def native_client(port: int) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(batch: list[str]) -> list[list[float]]:
        body = {"text": batch[0]} if len(batch) == 1 else {"texts": batch}
        conn.request("POST", "/embed", body=json.dumps({**body, "normalize": True}).encode())
        response = conn.getresponse()
        out = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"/embed answered {response.status}: {out}")
        return [out["embedding"]] if len(batch) == 1 else [r["embedding"] for r in out]

    return call, conn.close


def openai_client(port: int, model: str, encoding: str | None) -> Any:
    import openai

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=120)
    extra = {} if encoding is None else {"encoding_format": encoding}

    def call(batch: list[str]) -> list[list[float]]:
        got = client.embeddings.create(input=batch[0] if len(batch) == 1 else batch, model=model, **extra)
        return [d.embedding for d in got.data]

    return call, client.close


def plain_v1_client(port: int, model: str, encoding: str | None) -> Any:
    """``/v1/embeddings`` from ``http.client`` (as the native side posts), decoded as the openai client decodes."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    fmt = encoding or "base64"

    def call(batch: list[str]) -> list[list[float]]:
        body = {"input": batch[0] if len(batch) == 1 else batch, "model": model, "encoding_format": fmt}
        conn.request("POST", "/v1/embeddings", body=json.dumps(body).encode(), headers=JSON_HEADERS)
        response = conn.getresponse()
        out = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"/v1/embeddings answered {response.status}: {out}")
        if fmt == "float":
            return [d["embedding"] for d in out["data"]]
        return [np.frombuffer(base64.b64decode(d["embedding"]), dtype="float32").tolist() for d in out["data"]]

    return call, conn.close


JSON_HEADERS = {"Content-Type": "application/json"}


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` used so far; NaN where /proc is not there."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batch_totals(port: int) -> tuple[float, float]:
    """The server's ``nlu_batch_size`` sum and count for ``embed`` (from ``/metrics``); NaN if not there."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    found = {}
    for line in text.splitlines():
        for part in ("sum", "count"):
            if line.startswith(f'nlu_batch_size_{part}{{task="embed"}} '):
                found[part] = float(line.rsplit(" ", 1)[1])
    return found.get("sum", float("nan")), found.get("count", float("nan"))


def run(make: Any, work: list[list[list[str]]]) -> tuple[float, list[list[list[list[float]]]]]:
    """Every client thread runs its requests; returns the seconds and the vectors per client and request."""
    answers: list[list[Any]] = [[] for _ in work]
    errors: list[str] = []
    barrier = threading.Barrier(len(work) + 1)

    def client(c: int) -> None:
        call, close = make()
        barrier.wait()
        try:
            for batch in work[c]:
                answers[c].append(call(batch))
        except Exception as e:  # reported below: the benchmark fails
            errors.append(f"{type(e).__name__}: {e}")
        finally:
            close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(len(work))]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        sys.exit(f"bench_openai: {len(errors)} client(s) failed, e.g. {errors[0]}")
    return seconds, answers


def check(native: list[Any], compatible: list[Any]) -> float:
    a = np.array([v for client in native for request in client for v in request], dtype=np.float32)
    b = np.array([v for client in compatible for request in client for v in request], dtype=np.float32)
    if a.shape != b.shape:
        sys.exit(f"bench_openai: {a.shape} native vectors but {b.shape} from /v1/embeddings")
    cosines = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    worst = float(cosines.min())
    if worst < MIN_COSINE:
        sys.exit(f"bench_openai: the routes disagree: worst cosine {worst:.6f} < {MIN_COSINE}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded", help="the embedding model served (default: embedded)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--n", type=int, default=40, help="requests per client, per route and round")
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--encoding", choices=["float", "base64"], default=None, help="default: the client's (base64)")
    parser.add_argument("--threads", type=int, default=None, help="the server's --threads")
    parser.add_argument("--max-wait-ms", type=float, default=None, help="the server's --max-wait-ms (default: its own)")
    parser.add_argument("--idle-ms", type=float, default=None, help="the server's --idle-ms (default: its own)")
    parser.add_argument(
        "--split-cpus", action="store_true",
        help="the server and the clients on separate halves of the CPUs (Linux; default: shared)",
    )  # fmt: skip
    parser.add_argument(
        "--plain-v1", action="store_true", help="also /v1/embeddings from http.client (diagnostic, not the headline)"
    )
    args = parser.parse_args()

    per_request = args.texts_per_request
    texts = load_sentences(max(1000, args.clients * args.n * per_request))
    work = requests_for(texts, args.clients, args.n, per_request)
    batching = [f for flag, v in (("--max-wait-ms", args.max_wait_ms), ("--idle-ms", args.idle_ms)) if v is not None
                for f in (flag, str(v))]  # fmt: skip
    server_cpus = None
    if args.split_cpus:  # the server on the first half of this process's CPUs, the clients on the rest
        mine = sorted(os.sched_getaffinity(0))
        if len(mine) < 2:
            sys.exit("bench_openai: --split-cpus needs at least 2 CPUs")
        server_cpus = set(mine[: len(mine) // 2])
        os.sched_setaffinity(0, set(mine) - server_cpus)
        print(f"server on CPUs {sorted(server_cpus)}, clients on {sorted(set(mine) - server_cpus)}")
    proc, port, log = start_server(args.model, args.threads, batching, server_cpus)
    try:
        import openai

        model = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused").models.list().data[0].id
        routes = {
            "native /embed": lambda: native_client(port),
            "openai /v1/embeddings": lambda: openai_client(port, model, args.encoding),
        }
        if args.plain_v1:
            routes[PLAIN] = lambda: plain_v1_client(port, model, args.encoding)
        warm = [[batch] for batch in work[0][:4]]
        for make in routes.values():
            run(make, warm)
        requests_n = args.clients * args.n
        print(f"model {model}; {args.clients} clients x {args.n} requests x {per_request} texts; "
              f"encoding {args.encoding or 'base64 (client default)'}")  # fmt: skip
        ratios: list[float] = []
        rates: dict[str, list[float]] = {name: [] for name in routes}
        cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in routes}  # ms per request: clients, server
        batch: dict[str, list[float]] = {name: [] for name in routes}  # mean items per worker batch
        for r in range(args.rounds):
            order = list(routes) if r % 2 == 0 else list(reversed(routes))
            answers, speed = {}, {}
            for name in order:
                items0, batches0 = batch_totals(port)
                client0, server0 = time.process_time(), cpu_seconds(proc.pid)
                seconds, answers[name] = run(routes[name], work)
                client1, server1 = time.process_time(), cpu_seconds(proc.pid)
                items1, batches1 = batch_totals(port)
                batch[name].append((items1 - items0) / max(batches1 - batches0, 1))
                cpu[name].append(((client1 - client0) * 1000 / requests_n, (server1 - server0) * 1000 / requests_n))
                speed[name] = requests_n / seconds
                rates[name].append(speed[name])
            worst = check(answers["native /embed"], answers["openai /v1/embeddings"])
            if PLAIN in answers:
                worst = min(worst, check(answers["native /embed"], answers[PLAIN]))
            ratio = speed["openai /v1/embeddings"] / speed["native /embed"]
            ratios.append(ratio)
            line = "  ".join(f"{name}: {speed[name]:.1f} req/s" for name in routes)
            print(f"round {r + 1}: {line}  ratio {ratio:.3f}  (worst cosine {worst:.6f})")
        for name in routes:
            median = statistics.median(rates[name])
            client = statistics.median(c for c, _ in cpu[name])
            server = statistics.median(s for _, s in cpu[name])
            print(f"{name:24s} {median:8.1f} requests/s {median * per_request:8.1f} texts/s (median of {args.rounds}); "
                  f"CPU ms/request: clients {client:.2f}, server {server:.2f}; "
                  f"texts/batch {statistics.median(batch[name]):.1f}")  # fmt: skip
        if PLAIN in routes:
            plain = statistics.median(a / b for a, b in zip(rates[PLAIN], rates["native /embed"], strict=True))
            print(f"ratio {PLAIN} / native: {plain:.3f} (diagnostic: the route without the openai client)")
        headline = statistics.median(ratios)
        verdict = "meets" if headline >= TARGET else "misses"
        print(f"ratio openai / native: {headline:.3f} (median of per-round ratios; {verdict} the {TARGET} goal)")
    finally:
        proc.terminate()
        code = proc.wait(60)
        log.close()
    if code != 0:
        sys.exit(f"bench_openai: the server exited with {code} on SIGTERM")


if __name__ == "__main__":
    main()
