"""The `halo` command. Each domain contributes its groups from `<domain>/cli.py`
(`COMMANDS`: its top-level groups), listed here, and installed packages add theirs through
the `halo_platform.commands` entry point (the lab's `halo bench`); this root only
assembles them and turns user errors into one line and a non-zero exit."""

from __future__ import annotations

import contextlib
import ipaddress
import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import click
from sqlalchemy import exc as sa_exc

from halo_platform.access import cli as access_cli
from halo_platform.availability import cli as availability_cli
from halo_platform.core.cli_options import GIVEN, PathGiven
from halo_platform.core.errors import HaloError
from halo_platform.core.redact import error_line, install_redaction
from halo_platform.core.text import ECHO_LIMIT, as_one_line, cut, echo, lone_surrogate
from halo_platform.delivery import cli as delivery_cli
from halo_platform.reports import cli as reports_cli


class HaloGroup(click.Group):
    def main(self, *args, **kwargs):  # noqa: ANN002, ANN003
        install_redaction()
        # Dagster's beta/preview notices about our definitions are for developers, not a command's output
        # (two lines of them came before a bad input's one error line)
        warnings.filterwarnings("ignore", module="dagster")
        kwargs["standalone_mode"] = False
        arguments = list(kwargs.get("args") or (args[0] if args else None) or sys.argv[1:])
        for position, argument in enumerate(arguments, 1):
            if lone_surrogate(argument) is not None:  # bytes that are not UTF-8, as Python decodes them
                click.echo(f"error: argument {position} is not valid UTF-8", err=True)
                sys.exit(2)
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(130)
        except click.exceptions.NoArgsIsHelpError as exc:  # `halo emr`: show the group's help
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click.ClickException as exc:
            click.echo(f"error: {one_line(said_back(exc.format_message(), arguments))}", err=True)
            sys.exit(exc.exit_code if exc.exit_code else 2)
        except HaloError as exc:
            click.echo(f"error: {one_line(str(exc))}", err=True)
            sys.exit(2)
        except (sa_exc.SQLAlchemyError, OSError) as exc:  # the store or a file failed us (a server down, a folder that is a file)
            click.echo(f"error: {one_line(first_line(exc))}", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def one_line(message: str) -> str:
    """A refusal as the one line it is printed on: Click words some over several lines (a missing
    choice, then a line per choice), and a refusal may repeat a value as given, with its line
    breaks (they split the line) or escape sequences (they reached the terminal)."""
    return " ".join(as_one_line(message, len(message)).split())


def said_back(message: str, arguments: list[str]) -> str:
    """Click's refusal `message` with each argument over `ECHO_LIMIT` characters it repeats (an
    option's value given after `=` too) cut as the platform's refusals cut a value (`core.text.echo`):
    Click repeats a value that is no choice, integer or command whole, quoted or not (`halo tasks log
    --status <10 kB>` printed a line of 10,140 characters)."""
    for argument in arguments:
        for value in (argument, argument.partition("=")[2]):
            if len(value) > ECHO_LIMIT:
                message = message.replace(repr(value), echo(value)).replace(value, cut(value))
    return message


def first_line(exc: BaseException) -> str:
    """An error's first line, masked (a driver's message may quote a URL or a value) before it
    is cut: the statement and parameters SQLAlchemy appends come on later lines."""
    return error_line(str(getattr(exc, "orig", None) or exc), 300)[0] or type(exc).__name__


@click.group(cls=HaloGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """halo: report tasks, EMR availability and message delivery on Dagster."""


@cli.command()
def demo() -> None:
    """Seed demo warehouses, feeds, schedules and providers under $HALO_HOME (idempotent)."""
    from halo_platform.demo import seed_all

    for line in seed_all():
        click.echo(line)


def _trusted_proxies(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """`--forwarded-allow-ips` as uvicorn reads it: `*` alone, or IP addresses and networks. uvicorn
    takes any other entry (`10.0.0.0/33`, `10.0.0.1/24`, `*` among others) as a host name no peer
    address ever equals: the proxy's headers were not trusted, without a word."""
    entries = [entry.strip() for entry in value.split(",")]
    if entries == ["*"]:
        return "*"
    for entry in entries:
        try:
            ipaddress.ip_network(entry) if "/" in entry else ipaddress.ip_address(entry)
        except ValueError as exc:
            problem = "'*' (every address) is given alone" if entry == "*" else cut(str(exc))
            raise click.BadParameter(f"{problem}; give '*' or comma-separated IP addresses and networks", ctx, param) from None
    return ",".join(entries)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, type=GIVEN, help="The address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes (they share rate limits through the store).")
@click.option("--proxy-headers/--no-proxy-headers", default=False, show_default=True,
              help="Behind a TLS proxy: take the client address and scheme from X-Forwarded-For/-Proto, so callback signatures (made over the public https URL) verify.")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True, callback=_trusted_proxies,
              help="Comma-separated proxy addresses or networks (or '*') whose X-Forwarded-* headers are trusted, with --proxy-headers.")
def serve(host: str, port: int, workers: int, proxy_headers: bool, forwarded_allow_ips: str) -> None:
    """Start the HTTP service (delivery API, callbacks, availability REST + GraphQL, Control Center)."""
    import uvicorn

    from halo_platform.core.settings import get_settings
    from halo_platform.core.store import StoreResource
    from halo_platform.delivery.resources import ProvidersResource

    # each worker process builds the app from the settings: a bad one is this one line, not a
    # traceback from every worker while the server, with none left, runs on; so is a store URL
    # that cannot be used (the service started and answered every request, /health included, 422),
    # and a providers file that cannot serve (it showed at the first send or callback)
    get_settings()
    StoreResource().check_url()
    ProvidersResource().check()
    _check_listen(host, port)
    uvicorn.run("halo_platform.http:create_app", factory=True, host=host, port=port, workers=workers, log_level="info",
                proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips if proxy_headers else None,
                timeout_worker_healthcheck=WORKER_START_SECONDS)


# uvicorn kills a worker process that does not answer its health check within 5 s and starts
# another: on a loaded host (every service starting at once) a worker's start took longer, and
# each new one was killed in turn; a worker that hangs once started is still replaced, later
WORKER_START_SECONDS = 30


def _check_listen(host: str, port: int) -> None:
    """One line when the service cannot listen where it is asked to (the port taken by another
    service or a `halo serve` still running, an address of no interface): uvicorn logged it among
    its start-up and shutdown lines and exited 3. Bound as uvicorn binds (SO_REUSEADDR), then freed."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise HaloError(f"cannot listen on {host}:{port}: {(exc.strerror or str(exc)).lower()}") from None


@cli.command()
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="The HTTP service and the Control Center.")
@click.option("--dagster-port", default=3000, show_default=True, type=click.IntRange(1, 65535), help="The Dagster UI.")
@click.option("--workspace", "-w", default="workspace.yaml", show_default=True, type=PathGiven(exists=True, dir_okay=False))
def up(port: int, dagster_port: int, workspace: str) -> None:
    """Run the platform: the HTTP service with the Control Center (`halo serve`) and the Dagster UI
    with its daemon (`dagster dev`). Ctrl-C stops both; so does either one stopping."""
    import os
    import signal
    import subprocess
    import time

    from halo_platform.core.instance import dagster_environment

    dagster_environment()  # dagster dev's webserver and daemon create runs: they inherit the switches
    bin_dir = os.path.dirname(sys.executable)
    children = [
        # the service submits task requests to this Dagster webserver (DAGSTER_UI_URL unless set)
        subprocess.Popen([os.path.join(bin_dir, "halo"), "serve", "--port", str(port)],
                         env={"DAGSTER_UI_URL": f"http://127.0.0.1:{dagster_port}", **os.environ}),
        subprocess.Popen([os.path.join(bin_dir, "dagster"), "dev", "-w", os.path.abspath(workspace), "-h", "127.0.0.1", "-p", str(dagster_port)]),
    ]
    click.echo(f"Control Center: http://127.0.0.1:{port}/ui  (API docs: /docs)   Dagster UI: http://127.0.0.1:{dagster_port}")
    _warn_of_unusable_alert_sinks()
    interrupted = False
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True  # the terminal's Ctrl-C reached the children too (one process group)
    finally:
        for child in children:
            if child.poll() is None and not interrupted:  # Ctrl-C reached them already; a second one cuts dagster's shutdown short
                child.send_signal(signal.SIGINT)
        # 8 s for everything to stop: the children and every process under them, noted while they
        # live (dagster dev's webserver, daemon and code servers; a code server it starts during its
        # shutdown would outlive it), then the rest is killed
        deadline, under = time.monotonic() + 8, set()
        while time.monotonic() < deadline:
            under.update(pid for child in children if child.poll() is None for pid in _descendants(child.pid))
            under = {pid for pid in under if os.path.exists(f"/proc/{pid}")}
            if not under and all(child.poll() is not None for child in children):
                break
            time.sleep(0.2)
        for pid in under:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
    failed = [f"{name} stopped (exit {child.returncode})" for name, child in zip(("halo serve", "dagster dev"), children, strict=True)
              if child.returncode not in (0, -signal.SIGINT)]
    if failed and not interrupted:
        raise click.ClickException("; ".join(failed))


def _warn_of_unusable_alert_sinks() -> None:
    """A line on stderr for each HALO_ALERTS sink no alert can reach: failures would alert nobody."""
    from halo_platform.alerts.send import alert_sinks
    from halo_platform.sinks import SinksResource

    for line in alert_sinks(SinksResource())[1]:
        click.echo(f"warning: HALO_ALERTS names a sink no alert reaches: {line}", err=True)


def _descendants(pid: int) -> list[int]:
    """The processes under `pid`, from Linux's /proc (none elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])  # after the command, which may hold spaces
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _register(group: click.Group, commands) -> None:  # noqa: ANN001
    for command in commands:
        group.add_command(command)


for _domain in (reports_cli, availability_cli, delivery_cli, access_cli):
    _register(cli, _domain.COMMANDS)
# groups installed beside the product (the lab's `halo bench`), by entry point: never imported here
_register(cli, (ep.load() for ep in entry_points(group="halo_platform.commands")))


def main() -> None:
    cli()
