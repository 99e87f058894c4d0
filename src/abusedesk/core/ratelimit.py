"""Per-peer rate limits shared by every public intake channel (SMTP, the web form)."""

import threading
import time
from collections.abc import Callable


class PeerRateLimiter:
    """Let each peer send a burst of messages, refilled at a steady rate (a token bucket)."""

    def __init__(
        self,
        *,
        per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_peers: int = 10_000,
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self.max_peers = max_peers
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, peer: str) -> bool:
        """Take one message from *peer*'s bucket; tell whether there was one to take."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(peer, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.per_second)
            allowed = tokens >= 1.0
            self._buckets[peer] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > self.max_peers:
                self._forget_full(now)
            return allowed

    def _forget_full(self, now: float) -> None:
        # A peer whose bucket has refilled is indistinguishable from one never seen.
        for peer, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.per_second >= self.burst:
                del self._buckets[peer]
