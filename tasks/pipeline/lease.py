"""One writer per output: a run holds a lease on `output.uri` (lease.json) while it runs.

The lease is taken by an atomic create (see `storage.conditional`), renewed by a heartbeat thread
every third of its time to live, and released at the end, also when the run fails. A second run is
refused with `LeaseHeld` naming the holder, its host and when the lease expires, or waits for it
(`wait` seconds at most). A lease past its expiry belongs to a run that died: it is taken over by a
compare-and-swap on the version that was read, so of two runs taking over at once exactly one wins.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from tasks.core.errors import LeaseHeld, LeaseLost, StorageError
from tasks.storage.conditional import ConditionalObject, Versioned, conditional_object
from tasks.storage.fs import Storage
from tasks.storage.layout import LEASE_PATH

__all__ = ["LEASE_SECONDS", "LeaseRecord", "OutputLease", "hold_output_lease", "output_lease"]

logger = logging.getLogger(__name__)

# How long a lease lives without a heartbeat: a crashed run blocks its output this long at most.
# Renewed every third of it, so two missed heartbeats in a row still leave the lease valid.
LEASE_SECONDS = 60.0
# How often a waiting run looks at the lease again.
_WAIT_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class LeaseRecord:
    """What lease.json holds. Times are epoch seconds (hosts compare them, so wall clock, not monotonic)."""

    holder: str
    host: str
    pid: int
    token: str
    acquired_at: float
    heartbeat_at: float
    expires_at: float

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> LeaseRecord | None:
        """The record, or None for bytes that are not one (a creator that died mid-write)."""
        try:
            raw = json.loads(data)
            return cls(**{name: raw[name] for name in cls.__dataclass_fields__})
        except (ValueError, TypeError, KeyError):
            return None

    def describe(self) -> str:
        expires = datetime.fromtimestamp(self.expires_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"run {self.holder} on host {self.host} (pid {self.pid}); the lease expires at {expires}"


class OutputLease:
    """The lease of one run on one output.

    Args:
        storage: the output root.
        run_id: this run, recorded as the holder.
        ttl: seconds the lease lives without a heartbeat.
        now: the wall clock (tests pass their own).
    """

    def __init__(
        self, storage: Storage, run_id: str, *, ttl: float = LEASE_SECONDS, now: Callable[[], float] = time.time
    ) -> None:
        self.storage = storage
        self.run_id = run_id
        self.ttl = ttl
        self.now = now
        self.object: ConditionalObject = conditional_object(storage, LEASE_PATH)
        self._token = secrets.token_hex(8)
        self._version: str | None = None
        self._record: LeaseRecord | None = None

    @property
    def held(self) -> LeaseRecord | None:
        """This run's record while it holds the lease."""
        return self._record

    def acquire(self) -> LeaseRecord:
        """Take the lease: create it, or take over an expired one.

        Raises:
            LeaseHeld: another run holds a lease that has not expired.
            StorageError: the lease could not be read or written.
        """
        record = self._fresh()
        version = self.object.create(record.to_bytes())
        if version is None:
            current = self.object.read()
            version = self._take_over(current, record) if current is not None else self.object.create(record.to_bytes())
        if version is None:
            raise self._refusal(self.object.read())
        self._version, self._record = version, record
        if not self.object.atomic:
            logger.warning(
                "output %s: this filesystem offers no atomic create; the lease is best effort", self.storage.uri
            )
        return record

    def acquire_waiting(self, wait: float, *, sleep: Callable[[float], None] = time.sleep) -> LeaseRecord:
        """Take the lease, waiting up to `wait` seconds while another run holds it.

        Raises:
            LeaseHeld: still held when the wait is over.
        """
        deadline, holder = self.now() + wait, None
        while True:
            try:
                return self.acquire()
            except LeaseHeld as refusal:
                left = deadline - self.now()
                if left <= 0:
                    raise
                if refusal.holder != holder:  # said once per holder, not every poll
                    holder = refusal.holder
                    logger.warning("%s; waiting (up to %.0f s more)", refusal, left)
                sleep(min(_WAIT_POLL_SECONDS, left))

    def renew(self) -> LeaseRecord:
        """Push the expiry forward (the heartbeat).

        Raises:
            LeaseLost: the lease is no longer this run's (it expired and another run took it over).
        """
        assert self._record is not None and self._version is not None, "renew() before acquire()"
        now = self.now()
        record = replace(self._record, heartbeat_at=now, expires_at=now + self.ttl)
        version = self.object.replace(record.to_bytes(), self._version)
        if version is None:
            current = LeaseRecord.from_bytes(self._read_data())
            self._record = self._version = None
            holder = current.describe() if current else "nobody"
            raise LeaseLost(
                f"the lease on {self.storage.uri} was lost: it is now held by {holder}. This run's heartbeat "
                f"stalled past the lease's expiry; stop writing and re-run once the other run is done",
                uri=self.storage.uri,
            )
        self._version, self._record = version, record
        return record

    def release(self) -> None:
        """Give the lease up (only if it is still this run's); never raises for a lease already gone."""
        if self._version is None:
            return
        version, self._version, self._record = self._version, None, None
        try:
            self.object.delete(version)
        except StorageError as error:
            logger.warning("could not release the lease on %s (%s); it expires by itself", self.storage.uri, error)

    def _fresh(self) -> LeaseRecord:
        now = self.now()
        return LeaseRecord(
            holder=self.run_id, host=socket.gethostname(), pid=os.getpid(), token=self._token,
            acquired_at=now, heartbeat_at=now, expires_at=now + self.ttl,
        )  # fmt: skip

    def _take_over(self, current: Versioned, record: LeaseRecord) -> str | None:
        found = LeaseRecord.from_bytes(current.data)
        if found is not None and found.token == self._token:
            return current.version  # our own create, answered 412 on a retried PUT
        if found is not None and found.expires_at > self.now() and not _gone(found):
            return None
        logger.warning(
            "output %s: taking over the lease of a run that %s (%s)",
            self.storage.uri,
            "is gone" if found is not None and found.expires_at > self.now() else "let it expire",
            found.describe() if found else "unreadable",
        )
        return self.object.replace(record.to_bytes(), current.version)

    def _refusal(self, current: Versioned | None) -> LeaseHeld:
        found = LeaseRecord.from_bytes(current.data) if current else None
        holder = found.describe() if found else "another run"
        return LeaseHeld(
            f"output {self.storage.uri} is in use by {holder}. Two runs on one output would pay twice for "
            f"the same jobs; wait for it to finish (retouch run --wait), or use another output.uri",
            uri=self.storage.uri,
            holder=found.holder if found else None,
            host=found.host if found else None,
            pid=found.pid if found else None,
            expires_at=found.expires_at if found else None,
        )

    def _read_data(self) -> bytes:
        current = self.object.read()
        return current.data if current else b""


def _gone(record: LeaseRecord) -> bool:
    """True when the holder ran on this host and its process no longer exists (a crash, a SIGKILL).

    A live process, a reused pid or another host all count as alive: the lease then waits out its expiry.
    """
    if record.host != socket.gethostname() or record.pid == os.getpid():
        return False
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by someone else
        return False
    return False


@contextmanager
def hold_output_lease(lease: OutputLease, *, wait: float = 0.0) -> Iterator[OutputLease]:
    """Hold `lease` for the block: acquired (waiting up to `wait` s), renewed by a heartbeat, released.

    Raises:
        LeaseHeld: another run holds the output (after waiting, if asked).
        LeaseLost: the block finished, but the heartbeat found the lease taken over meanwhile.
    """
    if wait > 0:
        lease.acquire_waiting(wait)
    else:
        lease.acquire()
    stop = threading.Event()
    lost: list[LeaseLost] = []
    beat = threading.Thread(target=_heartbeat, args=(lease, stop, lost), name="retouch-lease", daemon=True)
    beat.start()
    try:
        yield lease
    finally:
        stop.set()
        beat.join()
        lease.release()
    if lost:
        raise lost[0]


def _heartbeat(lease: OutputLease, stop: threading.Event, lost: list[LeaseLost]) -> None:
    while not stop.wait(lease.ttl / 3):
        try:
            lease.renew()
        except LeaseLost as error:
            logger.error("%s", error)
            lost.append(error)
            return
        except StorageError as error:  # a missed beat: the next one (or expiry) settles it
            logger.warning("lease heartbeat failed: %s", error)


def output_lease(
    storage: Storage, run_id: str, *, dry_run: bool = False, wait: float = 0.0
) -> AbstractContextManager[OutputLease | None]:
    """The lease a run holds on its output while it writes (none for a dry run, which writes nothing)."""
    if dry_run:
        return nullcontext()
    return hold_output_lease(OutputLease(storage, run_id), wait=wait)
