"""The ``dpv`` command line.

Each command lives in its own private module that registers itself on :data:`app`; this module
only wires them together and owns the exit codes:

* 0 success;
* 2 bad input (a :class:`~valuation.exceptions.DpvInputError`, or a usage error): the message
  names the file, the field and the problem, and nothing is written;
* 3 a batch (``dpv revalue``, ``dpv price``) finished with quarantined rows;
* 1 an unexpected error.

Machine-readable output (``--json``) goes to stdout; logs, progress and errors to stderr.
"""

from __future__ import annotations

import importlib
import sys

import typer

from valuation.exceptions import DpvInputError

app = typer.Typer(
    name="dpv",
    help="Value registered data products and stress-test loans secured on them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

# Modules that register commands on `app`, in the order `dpv --help` lists them.
_COMMAND_MODULES: tuple[str, ...] = (
    "_value",
    "_stress",
    "_calibrate",
    "_pledge",
    "_revalue",
    "_price",
    "_reproduce",
    "_synth",
    "_demo",
    "_schema",
    "_warmup",
)


def _register() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(f"valuation.cli.{name}")


def fail_input(error: DpvInputError) -> typer.Exit:
    """Print a bad-input error to stderr and return the exit (code 2) to raise."""
    typer.echo(f"dpv: error: {error.message}", err=True)
    return typer.Exit(code=2)


def main(argv: list[str] | None = None) -> int:
    """Run the ``dpv`` command line and return its exit code."""
    _register()
    try:
        # Without standalone mode click returns a raised Exit's code instead of exiting.
        returned = app(args=argv, standalone_mode=False)
    except DpvInputError as exc:
        typer.echo(f"dpv: error: {exc.message}", err=True)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    except Exception as exc:
        # Usage errors of the CLI library (typer vendors click) carry their own exit code, 2.
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(getattr(exc, "exit_code", None), int):
            show()
            return int(exc.exit_code)  # type: ignore[attr-defined]
        if type(exc).__name__ == "Abort":
            typer.echo("dpv: aborted", err=True)
            return 1
        typer.echo(f"dpv: unexpected error: {type(exc).__name__}: {exc}", err=True)
        return 1
    return returned if isinstance(returned, int) else 0


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


__all__ = ["app", "entry", "fail_input", "main"]
