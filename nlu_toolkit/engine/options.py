"""`RunOptions`: how a model runs (device, batch size, token limit, backend, quantization, threads).

Every task takes the same seven settings. They live in one frozen dataclass, checked once
when it is made, instead of seven keywords checked again in every constructor:

    >>> from nlu_toolkit import Classifier, RunOptions
    >>> run = RunOptions(device="cpu", batch_size=64, backend="onnx")
    >>> Classifier("./my-model", run=run)                     # doctest: +SKIP
    >>> Classifier("./my-model", batch_size=64, backend="onnx")  # the same, as keywords  # doctest: +SKIP

Keywords given beside ``run=`` override its fields (`RunOptions.merge`). ``runtime=`` is the
old name of ``backend=``: still taken, with a `DeprecationWarning`.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any, TypedDict

from nlu_toolkit.errors import UsageError, check_choice

BACKENDS = ("torch", "onnx", "openvino", "auto")
QUANTIZATIONS = (None, "int8")
DEVICES = ("auto", "cpu", "cuda", "mps")


class RunFields(TypedDict, total=False):
    """The `RunOptions` fields as keywords (for ``**options: Unpack[RunFields]``)."""

    device: str | None
    batch_size: int
    max_length: int | None
    backend: str
    quantize: str | None
    threads: int | None
    trust_remote_code: bool
    runtime: str  # deprecated spelling of backend


@dataclass(frozen=True)
class RunOptions:
    """How a task runs its model.

    Attributes:
        device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:1`` or ``mps``.
        batch_size: inputs (or windows) per forward pass.
        max_length: lower the model's token limit (at least 8); None keeps the model's own.
        backend: ``torch``, ``onnx`` (ONNX Runtime, ``onnx`` extra), ``openvino`` (``openvino``
            extra) or ``auto`` (what ``nlu bench`` measured fastest here, else torch). An exported
            graph is checked against torch on probe texts; torch runs if it disagrees.
        quantize: ``int8`` for dynamic int8 quantization of the exported graph (not with torch).
        threads: CPU threads: ONNX Runtime's or OpenVINO's, or torch's (process-wide).
        trust_remote_code: allow code shipped with a hub model to run.
    """

    device: str | None = "auto"
    batch_size: int = 32
    max_length: int | None = None
    backend: str = "torch"
    quantize: str | None = None
    threads: int | None = None
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, int) or isinstance(self.batch_size, bool) or self.batch_size < 1:
            raise UsageError(f"{{=batch_size}} must be a positive integer, got {self.batch_size!r}", "e.g. 32")
        if self.max_length is not None and (not isinstance(self.max_length, int) or self.max_length < 8):
            raise UsageError(f"{{=max_length}} {self.max_length!r} is too small", "use at least 8 tokens")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise UsageError(f"{{=threads}} must be a positive integer, got {self.threads!r}", "or leave it out")
        check_choice("backend", self.backend, BACKENDS)
        if self.quantize not in QUANTIZATIONS:
            raise UsageError(f"unknown {{=quantize}} {self.quantize!r}", "use int8, or leave it out")
        if self.quantize is not None and self.backend == "torch":
            raise UsageError(
                f"{{=quantize}} {self.quantize} needs {{=backend}} onnx, openvino or auto",
                "quantization applies to an exported graph; or leave {=quantize} out",
            )

    @classmethod
    def merge(cls, run: RunOptions | None = None, **options: Any) -> RunOptions:
        """``run`` (or the defaults) with the given keywords replacing its fields.

        ``runtime`` is taken for ``backend`` with a `DeprecationWarning`; an unknown keyword is a
        `UsageError` naming it (a typo must not be ignored).
        """
        if "runtime" in options:
            runtime = options.pop("runtime")
            warnings.warn("runtime= is deprecated; use backend=", DeprecationWarning, stacklevel=3)
            if "backend" in options and options["backend"] != runtime:
                raise UsageError("runtime= and {=backend} disagree", "give {=backend} only")
            options["backend"] = runtime
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise UsageError(
                f"unknown keyword {unknown[0]!r}", f"the run options are: {', '.join(sorted(fields))}, or run="
            )
        if run is None:
            return cls(**options)
        if not isinstance(run, RunOptions):
            raise UsageError(
                f"{{=run}} must be a RunOptions, got {type(run).__name__}", "e.g. RunOptions(device='cpu')"
            )
        return dataclasses.replace(run, **options) if options else run

    def export(self) -> dict[str, Any]:
        """What `nlu_toolkit.engine.runtime.select_forward` takes: backend, quantize, threads."""
        return {"backend": self.backend, "quantize": self.quantize, "threads": self.threads}
