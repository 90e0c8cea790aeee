"""The one exception tree of signalwatch.

    SignalwatchError                 anything we raise on purpose
    ├── QueryError                   a query that does not parse or compile (column, expected)
    ├── WatchlistError               a watchlist that does not validate (all problems, file:line)
    ├── SourceError                  a source failed to give us entries
    │   ├── FetchError               transport problem, HTTP error status, body too large
    │   └── ParseError               the body is not a feed we can read
    ├── StoreError                   the database refused or is unreachable
    └── DeliveryError                a sink did not accept an alert
        └── PermanentDeliveryError   retrying will not help (deleted or forbidden channel)

Errors carry a message fit for a person: what went wrong and where.
"""

from __future__ import annotations


class SignalwatchError(Exception):
    """Base class of every error signalwatch raises on purpose."""


class QueryError(SignalwatchError):
    """A query that does not parse or compile.

    `column` is 1-based into the query text; `expected` says what the parser wanted there.
    """

    def __init__(self, message: str, column: int | None = None, expected: str | None = None):
        self.message = message
        self.column = column
        self.expected = expected
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" at column {self.column}" if self.column is not None else ""
        want = f" (expected {self.expected})" if self.expected else ""
        return f"{self.message}{where}{want}"


class WatchlistError(SignalwatchError):
    """A watchlist with one or more problems; `problems` lists each as `file:line: message`."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SourceError(SignalwatchError):
    """A source failed to give us entries; `status` is the HTTP status where there was one."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


class FetchError(SourceError):
    """Transport failure, HTTP error status, or a body over the size cap."""


class ParseError(SourceError):
    """The body was fetched but is not a feed we can read."""


class StoreError(SignalwatchError):
    """The store refused an operation or cannot be reached."""


class LeaseLost(StoreError):
    """A write for a claimed source came after its lease ran out or was taken over: the
    transaction is rolled back, and the source's next holder redoes the poll."""


class DeliveryError(SignalwatchError):
    """A sink did not accept an alert; it stays in the outbox and is retried."""


class PermanentDeliveryError(DeliveryError):
    """A sink will never accept this alert as addressed (deleted or forbidden channel)."""
