"""Few-shot classification on SST-2: ``finetune("fewshot")`` against the ``setfit`` library and plain fine-tuning.

For each (N per class, seed), N sentences of each class are drawn from SST-2 train with OUR sampler
(``load_task_data(..., sample_per_class=N, seed=seed)``) and the drawn lines are copied, byte for byte,
into one temporary TSV that all three systems train on, from the same base (the embedded all-MiniLM-L6-v2):

    nlu     finetune("fewshot", rows, out, eval=dev, seed=seed, overwrite=True)       (SetFit's recipe, ours)
    setfit  setfit 1.2.0: SetFitModel.from_pretrained(MiniLM folder), Trainer with TrainingArguments()
            defaults (only output_dir, a temp folder, and seed=seed set), metric passed as a callable
            (its default "accuracy" calls evaluate.load, which needs the Hub), run with HF_HUB_OFFLINE=1
    plain   finetune("classification", rows, out, eval=dev, seed=seed, overwrite=True) (defaults: 3 epochs)

Accuracy is on all 872 SST-2 dev sentences: ``FinetuneResult.metrics["accuracy"]`` for nlu and plain,
``model.predict(dev texts)`` against the gold labels for setfit. Train seconds: ``FinetuneResult.train_seconds``
for ours, the wall time of ``trainer.train()`` (pairs, body and head) for setfit; plain's include the dev
evaluation after each epoch, which the Trainer runs inside ``train()`` (nlu and setfit score dev after it). Printed per N: mean +- sd
accuracy and mean train seconds of each system over the seeds, and "nlu - setfit" / "nlu - plain" in points.

setfit is not a project dependency and must not enter the project venv: it lives in /tmp/sfvenv, which sees
the project's packages (torch, transformers, sentence-transformers, datasets, scikit-learn) through a .pth,
and runs as a subprocess of this script (``--worker setfit``). To make /tmp/sfvenv:

    python3.11 -m venv /tmp/sfvenv
    echo /work/main/.venv/lib/python3.11/site-packages > /tmp/sfvenv/lib/python3.11/site-packages/zz_main.pth
    /tmp/sfvenv/bin/pip install setfit==1.2.0        # adds only setfit and evaluate (+ aiohttp) to /tmp/sfvenv

(replace /work/main/.venv with the project's venv; --setfit-python points elsewhere). Reads ../shared/data.

    python benchmarks/bench_fewshot.py                                   # --per-class 8,64 --seeds 0,1,2,3,4
    python benchmarks/bench_fewshot.py --per-class 8 --seeds 0 --systems setfit,plain   # a dry run
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SYSTEMS = ("nlu", "setfit", "plain")
SETFIT_PYTHON = "/tmp/sfvenv/bin/python"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def need(path: Path) -> Path:
    if not path.is_file():
        sys.exit(f"bench_fewshot: {path} not found; skipped (SST-2 is read from ../shared/data, see PROVENANCE.md)")
    return path


def read_tsv(path: Path) -> tuple[list[str], list[int]]:
    """SST-2's ``sentence<TAB>label`` rows, read as the toolkit reads TSV (no quoting)."""
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for row in reader:
            texts.append(row[0])
            labels.append(int(row[1]))
    return texts, labels


def draw(train: Path, per_class: int, seed: int, folder: Path) -> Path:
    """The rows our sampler draws, copied line for line (header first) into a TSV of their own."""
    from nlu_toolkit.train.data import load_task_data

    data = load_task_data("classification", train, sample_per_class=per_class, seed=seed)
    rows = data.info["sample"]["rows"]  # 1-based data rows of the file
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    picked = [lines[r] if lines[r].endswith("\n") else lines[r] + "\n" for r in rows]
    drawn = [line.split("\t")[0].strip() for line in picked]
    if drawn != [t.strip() for t in data.train["text"]]:
        sys.exit("bench_fewshot: the copied lines differ from the rows the sampler drew")
    out = folder / f"sst2-{per_class}-per-class-seed{seed}.tsv"
    out.write_text(lines[0] + "".join(picked), encoding="utf-8")
    return out


def run_ours(task: str, rows: Path, dev: Path, seed: int, folder: Path) -> dict:
    from nlu_toolkit import finetune

    r = finetune(task, rows, folder / f"{task}-model", eval=dev, seed=seed, overwrite=True)
    return {"accuracy": float(r.metrics["accuracy"]), "train_seconds": float(r.train_seconds), "device": r.device}


def run_setfit(python: str, rows: Path, dev: Path, model: Path, seed: int, folder: Path) -> dict:
    """The setfit side in its own venv; its output (progress bars) is kept and shown only on failure."""
    result = folder / "setfit.json"
    cmd = [python, __file__, "--worker", "setfit", "--rows", str(rows), "--dev", str(dev), "--model", str(model)]
    cmd += ["--seeds", str(seed), "--work", str(folder / "setfit-work"), "--result", str(result)]
    done = subprocess.run(cmd, env={**os.environ, **OFFLINE}, capture_output=True, text=True)
    if done.returncode != 0 or not result.is_file():
        sys.exit(
            f"bench_fewshot: the setfit worker failed (rc {done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}"
        )
    return json.loads(result.read_text(encoding="utf-8"))


def setfit_worker(args: argparse.Namespace) -> None:
    """Runs under /tmp/sfvenv: setfit's own Trainer with its defaults on the drawn rows, scored on dev."""
    import numpy as np
    import setfit
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    texts, labels = read_tsv(Path(args.rows))
    dev_texts, dev_labels = read_tsv(Path(args.dev))
    seed = int(args.seeds)

    def accuracy(predictions, references) -> dict[str, float]:
        return {"accuracy": float(np.mean(np.asarray(predictions) == np.asarray(references)))}

    model = SetFitModel.from_pretrained(args.model)
    trainer = Trainer(
        model=model,
        args=TrainingArguments(output_dir=args.work, seed=seed),
        train_dataset=Dataset.from_dict({"text": texts, "label": labels}),
        metric=accuracy,
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    predicted = model.predict(dev_texts, as_numpy=True)
    found = {
        **accuracy(predicted.astype(int), dev_labels),
        "train_seconds": seconds,
        "device": str(model.device),
        "setfit": setfit.__version__,
    }
    Path(args.result).write_text(json.dumps(found), encoding="utf-8")


def summary(rows: list[dict], per_class: int, systems: list[str]) -> dict:
    out: dict = {"per_class": per_class}
    for system in systems:
        got = [r for r in rows if r["system"] == system and r["per_class"] == per_class]
        acc = [r["accuracy"] for r in got]
        out[system] = {
            "runs": len(got),
            "accuracy_mean": statistics.fmean(acc),
            "accuracy_sd": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "train_seconds_mean": statistics.fmean(r["train_seconds"] for r in got),
        }
    for peer in ("setfit", "plain"):
        if "nlu" in systems and peer in systems:
            out[f"nlu_minus_{peer}_points"] = 100 * (out["nlu"]["accuracy_mean"] - out[peer]["accuracy_mean"])
    return out


def print_summary(s: dict, systems: list[str]) -> None:
    print(f"\n== SST-2 dev, {s['per_class']} per class ({s[systems[0]]['runs']} seeds) ==")
    print(f"{'system':>8}  {'accuracy':>16}  {'train s':>8}")
    for system in systems:
        x = s[system]
        acc = f"{100 * x['accuracy_mean']:.2f} +- {100 * x['accuracy_sd']:.2f}"
        print(f"{system:>8}  {acc:>16}  {x['train_seconds_mean']:>8.1f}")
    for peer in ("setfit", "plain"):
        key = f"nlu_minus_{peer}_points"
        if key in s:
            ratio = s["nlu"]["train_seconds_mean"] / s[peer]["train_seconds_mean"]
            print(f"nlu - {peer}: {s[key]:+.2f} points; train time nlu / {peer}: {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", default="8,64", help="sentences per class, comma-separated")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="seeds of the draw and of training, comma-separated")
    parser.add_argument("--systems", default="nlu,setfit,plain", help=f"any of {','.join(SYSTEMS)}")
    parser.add_argument("--setfit-python", default=SETFIT_PYTHON, help="a python that imports setfit 1.2.0")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", default=None, help="write every run and the summaries to this file")
    parser.add_argument("--worker", choices=("setfit",), help=argparse.SUPPRESS)
    for hidden in ("--rows", "--dev", "--model", "--work", "--result"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        setfit_worker(args)
        return

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if not systems or set(systems) - set(SYSTEMS):
        sys.exit(f"bench_fewshot: --systems takes {','.join(SYSTEMS)}, got {args.systems!r}")
    sizes = [int(n) for n in args.per_class.split(",")]
    seeds = [int(n) for n in args.seeds.split(",")]
    train, dev = need(DATA / "sst2" / "train.tsv"), need(DATA / "sst2" / "dev.tsv")
    if "setfit" in systems and not Path(args.setfit_python).is_file():
        sys.exit(f"bench_fewshot: {args.setfit_python} not found; make /tmp/sfvenv as the docstring says")

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import print_machine

    from nlu_toolkit.models.embedded import embedded_path
    from nlu_toolkit.models.quiet import silence_libraries

    print_machine(args.threads)
    silence_libraries()
    model = embedded_path()
    print(f"base model: {model}; systems: {', '.join(systems)}")
    rows: list[dict] = []
    for per_class in sizes:
        for seed in seeds:
            with tempfile.TemporaryDirectory(prefix="bench-fewshot-") as tmp:
                folder = Path(tmp)
                drawn = draw(train, per_class, seed, folder)
                for system in systems:
                    load = os.getloadavg()[0]
                    if system == "setfit":
                        got = run_setfit(args.setfit_python, drawn, dev, model, seed, folder)
                    else:
                        got = run_ours("fewshot" if system == "nlu" else "classification", drawn, dev, seed, folder)
                    row = {"system": system, "per_class": per_class, "seed": seed, **got, "load_average": load}
                    rows.append(row)
                    print(f"  {system:>6}  N={per_class:<3} seed={seed}  accuracy {100 * got['accuracy']:.2f}  "
                          f"train {got['train_seconds']:.1f} s  (load {load:.1f})", flush=True)  # fmt: skip
    summaries = [summary(rows, n, systems) for n in sizes]
    for s in summaries:
        print_summary(s, systems)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        record = {"command": " ".join(sys.argv), "cpus": os.cpu_count(), "rows": rows, "summary": summaries}
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
