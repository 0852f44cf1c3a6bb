"""`halo keys` and `halo users` as a person types them: a key printed once, never listed,
revoked; users with a password from stdin; one error line for bad input; each change stored
and listed with who made it (`cli:<login>`) and when."""

import getpass
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.access.keys import check_key, create_key, keys_t
from halo_platform.cli import cli

HALO = str(Path(sys.executable).with_name("halo"))
KEY = re.compile(r"halo_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
ACTOR = f"cli:{getpass.getuser()}"
WHEN = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"  # UTC, saying so


def halo(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([HALO, *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_a_key_is_printed_once_stored_as_a_hash_and_never_listed(halo_env, store) -> None:  # noqa: ANN001
    made = halo("keys", "create", "billing", "--scope", "messages:send", "--scope", "messages:read", "--expires", "2099-01-01")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert KEY.fullmatch(key), made.stdout
    with store.read() as conn:
        row = conn.execute(sa.select(keys_t)).one()
    assert row.hash == hashlib.sha256(key.encode()).hexdigest() and key not in str(tuple(row))
    assert row.scopes == ["messages:read", "messages:send"] and row.expires_at.year == 2099

    listed = halo("keys", "list")
    assert listed.returncode == 0 and "billing" in listed.stdout and row.prefix in listed.stdout
    secret = key.split("_", 2)[2]
    assert secret not in listed.stdout and row.hash not in listed.stdout and key not in listed.stdout + listed.stderr
    assert "active" in listed.stdout and "messages:read,messages:send" in listed.stdout

    assert check_key(store, key).name == "billing"
    assert re.search(rf"created={WHEN} by {ACTOR}\b", listed.stdout) and "revoked=" not in listed.stdout
    assert halo("keys", "revoke", "billing").returncode == 0
    assert check_key(store, key).refused == "API key revoked"
    with store.read() as conn:
        assert conn.execute(sa.select(keys_t.c.revoked_by)).scalar_one() == ACTOR
    assert re.search(rf"billing .* revoked .* revoked={WHEN} by {ACTOR}$", halo("keys", "list").stdout, re.M)


def test_bad_key_commands_are_one_error_line(halo_env, store) -> None:  # noqa: ANN001
    create_key(store, "taken", ["admin"])
    cases = [
        (("keys", "create", "x", "--scope", "messages:write"), "error: scope: unknown 'messages:write'"),
        (("keys", "create", "taken", "--scope", "admin"), "error: an active key named 'taken' exists; revoke it first"),
        (("keys", "create", "old", "--scope", "admin", "--expires", "2001-01-01"), "error: expires: 2001-01-01 is not in the future"),
        (("keys", "create", "bad name", "--scope", "admin"), "error: name: 1-100 letters"),
        (("keys", "create", "x", "--scope", "admin", "--rate", "0"), "error: rate: must be a number of requests per second"),
        (("keys", "revoke", "nobody"), "error: no active key named 'nobody'"),
        (("users", "create", "ann", "--role", "viewer"), "error: password: at least 12 characters"),
        (("users", "create", "ann", "--role", "boss"), "error: Invalid value for '--role'"),
        (("users", "disable", "nobody"), "error: no user named 'nobody'"),
    ]
    for args, expected in cases:  # in process (the same `halo` root): fifteen interpreters would cost 30 s
        done = CliRunner().invoke(cli, list(args), input="short\n")
        assert done.exit_code == 2, (args, done.stdout, done.stderr)
        assert done.stderr.startswith(expected) and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, (args, done.stderr)
        assert done.stdout == ""


def test_users_are_created_from_stdin_listed_and_disabled(halo_env, store) -> None:  # noqa: ANN001
    password = "correct horse battery staple"
    done = halo("users", "create", "rina", "--role", "operator", stdin=password + "\n")
    assert done.returncode == 0 and done.stdout.strip() == "created rina (operator)", done.stderr
    assert halo("users", "create", "rina", "--role", "viewer", stdin=password + "\n").stderr.strip() == "error: a user named 'rina' exists"
    listed = halo("users", "list").stdout
    assert re.search(rf"rina\s+operator\s+active\s+created={WHEN} by {ACTOR}$", listed, re.M), listed
    assert password not in listed and "argon2" not in listed
    with store.read() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM users WHERE name = 'rina'")).scalar_one()
    assert stored.startswith("$argon2id$") and password not in stored
    assert halo("users", "disable", "rina").stdout.strip() == "disabled rina"
    listed = halo("users", "list").stdout
    assert re.search(rf"rina\s+operator\s+disabled\s+created={WHEN} by {ACTOR}  disabled={WHEN} by {ACTOR}$", listed, re.M), listed
    with store.read() as conn:
        row = conn.execute(sa.text("SELECT created_by, disabled_by FROM users WHERE name = 'rina'")).one()
    assert tuple(row) == (ACTOR, ACTOR)


def test_a_password_on_stdin_that_is_not_utf8_is_one_error_line_and_no_user(halo_env, store) -> None:  # noqa: ANN001
    """Bytes that are not UTF-8 reach Python as lone surrogates, which argon2 cannot encode: the
    command printed a traceback. It must be one `error:` line, a non-zero exit and no user."""
    done = subprocess.run([HALO, "users", "create", "nadia", "--role", "viewer"], input=b"long enough \xff\xfe password\n",
                          capture_output=True, timeout=120)
    stderr = done.stderr.decode()
    assert done.returncode != 0 and "Traceback" not in stderr, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error: password:"), stderr
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM users")).scalar_one() == 0
