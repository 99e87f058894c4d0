"""The pumping check: traffic unlike the account's that nobody receives or uses."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from abusedesk.anomalies.model import DestinationTotals, SmsHour, SmsTotals
from abusedesk.anomalies.sms import SmsPolicy, SmsReason, assess_account, usual_countries
from abusedesk.config import ActivitySettings

POLICY = SmsPolicy()
# Four weeks of an OTP sender in the US and the UK: 200 texts a day, 70% of codes used.
USUAL = SmsTotals(
    hours=28 * 24,
    by_country={
        "US": DestinationTotals(sent=4_000, delivered=3_900, tracked=4_000, converted=2_800),
        "GB": DestinationTotals(sent=1_600, delivered=1_560, tracked=1_600, converted=1_100),
    },
    by_range={"+1202": DestinationTotals(sent=4_000), "+4477": DestinationTotals(sent=1_600)},
    originations=frozenset({"+12025550100"}),
)


def _window(
    countries: dict[str, tuple[int, int, int]], ranges: dict[str, int] | None = None
) -> SmsTotals:
    """Return a day's window: country -> (sent, delivered, converted), all tracked."""
    return SmsTotals(
        hours=24,
        by_country={
            c: DestinationTotals(sent=s, delivered=d, tracked=s, converted=v)
            for c, (s, d, v) in countries.items()
        },
        by_range={r: DestinationTotals(sent=n) for r, n in (ranges or {}).items()},
        originations=frozenset({"+12025550100"}),
    )


def test_a_usual_day_raises_nothing() -> None:
    """Texts to the usual countries, delivered and used, are not pumping."""
    window = _window({"US": (150, 146, 105), "GB": (60, 58, 41)})

    assert assess_account("ac-1", USUAL, window, POLICY) is None


def test_pumping_to_unusual_destinations_is_flagged() -> None:
    """A surge to countries never served, barely delivered and never used, is pumping."""
    window = _window(
        {"US": (150, 146, 105), "LV": (2_000, 700, 3), "GM": (1_500, 500, 1)},
        {"+37126": 2_000, "+22070": 1_500},
    )

    verdict = assess_account("ac-1", USUAL, window, POLICY)

    assert verdict is not None
    assert verdict.codes == (
        SmsReason.UNUSUAL_DESTINATIONS,
        SmsReason.RATE,
        SmsReason.LOW_CONVERSION,
        SmsReason.LOW_DELIVERY,
    )
    assert verdict.countries == ("LV", "GM")


def test_serving_a_new_country_well_is_not_pumping() -> None:
    """A new country whose codes are delivered and used is growth, not fraud."""
    window = _window({"US": (150, 146, 105), "DE": (400, 390, 280)})

    assert assess_account("ac-1", USUAL, window, POLICY) is None


def test_a_campaign_day_to_usual_countries_is_not_pumping() -> None:
    """Ten times the usual rate to the usual countries, delivered, is one reason only."""
    window = _window({"US": (1_500, 1_460, 1_000), "GB": (500, 490, 330)})

    assert assess_account("ac-1", USUAL, window, POLICY) is None


def test_pumped_history_never_becomes_usual() -> None:
    """Destinations whose codes were never used stay unusual however long they ran."""
    pumped = SmsTotals(
        hours=28 * 24,
        by_country={"XT": DestinationTotals(sent=50_000, delivered=20_000, tracked=50_000)},
    )

    assert usual_countries(pumped, POLICY) == set()


def test_untracked_traffic_counts_delivery() -> None:
    """Without conversions, a country with healthy delivery is usual, and a poor one is not."""
    baseline = SmsTotals(
        hours=28 * 24,
        by_country={
            "US": DestinationTotals(sent=1_000, delivered=970),
            "MV": DestinationTotals(sent=1_000, delivered=300),
        },
    )

    assert usual_countries(baseline, POLICY) == {"US"}


def test_high_risk_ranges_are_a_reason_of_their_own() -> None:
    """Texts to international premium ranges count, even in a usual country's volume."""
    window = SmsTotals(
        hours=24,
        by_country={"XT": DestinationTotals(sent=300, delivered=90)},
        by_range={"+88213": DestinationTotals(sent=300, delivered=90)},
    )

    verdict = assess_account("ac-1", None, window, POLICY)

    assert verdict is not None
    assert SmsReason.HIGH_RISK_RANGES in verdict.codes
    assert verdict.ranges == ("+88213",)


def test_too_few_texts_tell_nothing() -> None:
    """Below the minimum volume nothing is judged, however odd."""
    window = _window({"LV": (50, 5, 0)})

    assert assess_account("ac-1", USUAL, window, POLICY) is None


def test_a_bad_high_risk_range_is_refused() -> None:
    """A configured range that is not + and digits fails at once."""
    with pytest.raises(ValueError, match="high-risk ranges"):
        SmsPolicy(high_risk_ranges=("882",))


def test_impossible_sms_figures_are_named() -> None:
    """More delivered than sent, and a country that is no ISO code, are named."""
    row = SmsHour(
        "ac-1", "+12025550100", datetime(2026, 3, 1, 10, tzinfo=UTC), "USA", "+1202", 5, 9
    )

    assert row.problems() == [
        "delivered (9) exceeds sent (5)",
        "destination country 'USA' is not an ISO code",
    ]


def test_unusual_traffic_into_high_risk_ranges_needs_no_poor_outcome() -> None:
    """Texts delivered to unusual countries and premium ranges are pumping even unmeasured."""
    window = SmsTotals(
        hours=24,
        by_country={
            "US": DestinationTotals(sent=150, delivered=146),
            "XT": DestinationTotals(sent=900, delivered=800),
        },
        by_range={"+1202": DestinationTotals(sent=150), "+88213": DestinationTotals(sent=900)},
    )

    verdict = assess_account("ac-1", USUAL, window, POLICY)

    assert verdict is not None
    assert verdict.codes == (
        SmsReason.UNUSUAL_DESTINATIONS,
        SmsReason.HIGH_RISK_RANGES,
        SmsReason.RATE,
    )


def test_settings_refuse_a_bad_high_risk_range() -> None:
    """A configured range that is not + and digits is refused when settings are read."""
    with pytest.raises(ValidationError, match="a number range is \\+ and digits"):
        ActivitySettings(sms_high_risk_ranges=["882"])
