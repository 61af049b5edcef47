"""ONNX Runtime and OpenVINO embeddings: `Embedder(backend="onnx"|"openvino"[, quantize="int8"])` against raw
`SentenceTransformer.encode`.

Same model (the embedded all-MiniLM-L6-v2), texts (the 3,000 sentences of
STS-B dev) and batch size (32), in one process. The paths are timed
interleaved, slice by slice, with the order rotated, so machine drift hits
each alike. Quality: STS-B dev Spearman of each path's vectors, and the
per-vector cosine to the raw sentence-transformers vectors.

    python benchmarks/bench_onnx.py
    python benchmarks/bench_onnx.py --slices 6 --threads 2
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_embed import compare, load_sts_dev, sts_spearman
from machine import print_machine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="torch and ONNX Runtime threads (default: all)")
    args = parser.parse_args()

    import numpy as np
    from sentence_transformers import SentenceTransformer

    from nlu_toolkit.models.embedded import embedded_path
    from nlu_toolkit.tasks.embed import Embedder

    print_machine(args.threads)
    left, right, gold = load_sts_dev()
    texts = left + right
    peer = SentenceTransformer(str(embedded_path()), device="cpu")
    paths = {
        "peer: SentenceTransformer.encode (fp32)": lambda t: peer.encode(t, batch_size=args.batch_size),
    }
    for name, kwargs in (
        ("ours: torch", {}),
        ("ours: onnx fp32", {"backend": "onnx"}),
        ("ours: onnx int8", {"backend": "onnx", "quantize": "int8"}),
        ("ours: openvino fp32", {"backend": "openvino"}),
        ("ours: openvino int8", {"backend": "openvino", "quantize": "int8"}),
    ):
        if kwargs.get("backend") == "openvino" and importlib.util.find_spec("openvino") is None:
            print(f"{name}: skipped (pip install 'nlu-toolkit[openvino]')")
            continue
        embedder = Embedder(None, device="cpu", batch_size=args.batch_size, threads=args.threads, **kwargs)
        if embedder.runtime_warning:
            print(f"{name}: {embedder.runtime_warning}")
        paths[name] = lambda t, e=embedder: e.encode(t)[0]
    for fn in paths.values():  # warm-up
        fn(texts[:64])
    size = -(-len(texts) // args.slices)
    seconds = {name: 0.0 for name in paths}
    vectors: dict[str, list] = {name: [] for name in paths}
    names = list(paths)
    for s in range(args.slices):
        part = texts[s * size : (s + 1) * size]
        for name in names[s % len(names) :] + names[: s % len(names)]:
            start = time.perf_counter()
            vectors[name].append(np.asarray(paths[name](part)))
            seconds[name] += time.perf_counter() - start
    peer_name = names[0]
    reference = np.concatenate(vectors[peer_name])
    n = len(gold)
    print(f"\n{len(texts)} STS-B dev sentences, batch size {args.batch_size}")
    print(f"{'path':42s} {'texts/s':>8s} {'vs peer':>8s} {'Spearman':>9s} {'min cos':>8s}")
    for name in names:
        out = np.concatenate(vectors[name])
        rate = len(texts) / seconds[name]
        ratio = seconds[peer_name] / seconds[name]
        _, min_cos = compare(reference, out)
        rho = sts_spearman(out[:n], out[n:], gold)
        print(f"{name:42s} {rate:8.1f} {ratio:7.2f}x {rho:9.5f} {min_cos:8.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
