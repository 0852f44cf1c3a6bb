"""`halo delivery providers` shows each provider's state, weight and error rate (delivery.md); the
weight column was missing: a provider's weights were only in `weights show`."""

from __future__ import annotations

from click.testing import CliRunner

from halo_platform.cli import cli


def _table(halo_env) -> dict[str, list[str]]:  # noqa: ANN001
    done = CliRunner().invoke(cli, ["delivery", "providers"])
    assert done.exit_code == 0, done.output
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["provider", "kind", "channel", "state", "factor", "attempts", "errors", "share", "weight", "(rule)", "reason"], header
    return {row.split()[0]: row for row in rows}


def test_each_provider_shows_its_weight_in_each_rule_it_serves(halo_env) -> None:  # noqa: ANN001
    rows = _table(halo_env)
    assert "1 sms/*/*, 70 sms/*/TEXT" in rows["sandbox_sms_a"]
    assert "30 sms/*/TEXT" in rows["sandbox_sms_b"] and "sms/*/*" not in rows["sandbox_sms_b"]
    assert "60 email/*/*" in rows["sandbox_email_a"] and "1 push/*/*" in rows["sandbox_push"]


def test_a_runtime_weight_edit_is_the_weight_shown(halo_env) -> None:  # noqa: ANN001
    edit = CliRunner().invoke(cli, ["delivery", "weights", "set", "sms/*/TEXT", "sandbox_sms_a=25", "sandbox_sms_b=75", "--reason", "test"])
    assert edit.exit_code == 0, edit.output
    rows = _table(halo_env)
    assert "25 sms/*/TEXT" in rows["sandbox_sms_a"] and "75 sms/*/TEXT" in rows["sandbox_sms_b"]
