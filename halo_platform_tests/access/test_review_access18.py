"""Review of access.md, eighteenth pass: what an operator reads of the API keys' rate limits."""

from __future__ import annotations

import re

import pytest

from halo_platform.access.keys import create_key
from halo_platform.cli import cli
from halo_platform.core.definitions import STORE


def _keys_list(capsys: pytest.CaptureFixture[str]) -> list[str]:
    with pytest.raises(SystemExit) as exited:
        cli.main(args=["keys", "list"], prog_name="halo")
    assert exited.value.code == 0
    return capsys.readouterr().out.splitlines()


def test_halo_keys_list_shows_the_rate_limit_of_each_key(halo_env, capsys) -> None:  # noqa: ANN001
    """access.md makes the rate limit per key and configurable per key (`halo keys create --rate`),
    and a key past it is answered 429. `halo keys list` showed each key's scopes, dates and makers
    but not its rate: an operator asked why a partner's key gets 429s could not tell from the CLI
    whether it was made with `--rate 2` or runs at the service's default (the Access page shows it).
    Each line now says `rate=<requests>/s`, or `rate=default` (HALO_API_RATE)."""
    create_key(STORE, "slow-partner", ["messages:send"], rate_per_second=2.5)
    create_key(STORE, "reminders", ["messages:send"])
    slow, reminders = (next(line for line in _keys_list(capsys) if line.startswith(name)) for name in ("slow-partner", "reminders"))
    assert re.search(r" rate=2\.5/s  expires=", slow), slow
    assert re.search(r" rate=default  expires=", reminders), reminders
