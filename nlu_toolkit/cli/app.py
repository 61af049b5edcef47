"""The Typer app and its single error boundary.

`NluGroup.invoke` is the one place that catches `NluError` (and click's usage
errors): it prints one line, ``nlu: error: <what> (<what to do>)``, to stderr
and exits 2 for bad input, usage or model availability, 1 otherwise. Set
``NLU_DEBUG=1`` to get the traceback instead.

Before anything is parsed, every argument must be valid UTF-8 (`boundary.check_argv`),
and `main` makes SIGTERM unwind like SIGINT, so partial outputs are removed (exit 143).
"""

from __future__ import annotations

import os
import sys
from difflib import SequenceMatcher
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.24 vendors click; older releases use click itself
    from typer._click.exceptions import NoArgsIsHelpError, NoSuchOption, UsageError
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import NoArgsIsHelpError, NoSuchOption, UsageError  # type: ignore[no-redef]

from nlu_toolkit._version import __version__
from nlu_toolkit.cli import index as index_cli
from nlu_toolkit.cli import models as models_cli
from nlu_toolkit.cli.bench import bench_cli
from nlu_toolkit.cli.boundary import SIGTERM_EXIT, Terminated, check_argv, sigterm_unwinds
from nlu_toolkit.cli.classify import classify_cli
from nlu_toolkit.cli.cluster import cluster_cli
from nlu_toolkit.cli.distill import distill_cli
from nlu_toolkit.cli.embed import embed_cli
from nlu_toolkit.cli.evaluate import evaluate_cli
from nlu_toolkit.cli.finetune import finetune_cli
from nlu_toolkit.cli.generate import generate_cli
from nlu_toolkit.cli.inspect import inspect_cli
from nlu_toolkit.cli.ner import ner_cli
from nlu_toolkit.cli.qa import qa_cli
from nlu_toolkit.cli.serve import serve_cli
from nlu_toolkit.cli.similarity import dedupe_cli, similarity_cli
from nlu_toolkit.cli.summarize import summarize_cli, translate_cli
from nlu_toolkit.cli.webapp import app_cli
from nlu_toolkit.errors import NluError


def _debug() -> bool:
    return os.environ.get("NLU_DEBUG", "") not in ("", "0")


def _fail(message: str, code: int) -> None:
    typer.echo(f"nlu: error: {message}", err=True)
    raise typer.Exit(code)


def _flag_namer(group: Any, ctx: Any) -> Any:
    """How the CLI names a library parameter in an error: the flag of the command that ran.

    The library writes ``{=batch_size}``; the running command's option whose Python name is
    ``batch_size`` gives ``--batch-size`` (``input_file`` gives ``--input``). A parameter with no
    such option is spelled as a flag would be (``--`` and dashes).
    """
    flags: dict[str, str] = {}
    command = group.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
    commands = [command] if command is not None else []
    for sub in commands:
        inner = getattr(sub, "commands", None)
        if inner:  # a command group (`nlu index ...`): its commands, in order
            commands.extend(inner.values())
            continue
        for param in getattr(sub, "params", []):
            long = [x for x in getattr(param, "opts", []) if x.startswith("--")]
            if long and param.name not in flags:
                same = "--" + param.name.replace("_", "-")
                flags[param.name] = same if same in long else long[0]
    return lambda name: flags.get(name) or "--" + name.replace("_", "-")


def _usage_line(e: UsageError) -> str:
    if isinstance(e, NoSuchOption) and e.possibilities:
        # click suggests any option sharing a few letters (--long -> "--encoding, --plot", --model ->
        # "--help"); only a near spelling of the given option is worth naming.
        e.possibilities = [
            p for p in e.possibilities if p != "--help" and SequenceMatcher(None, e.option_name, p).ratio() >= 0.75
        ]
    where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
    return e.format_message().replace("\n", " ") + where


class NluGroup(TyperGroup):
    """A Typer group whose ``invoke`` maps every error to one line and an exit code."""

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        # Top-level options (`nlu --bogus`) are parsed here, before `invoke` runs.
        if parent is None:
            try:
                check_argv(args)  # every argument, before any is parsed: invalid UTF-8 is refused here
            except NluError as e:
                if _debug():
                    raise
                _fail(str(e), e.exit_code)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except NoArgsIsHelpError:
            raise
        except UsageError as e:
            if _debug():
                raise
            _fail(_usage_line(e), 2)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, NoArgsIsHelpError):
            raise
        except NluError as e:
            if _debug():
                raise
            _fail(e.render(_flag_namer(self, ctx)).replace("\n", " "), e.exit_code)
        except UsageError as e:
            if _debug():
                raise
            _fail(_usage_line(e), 2)
        except BrokenPipeError:
            # The reader went away (e.g. `| head`); stop quietly, as Unix tools do.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            raise typer.Exit(0) from None
        except (KeyboardInterrupt, Terminated, SystemExit, GeneratorExit):
            raise
        except BaseException as e:
            # BaseException, not Exception: a Rust panic inside tokenizers surfaces as
            # pyo3's PanicException, which derives from BaseException.
            if _debug():
                raise
            _fail(f"unexpected {type(e).__name__}: {e} (set NLU_DEBUG=1 for the traceback)".replace("\n", " "), 1)


app = typer.Typer(
    cls=NluGroup,
    name="nlu",
    help="Applied NLP on Hugging Face models: classify, ner, qa, embeddings, search and clustering. Offline-first.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nlu_toolkit {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Applied NLP on Hugging Face models, offline-first."""


# The commands by help panel, in the order `nlu --help` lists them; a Typer is a command group.
_PANELS: dict[str, dict[str, Any]] = {
    "Tasks": {"classify": classify_cli, "ner": ner_cli, "qa": qa_cli, "inspect": inspect_cli},
    "Generation": {"summarize": summarize_cli, "translate": translate_cli, "generate": generate_cli},
    "Embeddings and search": {
        "embed": embed_cli,
        "index": index_cli.app,
        "cluster": cluster_cli,
        "similarity": similarity_cli,
        "dedupe": dedupe_cli,
    },
    "Training": {"finetune": finetune_cli, "evaluate": evaluate_cli, "distill": distill_cli},
    "Models": {"models": models_cli.app, "bench": bench_cli},
    "Serving": {"serve": serve_cli, "app": app_cli},
}
for _panel, _commands in _PANELS.items():
    for _name, _command in _commands.items():
        if isinstance(_command, typer.Typer):
            app.add_typer(_command, name=_name, rich_help_panel=_panel)
        else:
            app.command(_name, rich_help_panel=_panel)(_command)


def main() -> None:
    """Console-script entry point: SIGTERM unwinds (cleanup runs) and exits 143, as SIGINT exits 130."""
    with sigterm_unwinds():
        try:
            app()
        except Terminated:
            sys.stdout.flush()
            print("nlu: terminated (SIGTERM); partial outputs were removed", file=sys.stderr, flush=True)
            raise SystemExit(SIGTERM_EXIT) from None
