"""Who holds a lease: the name a claimer gives `claim_due_sources` and `claim_alerts`.

A lease records its holder so that a process restarted after a crash can release what its
previous incarnation held (`Store.release_leases`) instead of waiting for those leases to run
out. The name must be the same across restarts of one process and differ between processes
that run at the same time: two live processes sharing a name would release each other's work.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from bot.errors import LeaseLost

# The holder of leases taken by callers that name none.
DEFAULT_HOLDER = "unnamed"


def default_holder(role: str = "run") -> str:
    """This process's holder name for a role.

    "myhost:run" and "myhost:gateway" (one of each per host): stable across restarts, so a
    restart releases its own leases at once. Workers run several to a host, so theirs also
    carries the process id ("myhost:worker:4242"): unique, but a restarted worker's leases
    then run out instead (unless the operator names each worker, SIGNALWATCH_HOLDER). In a
    container the process id is the same at each restart, so there it is stable too. A
    one-shot `run --once` beside a running `run` of the same host must be given another name
    (SIGNALWATCH_HOLDER), or its start releases the daemon's leases.
    """
    if not role:
        raise ValueError("a lease holder's role must not be empty")
    if role == "worker":
        return f"{socket.gethostname()}:{role}:{os.getpid()}"
    return f"{socket.gethostname()}:{role}"


def check_holder(holder: str) -> None:
    """Refuse an empty holder name (ValueError): its leases could never be told apart."""
    if not holder:
        raise ValueError("a lease holder must not be empty")


@dataclass(frozen=True, slots=True)
class Lease:
    """A claim on a source as its claimer holds it: who, and which of its leases (the token).

    Writes that carry it (`commit_poll`, the fetch outcomes) commit only while it is still the
    source's current lease and has not run out; otherwise they raise `LeaseLost`.
    """

    holder: str
    token: int


def lease_lost(source_id: str, lease: Lease) -> LeaseLost:
    """The error a write under a source lease that ran out or was taken over raises."""
    return LeaseLost(
        f"the lease of source {source_id!r} (token {lease.token}) ran out or was taken over:"
        " its next holder polls it again"
    )
