"""A member's budget: the run's `BudgetTracker` interface, reserving jobs out of blocks the coordinator grants."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date

from tasks.coordination.shares import Amount
from tasks.core.config import BudgetConfig
from tasks.core.models import EditJob
from tasks.costs import BudgetTracker, PriceTable, Quote, Reservation, Spend

__all__ = ["BLOCK_JOBS", "BlockSource", "SharedBudget"]

# A block holds room for this many jobs of the asking job's price: one round trip per this many jobs,
# and at most this many jobs' worth held idle by a process while others near the cap go without.
BLOCK_JOBS = 8

BlockSource = Callable[[str, Amount, Amount], "Amount | str"]  # (provider, want, least) -> block or refusal


class SharedBudget(BudgetTracker):
    """Reserves each job out of this process's block for its provider, asking for another when it runs out.

    Args:
        budget: the config's `budget` section (which caps apply; the coordinator holds their totals).
        table: the price table quotes come from.
        at: the date whose prices apply (the run's forecast date).
        source: asks the coordinator for a block.
        capped: whether a cap applies to a provider's jobs (if none, jobs need no block).
    """

    def __init__(
        self,
        budget: BudgetConfig,
        table: PriceTable,
        *,
        at: date,
        source: BlockSource,
        capped: Callable[[str], bool],
    ) -> None:
        super().__init__(budget, table, at=at)
        self._source = source
        self._capped = capped
        self._block_lock = threading.Lock()
        self._refill = threading.Lock()  # one request for a block at a time: the others then use it
        self._granted: dict[str, Amount] = {}
        self._used: dict[str, Amount] = {}  # settled spend
        self._reserved: dict[str, Amount] = {}  # quotes of jobs in flight

    def reserve(self, job: EditJob) -> Reservation:
        """Reserve the job's quote out of the process's block, taking a new block when it runs short."""
        quote = self.table.quote_job(job, self.at)
        if not self._capped(job.provider):
            self._move(self._reserved, job.provider, _amount(quote))
            return Reservation(job.job_key, job.provider, True, quote)
        if quote.credits is None or (quote.money is None and self._money_capped(job.provider)):
            reason = (f"budget: {job.provider} model {quote.model!r} has no known price and a budget cap is set, "
                      "so the job is not sent; add a price under pricing: or remove the cap")  # fmt: skip
            return Reservation(job.job_key, job.provider, False, quote, reason)
        refusal = self._take(job.provider, _amount(quote))
        return Reservation(job.job_key, job.provider, refusal is None, quote, refusal)

    def settle(self, job: EditJob, reserved: Reservation | None, actual_credits: float | None) -> Spend:
        """Replace the job's reservation by what it cost (see `BudgetTracker.settle`)."""
        quote = reserved.quote if reserved is not None else self.table.quote_job(job, self.at)
        credits = actual_credits if actual_credits is not None else quote.credits
        money = quote.money_for(credits)
        if reserved is not None and reserved.granted:
            self._move(self._reserved, job.provider, _amount(quote).scaled(-1))
        self._move(self._used, job.provider, Amount(credits or 0.0, money or 0.0))
        return Spend(credits or 0.0, money or 0.0, 1, int(credits is None or money is None))

    def release(self, reserved: Reservation) -> None:
        """Give back a reservation whose job was never sent."""
        if reserved.granted:
            self._move(self._reserved, reserved.provider, _amount(reserved.quote).scaled(-1))

    def accounts(self) -> tuple[dict[str, Amount], dict[str, Amount]]:
        """Cumulative settled spend and quotes in flight, by provider (the member's report)."""
        with self._block_lock:
            return dict(self._used), dict(self._reserved)

    def forfeit(self) -> None:
        """Drop every block's unused part (the coordinator took this process for dead and kept it)."""
        with self._block_lock:
            for provider in self._granted:
                self._granted[provider] = self._used.get(provider, Amount()) + self._reserved.get(provider, Amount())

    def _money_capped(self, provider: str) -> bool:
        own = self.budget.per_provider.get(provider)
        return self.budget.max_money is not None or (own is not None and own.max_money is not None)

    def _take(self, provider: str, cost: Amount) -> str | None:
        if self._take_local(provider, cost):
            return None
        with self._refill:
            if self._take_local(provider, cost):  # another job's refill may have brought room
                return None
            block = self._source(provider, cost.scaled(BLOCK_JOBS), cost)
            if isinstance(block, str):
                return block
            self._move(self._granted, provider, block)
            return None if self._take_local(provider, cost) else "budget: the block granted was used up at once"

    def _take_local(self, provider: str, cost: Amount) -> bool:
        with self._block_lock:
            used = self._used.get(provider, Amount()) + self._reserved.get(provider, Amount())
            if not (self._granted.get(provider, Amount()) - used).covers(cost):
                return False
            self._reserved[provider] = self._reserved.get(provider, Amount()) + cost
            return True

    def _move(self, book: dict[str, Amount], provider: str, amount: Amount) -> None:
        with self._block_lock:
            book[provider] = book.get(provider, Amount()) + amount


def _amount(quote: Quote) -> Amount:
    return Amount(quote.credits or 0.0, quote.money or 0.0)
