"""`halo keys ...` and `halo users ...`: API keys for machines, users for people (access.md)."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys

import click

from halo_platform.core.cli_options import NUMBER
from halo_platform.core.errors import HaloError
from halo_platform.core.models import iso_z
from halo_platform.core.text import NAME_LIMIT, check_name, exact_number, visible


def _store():  # noqa: ANN202
    """The store every domain binds (imported on use: `halo --help` loads no Dagster)."""
    from halo_platform.core.definitions import STORE

    return STORE


def _when(value: dt.datetime | None) -> str:
    """An instant as the platform prints instants (`iso_z`: UTC, saying so), or `-`."""
    return iso_z(value) if value else "-"


def _change(at: dt.datetime, by: str | None) -> str:
    """When a change was made and, if it was recorded (not before access_0003), by whom: `visible`,
    for a name recorded before `cli_actor` refused control characters."""
    return _when(at) + (f" by {visible(by)}" if by else "")


# where `getpass.getuser` looks for the login, in its order, before the passwd database
_LOGIN_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")


def cli_actor() -> str:
    """Who a change made with a `halo` command is recorded as made by: the login running it, or
    its user id where it has no name (a container's arbitrary id, no LOGNAME or USER set).

    A login no change can be recorded as made by (LOGNAME holding a line break or a terminal
    escape, which `halo keys list` printed as a line of its own or sent to the terminal) is
    refused, naming the variable to fix: recording the user id instead would put a name in the
    audit trail other than the one the operator set, without a word."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # Python 3.11 raises KeyError there, 3.13 OSError
        return f"cli:uid-{os.getuid()}"
    source = next((name for name in _LOGIN_VARIABLES if os.environ.get(name)), "the login name")
    return "cli:" + check_name(login, f"{source} (the login recorded as who made the change)", NAME_LIMIT - len("cli:"))


@click.group()
def keys() -> None:
    """API keys: create (shown once), list (never shows secrets), rotate, revoke."""


@keys.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, help="messages:send, messages:read, tasks:request, tasks:read, "
              "availability:read or admin (implies all); repeat for several.")
@click.option("--expires", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last valid day is the day before (UTC), YYYY-MM-DD.")
@click.option("--rate", type=NUMBER, default=None, help="Requests per second allowed (default: HALO_API_RATE, 50).")
def create_key_cmd(name: str, scopes: tuple[str, ...], expires: dt.datetime | None, rate: float | None) -> None:
    """Create a key and print it once: store it now, it cannot be shown again."""
    from halo_platform.access.keys import create_key

    key = create_key(_store(), name, scopes, expires=expires.date() if expires else None, rate_per_second=rate,
                     created_by=cli_actor())
    click.echo(key)
    if sys.stdout.isatty():
        click.echo("store this key now: it is not kept and cannot be shown again", err=True)


@keys.command("list")
def list_keys_cmd() -> None:
    """Every key: name, prefix, scopes, rate limit, dates and who created or revoked it; never a secret or a hash."""
    from halo_platform.access.keys import list_keys

    rows = list_keys(_store())
    if not rows:
        click.echo("no keys; create one with `halo keys create NAME --scope SCOPE`")
    for r in rows:
        state = "revoked" if r["revoked_at"] else "expired" if r["expires_at"] and r["expires_at"] <= dt.datetime.now(dt.UTC) else "active"
        revoked = f"  revoked={_change(r['revoked_at'], r['revoked_by'])}" if r["revoked_at"] else ""
        # a key made without --rate follows HALO_API_RATE, the service's (which this process may not share)
        rate = f"{exact_number(r['rate_per_second'])}/s" if r["rate_per_second"] else "default"
        click.echo(f"{r['name']:<20} halo_{r['prefix']}_…  {state:<8} {','.join(r['scopes']):<40} rate={rate}  "
                   f"expires={_when(r['expires_at'])}  last_used={_when(r['last_used_at'])}  "
                   f"created={_change(r['created_at'], r['created_by'])}{revoked}")


@keys.command("rotate")
@click.argument("name")
@click.option("--overlap-hours", type=NUMBER, default=24.0, show_default=True,
              help="Hours the replaced key keeps working, for its holders to move to the new one (0: it stops now).")
def rotate_key_cmd(name: str, overlap_hours: float) -> None:
    """Replace the active key NAME with a new one (same scopes and rate), printed once; the
    replaced key works until the overlap ends."""
    from halo_platform.access.keys import rotate_key

    key, until = rotate_key(_store(), name, overlap_hours=overlap_hours, rotated_by=cli_actor())
    click.echo(key)
    click.echo(f"the replaced key of {name} works until {iso_z(until)}", err=True)


@keys.command("revoke")
@click.argument("name")
@click.option("--prefix", default=None, help="Revoke the key of NAME with this prefix, as `halo keys list` shows it "
              "(halo_<prefix>_…): a key replaced by `rotate`, still working for its overlap.")
def revoke_key_cmd(name: str, prefix: str | None) -> None:
    """Revoke the active key NAME (or, with --prefix, that key of NAME): its next request is 401."""
    from halo_platform.access.keys import revoke_key

    prefix = prefix.removeprefix("halo_").removesuffix("…").removesuffix("_") if prefix is not None else None
    revoke_key(_store(), name, revoked_by=cli_actor(), prefix=prefix)
    click.echo(f"revoked {name}" + (f" (halo_{prefix}_…)" if prefix is not None else ""))


@click.group()
def users() -> None:
    """Users of the Control Center: create, list, disable."""


def _read_password() -> str:
    """The password from stdin when piped (one line), else prompted twice without echo."""
    if sys.stdin.isatty():
        return click.prompt("password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise HaloError("password: give it on stdin (one line) or at the prompt")
    return line


@users.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["viewer", "operator", "admin"]))
def create_user_cmd(name: str, role: str) -> None:
    """Create a user; the password is read from stdin or prompted (at least 12 characters)."""
    from halo_platform.access.users import create_user

    create_user(_store(), name, role, _read_password(), created_by=cli_actor())
    click.echo(f"created {name} ({role})")


@users.command("list")
def list_users_cmd() -> None:
    """Every user: name, role, state, and when and by whom each change was made."""
    from halo_platform.access.users import list_users

    rows = list_users(_store())
    if not rows:
        click.echo("no users; create one with `halo users create NAME --role viewer|operator|admin`")
    for u in rows:
        changes = [f"created={_change(u['created_at'], u['created_by'])}"]
        if u["password_changed_at"]:
            changes.append(f"password_changed={_change(u['password_changed_at'], u['password_changed_by'])}")
        if u["disabled_at"]:
            changes.append(f"disabled={_change(u['disabled_at'], u['disabled_by'])}")
        click.echo(f"{u['name']:<20} {u['role']:<9} {'disabled' if u['disabled_at'] else 'active':<9} {'  '.join(changes)}")


@users.command("disable")
@click.argument("name")
def disable_user_cmd(name: str) -> None:
    """Refuse NAME's logins from now on and end their sessions."""
    from halo_platform.access.users import disable_user

    disable_user(_store(), name, disabled_by=cli_actor())
    click.echo(f"disabled {name}")


COMMANDS = (keys, users)
