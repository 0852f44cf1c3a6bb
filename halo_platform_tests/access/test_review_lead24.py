"""`halo keys` refusals a review found: a number option read by Python's float() took other scripts'
digits and forms no user means (`--rate ١٢` made a key limited to 12/s, `--overlap-hours 1_0` ten
hours), and an unknown scope was repeated whole (`--scope <10 kB>`: a 10,115-character line)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from halo_platform.access.keys import list_keys
from halo_platform.cli import cli


def _run(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(cli, list(args))
    return done.exit_code, done.stdout, done.stderr


@pytest.mark.parametrize("rate", ["١٢", "１２", "1_2", "1e3", "inf", "nan", "-5", " 12", "0x10"])
def test_a_rate_not_written_in_digits_is_one_error_line_and_no_key(halo_env, store, rate) -> None:  # noqa: ANN001
    code, out, err = _run("keys", "create", "partner", "--scope", "availability:read", "--rate", rate)
    assert code == 2 and out == "" and err.count("\n") == 1, (rate, out, err)
    assert err.startswith("error: Invalid value for '--rate'") and "digits 0-9" in err, err
    assert list_keys(store) == []


@pytest.mark.parametrize("hours", ["٢", "1_0", "1e1", "nan"])
def test_an_overlap_not_written_in_digits_is_one_error_line_and_the_key_stays(halo_env, store, hours) -> None:  # noqa: ANN001
    assert _run("keys", "create", "partner", "--scope", "availability:read")[0] == 0
    code, out, err = _run("keys", "rotate", "partner", "--overlap-hours", hours)
    assert code == 2 and out == "" and err.startswith("error: Invalid value for '--overlap-hours'") and "digits 0-9" in err, err
    assert len(list_keys(store)) == 1


@pytest.mark.parametrize(("rate", "stored"), [("12", 12.0), ("2.5", 2.5), ("0.5", 0.5)])
def test_a_rate_in_digits_is_taken(halo_env, store, rate, stored) -> None:  # noqa: ANN001
    code, out, err = _run("keys", "create", "partner", "--scope", "availability:read", "--rate", rate)
    assert code == 0 and out.startswith("halo_"), err
    assert [k["rate_per_second"] for k in list_keys(store)] == [stored]


def test_an_unknown_scope_is_repeated_cut(halo_env, store) -> None:  # noqa: ANN001
    code, out, err = _run("keys", "create", "partner", "--scope", "x" * 10_000)
    assert code == 2 and err.count("\n") == 1 and len(err) < 400, len(err)
    assert err.startswith("error: scope: unknown 'xxx") and "…" in err and "known: " in err


def test_a_process_dying_after_a_forms_token_is_recorded_leaves_the_form_free_to_send_again(halo_env, store) -> None:  # noqa: ANN001
    """The Control Center's one-time token was recorded in a transaction of its own, then the key was
    made in another: a process dying between them (a deploy, the OOM killer) left the token recorded
    and no key, and sending the form again said "already sent" while nothing had been made. The
    token is now recorded in the change's own transaction: no change, no token."""
    import os
    import subprocess
    import sys

    from starlette.datastructures import FormData

    from halo_platform.ui.once import form_token, sent_once

    token = form_token()
    dies = ("import os\nfrom starlette.datastructures import FormData\nfrom halo_platform.core.store import StoreResource\n"
            "from halo_platform.ui.once import sent_once\n"
            f"with sent_once(StoreResource(db_url={store.url!r}), FormData({{'form_token': {token!r}}}), 'ada', 'again'):\n"
            "    os._exit(9)  # the process dies before the change: no exception, no clean-up\n")
    died = subprocess.run([sys.executable, "-c", dies], env=os.environ, timeout=120, capture_output=True, text=True)
    assert died.returncode == 9, died.stderr
    with sent_once(store, FormData({"form_token": token}), "ada", "again") as conn:  # sent again: it acts
        assert conn is not None  # the transaction the change is made in
