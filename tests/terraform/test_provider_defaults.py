"""The provider plans the platform's defaults for every knob a configuration leaves out, so the two must
agree, or a second plan would never be empty."""

from __future__ import annotations

from control_plane.deployment_configs import Knobs
from control_plane.monitoring import ScheduleSpec, Thresholds
from terraform.provider.resources import deployment_config, monitoring


def test_deployment_config_defaults_are_the_platforms() -> None:
    assert deployment_config.DEFAULTS == Knobs().model_dump()


def test_monitoring_defaults_and_thresholds_are_the_platforms() -> None:
    assert monitoring.DEFAULT_MAX_CATCH_UP == ScheduleSpec(cron="@hourly", window="1h").max_catch_up
    assert set(monitoring.THRESHOLDS) == set(Thresholds.model_fields)
