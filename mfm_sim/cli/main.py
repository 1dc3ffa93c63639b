"""The `mfm-sim` command line (click + rich): the group, its entry point and its error handling.

Each command lives in a module of its own beside this one; the options and input parsers they
share are in `mfm_sim.cli.options`.

Exit status: 0 all good; 1 an invariant was violated (or the determinism check failed);
2 bad input (one `mfm-sim: error: ...` line on stderr); 3 the harness itself crashed (a bug
in mfm-sim, never reported as an engine violation), or a sweep's seeds were lost to worker
processes that kept dying (`merge`: a shard's report was partial); 128 + the signal when
SIGINT (130), SIGTERM (143) or SIGHUP (129) stopped it with no violation found (a sweep
then saves and reports what it found, marked partial). Standard output that cannot be
written (a full disk) is one warning line and does not change the status; a reader that
closed the pipe (`| head`) is not even that.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from mfm_sim.cli.bench import bench
from mfm_sim.cli.determinism import check_determinism_cmd
from mfm_sim.cli.explore import explore
from mfm_sim.cli.gate import gate
from mfm_sim.cli.listing import list_cmd
from mfm_sim.cli.merge import merge
from mfm_sim.cli.replay import replay
from mfm_sim.cli.run import run
from mfm_sim.cli.status import EXIT_BAD_INPUT, EXIT_HARNESS, EXIT_INTERRUPTED, EXIT_VIOLATION
from mfm_sim.cli.stdout_guard import GuardedStdout
from mfm_sim.errors import InvalidScenario
from mfm_sim.explore.interrupt import Interrupted, RaiseOnStopSignals, exit_status
from mfm_sim.run.scenario import UnknownScenario
from mfm_sim.run.schedule import ScheduleError
from mfm_sim.selfcheck.variants import UnknownVariant

__all__ = ["EXIT_BAD_INPUT", "EXIT_HARNESS", "EXIT_VIOLATION", "cli", "main"]


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _err(line: str) -> None:
    click.echo(line, err=True)


class _Cli(click.Group):
    """A group whose errors are one line each, with the exit statuses documented above."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        guard = GuardedStdout(sys.stdout)
        sys.stdout = guard  # type: ignore[assignment]
        try:
            with RaiseOnStopSignals():
                code = self._run(args, prog_name, complete_var, standalone_mode, **extra)
        finally:
            sys.stdout = guard.inner
            warning = guard.settle()
        if warning is not None:
            _err(f"mfm-sim: warning: {warning}")
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(
        self,
        args: Sequence[str] | None,
        prog_name: str | None,
        complete_var: str | None,
        standalone_mode: bool,
        **extra: Any,
    ) -> int:
        try:
            rv = super().main(
                args, prog_name or "mfm-sim", complete_var, standalone_mode=False, **extra
            )
            code = rv if isinstance(rv, int) else 0
        except click.exceptions.Abort as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, Interrupted):
                _err(f"mfm-sim: {cause}")
                code = exit_status(cause.signum)
            else:
                _err("mfm-sim: interrupted")
                code = EXIT_INTERRUPTED
        except click.ClickException as exc:
            no_args = getattr(click.exceptions, "NoArgsIsHelpError", ())
            if no_args and isinstance(exc, no_args):
                # `mfm-sim` alone: the help, as click does, with click's usage exit status.
                click.echo(exc.format_message(), err=True)
                return EXIT_BAD_INPUT
            msg = _one_line(exc.format_message())
            ctx = getattr(exc, "ctx", None)
            if isinstance(exc, click.UsageError) and ctx is not None and "--help" not in msg:
                msg += f" (see '{ctx.command_path} --help')"
            _err(f"mfm-sim: error: {msg}")
            code = EXIT_BAD_INPUT
        except (ScheduleError, UnknownScenario, UnknownVariant, InvalidScenario) as exc:
            _err(f"mfm-sim: error: {_one_line(str(exc))}")
            code = EXIT_BAD_INPUT
        except Exception as exc:
            _harness_failure(exc)
            code = EXIT_HARNESS
        return code


def _harness_failure(exc: BaseException) -> None:
    what = f"{type(exc).__name__}: {_one_line(str(exc))}"
    _err(
        "mfm-sim: harness bug (a crash of the simulator itself, not an engine violation): "
        f"{what}; please report it with the command line"
        + ("" if os.environ.get("MFM_SIM_TRACEBACK") else " (MFM_SIM_TRACEBACK=1 shows where)")
    )
    if os.environ.get("MFM_SIM_TRACEBACK"):
        traceback.print_exception(exc, file=sys.stderr)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mfm-sim", prog_name="mfm-sim")
def cli() -> None:
    """Deterministic simulation testing of the mfm execution engine."""


for _command in (run, replay, explore, check_determinism_cmd, list_cmd, bench, gate, merge):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="mfm-sim")
