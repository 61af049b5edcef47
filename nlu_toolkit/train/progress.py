"""The fine-tuning progress bar: a Trainer callback drawing a rich bar on stderr."""

from __future__ import annotations

from typing import Any


def _progress_callback(enabled: bool) -> Any:
    from transformers import TrainerCallback

    class StderrProgress(TrainerCallback):
        """A rich progress bar on stderr with the latest loss, and a line per evaluation."""

        def __init__(self) -> None:
            self.progress: Any = None
            self.task: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not enabled or not state.is_world_process_zero:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.progress is not None:
                self.progress.update(self.task, completed=state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            if self.progress is None or not logs:
                return
            if "loss" in logs:
                self.progress.update(self.task, info=f"epoch {logs.get('epoch', 0):.2f} loss {logs['loss']:.4f}")
            scores = {k[5:]: v for k, v in logs.items() if k.startswith("eval_") and isinstance(v, float)}
            if scores:
                shown = ", ".join(
                    f"{k} {v:.4f}" for k, v in scores.items() if not k.endswith(("runtime", "per_second"))
                )
                self.progress.console.print(f"epoch {logs.get('epoch', 0):.2f}: {shown}")

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.progress is not None:
                self.progress.stop()
                self.progress = None

    return StderrProgress()
