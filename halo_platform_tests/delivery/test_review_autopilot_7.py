"""Review of routing, the autopilot and quiet hours (auto7): autopilot settings that could not
decide, and quiet hours for a recipient whose number or country spans several time zones."""

from __future__ import annotations

import datetime as dt

import pytest

from halo_platform.core.errors import HaloError
from halo_platform.delivery.config import parse_config

UTC = dt.UTC
SANDBOX = {"sb": {"kind": "sandbox", "channel": "sms", "countries": ["*"], "capabilities": ["*"]}}


@pytest.mark.parametrize(("setting", "value"), [
    ("ramp_percent", []),  # IndexError in every cycle once a deactivated provider answered: never brought back
    ("ramp_percent", [50, 25, 100]),  # falling steps
    ("ramp_percent", [0, 100]),  # "ramping" at 0 %
    ("ramp_percent", [10, 150]),
    ("window_minutes", "nan"),  # ValueError in every cycle
    ("window_minutes", 0),
    ("window_minutes", -5),
    ("window_minutes", 1e12),  # OverflowError in every cycle
    ("error_rate_threshold", 0),  # every provider deactivated without one error
    ("error_rate_threshold", -0.5),
    ("error_rate_threshold", 1.5),
    ("error_rate_threshold", "nan"),
    ("min_attempts", 0),
    ("min_attempts", -1),
    ("share_tolerance", -0.1),
    ("share_tolerance", "nan"),
])
def test_autopilot_settings_that_cannot_decide_are_refused_with_their_name(setting, value):
    with pytest.raises(HaloError, match=f"autopilot.{setting}"):
        parse_config({"providers": SANDBOX, "autopilot": {setting: value}}, "providers.yaml")


def test_sensible_autopilot_settings_are_kept():
    cfg = parse_config({"providers": SANDBOX, "autopilot": {"window_minutes": 0.5, "min_attempts": 1, "error_rate_threshold": 1,
                                                             "ramp_percent": [50], "share_tolerance": 0}}).autopilot
    assert (cfg.window_minutes, cfg.min_attempts, cfg.error_rate_threshold, cfg.ramp_percent, cfg.share_tolerance) == (0.5, 1, 1.0, (50.0,), 0.0)
    assert parse_config({"providers": SANDBOX}).autopilot.ramp_percent == (10, 25, 50, 100)

