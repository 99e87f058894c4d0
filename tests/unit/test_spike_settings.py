"""Spike monitor settings: read from the environment, refusing what it cannot use."""

import pytest
from pydantic import ValidationError

from abusedesk.config import Settings, SpikeSettings


def test_spike_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """ABUSEDESK_SPIKES__... sets the spike monitor's settings."""
    monkeypatch.setenv("ABUSEDESK_SPIKES__DIMENSIONS", '["account", "reporter"]')
    monkeypatch.setenv("ABUSEDESK_SPIKES__MIN_COUNT", "8")
    spikes = Settings().spikes
    assert (spikes.dimensions, spikes.min_count) == (["account", "reporter"], 8)


def test_an_unknown_series_is_refused_naming_the_known() -> None:
    """A dimension the monitor does not keep is refused with the list of known ones."""
    with pytest.raises(ValidationError, match="known: account, reporter, provider"):
        SpikeSettings(dimensions=["account", "planet"])


def test_one_domain_in_two_providers_is_refused() -> None:
    """A recipient domain can belong to one destination provider only."""
    with pytest.raises(ValidationError, match=r"hotmail\.com is in both"):
        SpikeSettings(provider_groups={"microsoft": ["hotmail.com"], "other": ["HOTMAIL.com."]})
