"""RunOptions (one place for how a model runs), parameter names in errors, and the CLI's option bundles."""

from __future__ import annotations

import warnings

import pytest

from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.errors import InputError, UsageError


def test_defaults_and_keywords_merge():
    assert RunOptions() == RunOptions(device="auto", batch_size=32, backend="torch")
    base = RunOptions(device="cpu", batch_size=8)
    merged = RunOptions.merge(base, batch_size=64, backend="onnx")
    assert (merged.device, merged.batch_size, merged.backend) == ("cpu", 64, "onnx")
    assert RunOptions.merge(base) is base
    assert RunOptions.merge(None, threads=2) == RunOptions(threads=2)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": True}, "batch_size must be a positive integer"),
        ({"max_length": 4}, "max_length 4 is too small"),
        ({"threads": 0}, "threads must be a positive integer"),
        ({"backend": "tensorrt"}, "unknown backend 'tensorrt'"),
        ({"quantize": "int4", "backend": "onnx"}, "unknown quantize 'int4'"),
        ({"quantize": "int8"}, "quantize int8 needs backend onnx"),
    ],
)
def test_bad_values_name_the_parameter_not_a_flag(fields, words):
    with pytest.raises(UsageError) as e:
        RunOptions(**fields)
    assert words in str(e.value)
    assert "--" not in str(e.value)


def test_runtime_is_the_deprecated_name_of_backend():
    with pytest.warns(DeprecationWarning, match="runtime= is deprecated; use backend="):
        assert RunOptions.merge(None, runtime="onnx").backend == "onnx"
    with pytest.raises(UsageError, match="disagree"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        RunOptions.merge(None, runtime="onnx", backend="torch")


def test_an_unknown_keyword_is_refused_not_ignored():
    with pytest.raises(UsageError, match="unknown keyword 'batchsize'"):
        RunOptions.merge(None, batchsize=3)
    with pytest.raises(UsageError, match="run must be a RunOptions"):
        RunOptions.merge({"device": "cpu"})  # type: ignore[arg-type]


def test_errors_render_parameters_for_each_audience():
    e = UsageError("{=batch_size} must be at least 1", "pass e.g. {=batch_size}=32 or lower {=max_length}")
    assert str(e) == "batch_size must be at least 1 (pass e.g. batch_size=32 or lower max_length)"
    assert e.message == "batch_size must be at least 1" and e.params == ["batch_size", "max_length"]
    flag = e.render(lambda p: "--" + p.replace("_", "-"))
    assert flag == "--batch-size must be at least 1 (pass e.g. --batch-size=32 or lower --max-length)"
    # Subclasses that prefix a location keep it, and literal braces are left alone.
    where = InputError("{=text_column} 'x' is missing; {} stays", path="a.csv", line=3)
    assert str(where) == "a.csv:3: text_column 'x' is missing; {} stays"
