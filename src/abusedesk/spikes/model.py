"""What the spike checks are told (rules) and what they find (spikes, bursts, collapses)."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SpikeRule:
    """When an hour's count is a spike rather than a swing.

    An hour fires when its count is at least *min_count*, at least *min_ratio* times the
    expected count, and the count model puts the chance of so many (or more) below
    *alpha*. The baseline is learnt from the last *history_days* days before the hours
    judged. *min_expected* stands in for a baseline of nothing (a series never seen
    before). *prior_strength* (in counts) is how much evidence a series needs before its
    own daily and weekly shape outweighs the shape of all the series judged with it.
    Dispersion (how much more a series swings than Poisson) is measured per series and
    kept between *dispersion_floor* and *dispersion_cap*.
    """

    history_days: int = 28
    alpha: float = 1e-5
    min_count: int = 5
    min_ratio: float = 3.0
    min_expected: float = 0.05
    prior_strength: float = 10.0
    dispersion_floor: float = 0.05
    dispersion_cap: float = 10.0

    def __post_init__(self) -> None:
        """Refuse rules that could never fire or always would."""
        if self.history_days < 1:
            raise ValueError(f"history_days must be at least 1, not {self.history_days}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must lie between 0 and 1, not {self.alpha}")
        if self.min_count < 1:
            raise ValueError(f"min_count must be at least 1, not {self.min_count}")
        if self.min_ratio < 1.0:
            raise ValueError(f"min_ratio must be at least 1, not {self.min_ratio}")
        if self.min_expected <= 0.0:
            raise ValueError(f"min_expected must be above 0, not {self.min_expected}")
        if self.prior_strength < 0.0:
            raise ValueError(f"prior_strength must not be negative, not {self.prior_strength}")
        if not 0.0 <= self.dispersion_floor <= self.dispersion_cap:
            raise ValueError("dispersion_floor must lie between 0 and dispersion_cap")


@dataclass(frozen=True)
class CollapseRule:
    """When a series' volume has collapsed: far below what it usually brings.

    The last *window_hours* hours together must have been expected to hold at least
    *min_expected*, hold at most *max_ratio* of it, and be that low by chance less often
    than *alpha*.
    """

    window_hours: int = 6
    min_expected: float = 30.0
    max_ratio: float = 0.2
    alpha: float = 1e-4

    def __post_init__(self) -> None:
        """Refuse rules that could never fire or always would."""
        if self.window_hours < 1:
            raise ValueError(f"window_hours must be at least 1, not {self.window_hours}")
        if self.min_expected <= 0.0:
            raise ValueError(f"min_expected must be above 0, not {self.min_expected}")
        if not 0.0 <= self.max_ratio < 1.0:
            raise ValueError(f"max_ratio must lie in [0, 1), not {self.max_ratio}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must lie between 0 and 1, not {self.alpha}")


@dataclass(frozen=True)
class BurstRule:
    """When a new account's sending is a burst.

    An account younger than *new_account_days* bursts when one hour's messages reach
    *min_messages* and *factor* times its usual busy hour so far (the *busy_quantile*
    of its earlier hours with mail). An account with no earlier hour bursts on
    *min_messages* alone.
    """

    new_account_days: int = 14
    min_messages: int = 2_000
    factor: float = 10.0
    busy_quantile: float = 0.9

    def __post_init__(self) -> None:
        """Refuse rules that could never fire or always would."""
        if self.new_account_days < 1:
            raise ValueError(f"new_account_days must be at least 1, not {self.new_account_days}")
        if self.min_messages < 1:
            raise ValueError(f"min_messages must be at least 1, not {self.min_messages}")
        if self.factor < 1.0:
            raise ValueError(f"factor must be at least 1, not {self.factor}")
        if not 0.0 < self.busy_quantile <= 1.0:
            raise ValueError(f"busy_quantile must lie in (0, 1], not {self.busy_quantile}")


@dataclass(frozen=True)
class Spike:
    """One hour of one series far above its baseline.

    *index* is the series' row in the array judged; *series* its name when one was
    given. *probability* is the count model's chance of a count this high or higher in
    an ordinary hour; *score* is ``-log10(probability)`` (6 means one in a million).
    """

    index: int
    series: str
    hour: datetime
    observed: int
    expected: float
    probability: float
    score: float


@dataclass(frozen=True)
class Collapse:
    """A series whose last hours held far less than its baseline says they should."""

    index: int
    series: str
    since: datetime
    until: datetime
    observed: int
    expected: float
    probability: float
    score: float


@dataclass(frozen=True)
class Burst:
    """One hour in which a new account sent far more than it had so far."""

    index: int
    series: str
    hour: datetime
    sent: int
    usual: float
    age_hours: float
