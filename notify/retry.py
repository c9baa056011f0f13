"""The retry stage's loop: Alertmanager's backoff, bounded by the flush deadline.

Alertmanager drives attempts with cenkalti/backoff's ticker: the first attempt is immediate;
each following one waits a randomised interval that starts at 500ms and grows by 1.5x up to
60s (the un-randomised interval is capped; the randomised one is interval ± 50%). There is no
elapsed-time cap: only the flush context's deadline ends the loop. The ticker starts the next
interval when an attempt *starts*, so an attempt slower than the interval is followed
immediately by the next one. We keep that timing.

The deadline comes from the caller's trio cancel scope (`trio.current_effective_deadline()`,
set by the aggregation group to max(group_interval, 10s) + position x peer_timeout). When the
next attempt could not start before it, the loop gives up at once instead of sleeping into the
cancellation; a send still in flight at the deadline is cancelled by the caller's scope.

Retry-After (our improvement, Alertmanager issue 2111): when a retryable error carries the
server's requested delay, the next attempt starts no earlier than that delay after the failed
attempt ended. If that moment is past the flush deadline the loop gives up at once, and the
next flush tries again; the delay is capped at MAX_RETRY_AFTER_SECONDS whatever the deadline.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from collections.abc import Awaitable, Callable

import trio

from notify.errors import NotifyError, PermanentError

logger = logging.getLogger("notify.retry")

# cenkalti/backoff's defaults, which Alertmanager uses unchanged.
INITIAL_INTERVAL_SECONDS = 0.5
INTERVAL_MULTIPLIER = 1.5
RANDOMIZATION_FACTOR = 0.5
MAX_INTERVAL_SECONDS = 60.0
# The longest Retry-After we honour: a server asking for more (or a misparsed date) must not
# park a notification for hours; one hour is well past any real rate-limit window.
MAX_RETRY_AFTER_SECONDS = 3600.0


class ExponentialBackoff:
    """The sequence of waits between attempts; randomness from an injected `random.Random`."""

    def __init__(
        self,
        rng: random.Random,
        *,
        initial_seconds: float = INITIAL_INTERVAL_SECONDS,
        multiplier: float = INTERVAL_MULTIPLIER,
        randomization_factor: float = RANDOMIZATION_FACTOR,
        max_seconds: float = MAX_INTERVAL_SECONDS,
    ) -> None:
        self._rng = rng
        self._current = initial_seconds
        self._multiplier = multiplier
        self._randomization_factor = randomization_factor
        self._max = max_seconds

    @property
    def current_interval(self) -> float:
        """The un-randomised interval the next delay is drawn around."""
        return self._current

    def next_delay(self) -> float:
        delta = self._randomization_factor * self._current
        low = self._current - delta
        delay = low + self._rng.random() * (2 * delta)
        if self._current >= self._max / self._multiplier:
            self._current = self._max
        else:
            self._current *= self._multiplier
        return delay


@dataclasses.dataclass(frozen=True, slots=True)
class RetryOutcome:
    succeeded: bool
    attempts: int
    error: NotifyError | None = None
    # Alertmanager's wording: "<receiver>/<type>[<i>]: notify retry canceled ... after N attempts: <err>"
    message: str = ""


# Called after each attempt with its duration in seconds and whether it failed.
AttemptObserver = Callable[[float, bool], None]


async def retry_until_done(
    attempt: Callable[[], Awaitable[None]],
    *,
    backoff: ExponentialBackoff,
    label: str,
    on_attempt: AttemptObserver | None = None,
) -> RetryOutcome:
    """Run `attempt` until it succeeds, fails permanently, or the next try would start after
    the caller's deadline. `label` is `receiver/type[index]` for messages."""
    deadline = trio.current_effective_deadline()
    attempts = 0
    last_error: NotifyError | None = None
    while True:
        started = trio.current_time()
        # The ticker draws the next interval when a tick is taken, i.e. as this attempt starts.
        delay = backoff.next_delay()
        attempts += 1
        failed = True
        try:
            await attempt()
            failed = False
        except NotifyError as error:
            attempt_error: NotifyError = error
        except trio.Cancelled:
            logger.warning(
                "%s: notify retry canceled after %d attempts: %s",
                label,
                attempts,
                last_error or "context deadline exceeded",
            )
            raise
        except Exception as unexpected:  # a bug in one integration must not take down the others
            logger.exception("%s: integration failed unexpectedly", label)
            attempt_error = PermanentError(f"internal error: {unexpected!r}")
        finally:
            if on_attempt is not None:
                on_attempt(trio.current_time() - started, failed)
        if not failed:
            if attempts > 1:
                logger.info("%s: Notify success attempts=%d", label, attempts)
            return RetryOutcome(succeeded=True, attempts=attempts)

        if not attempt_error.retryable:
            return RetryOutcome(
                succeeded=False,
                attempts=attempts,
                error=attempt_error,
                message=(
                    f"{label}: notify retry canceled due to unrecoverable error "
                    f"after {attempts} attempts: {attempt_error}"
                ),
            )
        if last_error is None or str(last_error) != str(attempt_error):
            logger.warning(
                "%s: Notify attempt failed, will retry later attempts=%d err=%s",
                label,
                attempts,
                attempt_error,
            )
        last_error = attempt_error

        next_start = max(started + delay, trio.current_time())
        if attempt_error.retry_after is not None:
            requested = min(attempt_error.retry_after, MAX_RETRY_AFTER_SECONDS)
            next_start = max(next_start, trio.current_time() + requested)
        if math.isfinite(deadline) and next_start >= deadline:
            return RetryOutcome(
                succeeded=False,
                attempts=attempts,
                error=last_error,
                message=f"{label}: notify retry canceled after {attempts} attempts: {last_error}",
            )
        await trio.sleep_until(next_start)


__all__ = [
    "INITIAL_INTERVAL_SECONDS",
    "INTERVAL_MULTIPLIER",
    "MAX_INTERVAL_SECONDS",
    "MAX_RETRY_AFTER_SECONDS",
    "RANDOMIZATION_FACTOR",
    "ExponentialBackoff",
    "RetryOutcome",
    "retry_until_done",
]
