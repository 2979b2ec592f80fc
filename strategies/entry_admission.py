"""Whether a declared cascade may open a trade: the guide's protections, asked in order.

One concern: the rules between a cascade of
:class:`~liqcascade.strategies.cascade_mm.CascadeMarketMaker` and its entry order - one position
per symbol, the node's own rules (kill switch, exposure, maintenance windows), the cooldown,
trading hours and blackouts, the account-wide cap on open symbols and the account-wide loss
limits. The first rule that refuses names the reason the cascade is skipped. The session and
loss-limit arithmetic itself is framework-free, in :mod:`liqcascade.strategies.trading_gate`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nautilus_trader.model.identifiers import InstrumentId

from liqcascade.strategies.cascade_detector import Cascade
from liqcascade.strategies.trading_gate import LossLimits
from liqcascade.strategies.trading_gate import SessionRules
from liqcascade.strategies.trading_gate import parse_utc

if TYPE_CHECKING:
    from liqcascade.strategies.cascade_mm import CascadeMarketMaker

    #: ``gate(strategy, now_ns) -> reason | None``: a rule a node adds to its strategies.
    EntryGate = Callable[[CascadeMarketMaker, int], str | None]

NS_PER_S = 1_000_000_000


class EntryAdmission:
    """
    The rules a cascade must pass before the host strategy places an entry.

    Parameters
    ----------
    host : CascadeMarketMaker
        The strategy asking (its trade, cooldown, cache, portfolio and loss records).

    """

    def __init__(self, host: CascadeMarketMaker) -> None:
        config = host.config
        self.host = host
        self.sessions = SessionRules(
            trading_hours=tuple(config.trading_hours) if config.trading_hours else None,
            skip_weekends=config.skip_weekends,
            blackouts=tuple((parse_utc(a), parse_utc(b)) for a, b in config.blackouts or []),
        )
        self.loss_limits = LossLimits(config.daily_loss_limit, config.weekly_loss_limit)
        # Node-level rules (kill switch, account-wide exposure, maintenance windows), added by
        # the node and kept across resets.
        self.gates: list[EntryGate] = []

    def blocked(self, cascade: Cascade, now: int) -> str | None:
        """The reason ``cascade`` may not open a trade at ``now``; ``None`` if it may."""
        host = self.host
        if cascade.side is None:
            return "no dominant side (equal notional)"
        if host.trade.entry_id is not None or not host.portfolio.is_flat(host.instrument_id):
            return "position or entry already working"
        for gate in self.gates:  # the node's rules (kill switch first) take precedence
            reason = gate(host, now)
            if reason is not None:
                return reason
        if now < host._cooldown_until_ns:
            return f"cooldown for {(host._cooldown_until_ns - now) / NS_PER_S:.0f} s"
        reason = self.sessions.blocked(now)
        if reason is not None:
            return reason
        cap = host.config.max_open_symbols
        if cap is not None:
            exposed = self.exposed_instruments()
            if len(exposed) >= cap:
                return f"exposure cap: {len(exposed)} symbols open (max_open_symbols = {cap})"
        account = host.portfolio.account(host.instrument_id.venue)
        if account is None:
            return "no account"
        balance = account.balance_total(host.instrument.settlement_currency)
        closed = host.losses.closed_pnls(host._session_start_ns)
        return self.loss_limits.blocked(now, float(balance) if balance else 0.0, closed)

    def exposed_instruments(self) -> set[InstrumentId]:
        """Instruments with an open position or a working entry, any strategy's.

        An entry still waiting out ``order_latency_ms`` is not in the cache yet and not counted:
        two symbols' cascades within one latency of each other can both pass the cap.
        """
        cache = self.host.cache
        exposed = {p.instrument_id for p in cache.positions_open()}
        exposed |= {o.instrument_id for o in cache.orders_open() if not o.is_reduce_only}
        return exposed
