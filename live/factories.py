"""Factories for the node: the Bybit public-stream data client and the persistent paper venue.

:class:`BybitLiquidationClientFactory` registers
:class:`~liqcascade.live.liquidation_client.BybitLiquidationDataClient`;
:class:`PaperExecClientFactory`
registers :class:`PaperExecutionClient` (the framework's sandbox venue whose state survives a
restart). Exec-client factories must be registered in code
(``node.add_exec_client_factory``): a ``factory`` in a config file crashes ``node.build()`` in
nautilus_trader 1.231 (see ``liqcascade.live.node``).

From a config file
------------------
``TradingNodeConfig.parse(text)`` turns a data-client entry that has a ``path`` into an
``ImportableConfig``; the node builder instantiates its ``factory`` and decodes ``config`` into
the class named by ``path``. The key is the client id; keep it free of ``-`` (the builder keeps
only the part before the first ``-``). JSON::

    "data_clients": {
        "BYBIT_LIQ": {
            "path": "liqcascade.live.config:BybitLiquidationClientConfig",
            "factory": {"path": "liqcascade.live.factories:BybitLiquidationClientFactory"},
            "config": {
                "url": "wss://stream.bybit.com/v5/public/linear",
                "ping_interval_s": 20.0,
                "reconnect_initial_s": 0.5,
                "reconnect_max_s": 30.0,
                "dedupe_window": 10000
            }
        }
    }

TOML (read with ``tomllib``, then ``TradingNodeConfig.parse(json.dumps(...))``)::

    [data_clients.BYBIT_LIQ]
    path = "liqcascade.live.config:BybitLiquidationClientConfig"
    factory = { path = "liqcascade.live.factories:BybitLiquidationClientFactory" }

    [data_clients.BYBIT_LIQ.config]
    url = "wss://stream.bybit.com/v5/public/linear"
    ping_interval_s = 20.0
    reconnect_initial_s = 0.5
    reconnect_max_s = 30.0
    dedupe_window = 10000

In code: ``node.add_data_client_factory("BYBIT_LIQ", BybitLiquidationClientFactory)`` with
``data_clients={"BYBIT_LIQ": BybitLiquidationClientConfig(...)}``.

Strategies then subscribe with ``client_id=ClientId("BYBIT_LIQ")`` (``CascadeMarketMaker``'s
default ``liquidation_client_id``).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock
from nautilus_trader.common.component import MessageBus
from nautilus_trader.common.enums import LogColor
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.messages import GenerateOrderStatusReports
from nautilus_trader.execution.messages import GeneratePositionStatusReports
from nautilus_trader.execution.reports import ExecutionMassStatus
from nautilus_trader.execution.reports import OrderStatusReport
from nautilus_trader.execution.reports import PositionStatusReport
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.live.factories import LiveExecClientFactory
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.enums import PositionSide
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.model.enums import TriggerType
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import VenueOrderId
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity
from nautilus_trader.portfolio import PortfolioFacade

from liqcascade.live.config import BybitLiquidationClientConfig
from liqcascade.live.config import PaperExecClientConfig
from liqcascade.live.liquidation_client import BybitLiquidationDataClient
from liqcascade.strategies.cascade_mm import read_json
from liqcascade.strategies.cascade_mm import write_json_atomic

VENUE_STATE_VERSION = 1


class BybitLiquidationClientFactory(LiveDataClientFactory):
    """Create :class:`~liqcascade.live.liquidation_client.BybitLiquidationDataClient` instances."""

    @staticmethod
    def create(  # type: ignore[override]
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: BybitLiquidationClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> BybitLiquidationDataClient:
        """
        Return a new client.

        Parameters
        ----------
        loop : asyncio.AbstractEventLoop
            The node's event loop.
        name : str
            The client id (the node-config key, e.g. ``BYBIT_LIQ``).
        config : BybitLiquidationClientConfig
            The client's configuration.
        msgbus : MessageBus
            The node's message bus.
        cache : Cache
            The node's cache.
        clock : LiveClock
            The node's clock.

        Returns
        -------
        BybitLiquidationDataClient

        """
        if not isinstance(config, BybitLiquidationClientConfig):
            raise TypeError(
                f"{name}: expected BybitLiquidationClientConfig, got {type(config).__name__}"
            )
        return BybitLiquidationDataClient(
            loop=loop,
            client_id=ClientId(name),
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            config=config,
        )


class PaperExecutionClient(SandboxExecutionClient):
    """
    The framework's sandbox venue (fills simulated from the node's live trades), persistent.

    A plain sandbox forgets everything on restart, so a paper position would vanish while the
    strategy's state file still remembers it. This client keeps what a real venue keeps - open
    positions, working orders, balances - in ``state_path`` and brings it back through the same
    path as Bybit: the execution engine's startup reconciliation.

    * Saving: after every order, position and account event the engine publishes (the cache is
      up to date by then), and on disconnect; atomically. Nothing is written between start and
      the end of reconciliation, so a failed start cannot overwrite the saved venue.
    * Restoring: balances become the simulated account's starting balances; the reports below
      feed reconciliation, which re-creates the orders (claimed by the strategy that lists the
      instrument in ``external_order_claims``) and the net position (one inferred fill at
      ``avg_px_open``); once it has run, the orders go back into the simulated order book.
    * Working orders are reported as ``ACCEPTED`` for their open quantity (``filled_qty`` 0): a
      partial fill is already part of the position, and reporting it again would count it twice.
    * Venue order ids are random UUIDs (``use_random_ids``): the simulated venue restarts its
      counters, and a reused id would point at an order of the previous session.

    Parameters
    ----------
    loop, portfolio, msgbus, cache, clock
        The node's components.
    config : PaperExecClientConfig
        The configuration.

    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        portfolio: PortfolioFacade,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        config: PaperExecClientConfig,
    ) -> None:
        path = Path(config.state_path) if config.state_path else None
        saved = read_json(path) if path is not None else None
        if saved is not None:
            if saved.get("version") != VENUE_STATE_VERSION or saved.get("venue") != config.venue:
                raise ValueError(f"{path}: not a version 1 paper venue file for {config.venue}")
            balances = saved.get("balances") or config.starting_balances
            config = msgspec.structs.replace(config, starting_balances=list(balances))
        config = msgspec.structs.replace(config, use_random_ids=True)
        super().__init__(
            loop=loop,
            portfolio=portfolio,
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            config=config,
        )
        self._rebuild_exchange(config, portfolio)
        self._state_path = path
        self._saved: dict[str, Any] | None = saved
        # Until reconciliation has restored the saved venue, saving would overwrite it.
        self._restored = saved is None

    def _rebuild_exchange(self, config: PaperExecClientConfig, portfolio: PortfolioFacade) -> None:
        """
        The sandbox's simulated venue again, with the backtests' fill rules.

        nautilus_trader 1.231's sandbox builds its ``SimulatedExchange`` with a default fill
        model and no liquidity consumption: one 0.01 ETH print through a limit then fills the
        whole order, and a paper session reports fills no backtest (nor Bybit) would. The
        sandbox exposes neither option, so the exchange is rebuilt here with the same arguments
        plus ``fill_model`` (``prob_fill_on_limit`` 0 = conservative) and
        ``liquidity_consumption=True``.
        """
        from nautilus_trader.backtest.engine import SimulatedExchange
        from nautilus_trader.backtest.execution_client import BacktestExecClient
        from nautilus_trader.backtest.models import FillModel
        from nautilus_trader.backtest.models import LatencyModel
        from nautilus_trader.backtest.models import MakerTakerFeeModel
        from nautilus_trader.model.enums import book_type_from_str
        from nautilus_trader.model.objects import Money

        old = self.exchange
        self.exchange = SimulatedExchange(
            venue=old.id,
            oms_type=old.oms_type,
            account_type=old.account_type,
            starting_balances=[Money.from_str(b) for b in config.starting_balances],
            base_currency=old.base_currency,
            default_leverage=config.default_leverage,
            leverages=config.leverages or {},
            modules=[],
            portfolio=portfolio,
            msgbus=self._msgbus,
            cache=self._cache,
            clock=self.test_clock,
            fill_model=FillModel(prob_fill_on_limit=0.0 if config.fills == "conservative" else 1.0),
            fee_model=MakerTakerFeeModel(),
            latency_model=LatencyModel(0),
            book_type=book_type_from_str(config.book_type),
            frozen_account=config.frozen_account,
            bar_execution=config.bar_execution,
            trade_execution=config.trade_execution,
            reject_stop_orders=config.reject_stop_orders,
            support_gtd_orders=config.support_gtd_orders,
            support_contingent_orders=config.support_contingent_orders,
            use_position_ids=config.use_position_ids,
            use_random_ids=config.use_random_ids,
            use_reduce_only=config.use_reduce_only,
            use_message_queue=False,
            liquidity_consumption=True,  # one print's size fills at most once
        )
        self._client = BacktestExecClient(
            exchange=self.exchange, msgbus=self._msgbus, cache=self._cache, clock=self.test_clock
        )
        self.exchange.register_client(self._client)
        self.exchange.initialize_account()

    def on_data(self, data: Any) -> None:
        """Prints reach the simulated book without their aggressor side (as in backtests: with
        it, the trade-driven L1 book keeps a stale opposite side and fills resting limits at
        prices the market has left)."""
        if isinstance(data, TradeTick) and data.aggressor_side != AggressorSide.NO_AGGRESSOR:
            data = TradeTick(
                data.instrument_id,
                data.price,
                data.size,
                AggressorSide.NO_AGGRESSOR,
                data.trade_id,
                data.ts_event,
                data.ts_init,
            )
        super().on_data(data)

    def _cancel_market_remainder(self, event: Any) -> None:
        """The unfilled rest of a market order is cancelled, as Bybit does.

        With liquidity consumption the simulated venue fills a market order only up to what the
        prints offer and silently drops the rest, leaving the order "open" for ever. Bybit
        cancels the rest of a market order it cannot fill within its price band: report the
        same, so the strategy re-sends what is left and nothing waits on a phantom order.
        """
        if not isinstance(event, OrderFilled) or event.order_type != OrderType.MARKET:
            return
        order = self._cache.order(event.client_order_id)
        if order is None or not order.is_open or order.venue != self.venue:
            return
        working = {o.client_order_id for o in self.exchange.get_open_orders(order.instrument_id)}
        if order.client_order_id in working:
            return  # still working at the simulated venue
        self.generate_order_canceled(
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            ts_event=self._clock.timestamp_ns(),
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect the sandbox; listen for events (to save) and for reconciliation's end."""
        super().connect()
        self._msgbus.subscribe(topic="events.order.*", handler=self._cancel_market_remainder)
        if self._state_path is None:
            return
        for topic in ("events.order.*", "events.position.*", "events.account.*"):
            self._msgbus.subscribe(topic=topic, handler=self._on_event)
        self._msgbus.subscribe(topic=f"reports.execution.{self.venue}", handler=self._on_reconciled)
        if self._saved is not None:
            orders, positions = len(self._saved["orders"]), len(self._saved["positions"])
            self._log.info(
                f"Restoring paper venue from {self._state_path}: "
                f"{positions} positions, {orders} working orders",
                LogColor.BLUE,
            )

    def disconnect(self) -> None:
        """Save the venue, then disconnect."""
        self.save()
        super().disconnect()

    # -- persistence -----------------------------------------------------------------------------

    def save(self) -> None:
        """Write the venue's positions, working orders and balances (after restoring only)."""
        if self._state_path is None or not self._restored:
            return
        account = self._cache.account(self.account_id)
        balances = [str(m) for m in account.balances_total().values()] if account else []
        write_json_atomic(
            self._state_path,
            {
                "version": VENUE_STATE_VERSION,
                "venue": self.venue.value,
                "saved_ns": self._clock.timestamp_ns(),
                "balances": balances,
                "positions": self._positions_snapshot(),
                "orders": [_order_to_dict(o) for o in self._cache.orders_open(venue=self.venue)],
            },
        )

    def _positions_snapshot(self) -> list[dict[str, Any]]:
        # The venue nets per instrument (NETTING): one record each, like a Bybit position.
        net: dict[InstrumentId, dict[str, Any]] = {}
        for position in self._cache.positions_open(venue=self.venue):
            signed = position.signed_decimal_qty()
            entry = net.setdefault(
                position.instrument_id,
                {"signed": Decimal(0), "gross": Decimal(0), "value": Decimal(0), "ts": None},
            )
            entry["signed"] += signed
            entry["gross"] += abs(signed)
            entry["value"] += abs(signed) * Decimal(str(position.avg_px_open))
            entry["ts"] = min(entry["ts"] or position.ts_opened, position.ts_opened)
        return [
            {
                "instrument_id": instrument_id.value,
                "side": "LONG" if entry["signed"] > 0 else "SHORT",
                "quantity": str(abs(entry["signed"])),
                "avg_px_open": str(entry["value"] / entry["gross"]),
                "ts_opened": entry["ts"],
            }
            for instrument_id, entry in net.items()
            if entry["signed"] != 0
        ]

    def _on_event(self, event: Any) -> None:
        self.save()

    def _on_reconciled(self, mass_status: Any) -> None:
        """Put the reconciled working orders back into the simulated order book."""
        if self._restored or not isinstance(mass_status, ExecutionMassStatus):
            return
        self._restored = True
        saved = self._saved or {"orders": []}
        for record in saved["orders"]:
            order = self._cache.order(ClientOrderId(record["client_order_id"]))
            if order is None or not order.is_open:
                self._log.warning(f"Saved order {record['client_order_id']} was not restored")
                continue
            engine = self.exchange.get_matching_engine(order.instrument_id)
            if engine is None:
                self._log.error(f"No simulated market for {order.instrument_id}: cannot restore")
                continue
            # An ACCEPTED order is put back into the book without a new event.
            engine.process_order(order, self.account_id)
        self._log.info("Paper venue restored", LogColor.GREEN)
        self.save()

    # -- reports (startup reconciliation) --------------------------------------------------------

    async def generate_order_status_reports(
        self,
        command: GenerateOrderStatusReports,
    ) -> list[OrderStatusReport]:
        """The saved working orders (at startup only; the live venue is the engine's own)."""
        if self._restored or self._saved is None:
            return []
        now = self._clock.timestamp_ns()
        reports = []
        for record in self._saved["orders"]:
            report = _order_report(record, self.account_id, now)
            if command.instrument_id is None or report.instrument_id == command.instrument_id:
                reports.append(report)
        return reports

    async def generate_position_status_reports(
        self,
        command: GeneratePositionStatusReports,
    ) -> list[PositionStatusReport]:
        """The saved net positions (at startup only)."""
        if self._restored or self._saved is None:
            return []
        now = self._clock.timestamp_ns()
        reports = []
        for record in self._saved["positions"]:
            instrument_id = InstrumentId.from_str(record["instrument_id"])
            if command.instrument_id is not None and instrument_id != command.instrument_id:
                continue
            reports.append(
                PositionStatusReport(
                    account_id=self.account_id,
                    instrument_id=instrument_id,
                    position_side=PositionSide[record["side"]],
                    quantity=Quantity.from_str(record["quantity"]),
                    report_id=UUID4(),
                    ts_last=now,
                    ts_init=now,
                    avg_px_open=Decimal(record["avg_px_open"]),
                )
            )
        return reports


def _order_to_dict(order: Any) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id.value,
        "venue_order_id": order.venue_order_id.value if order.venue_order_id else None,
        "instrument_id": order.instrument_id.value,
        "strategy_id": order.strategy_id.value,
        "side": order.side.name,
        "type": order.order_type.name,
        "time_in_force": order.time_in_force.name,
        "open_quantity": str(order.leaves_qty),
        "price": str(order.price) if order.has_price else None,
        "trigger_price": str(order.trigger_price) if order.has_trigger_price else None,
        "trigger_type": order.trigger_type.name if order.has_trigger_price else None,
        "post_only": order.is_post_only,
        "reduce_only": order.is_reduce_only,
        "tags": list(order.tags or []),
        "ts_last": order.ts_last,
    }


def _order_report(record: dict[str, Any], account_id: Any, now: int) -> OrderStatusReport:
    quantity = Quantity.from_str(record["open_quantity"])
    trigger = record.get("trigger_price")
    return OrderStatusReport(
        account_id=account_id,
        instrument_id=InstrumentId.from_str(record["instrument_id"]),
        client_order_id=ClientOrderId(record["client_order_id"]),
        venue_order_id=VenueOrderId(record["venue_order_id"] or record["client_order_id"]),
        order_side=OrderSide[record["side"]],
        order_type=OrderType[record["type"]],
        time_in_force=TimeInForce[record["time_in_force"]],
        order_status=OrderStatus.ACCEPTED,
        quantity=quantity,
        filled_qty=Quantity.zero(quantity.precision),
        price=Price.from_str(record["price"]) if record.get("price") else None,
        trigger_price=Price.from_str(trigger) if trigger else None,
        trigger_type=TriggerType[record["trigger_type"]] if trigger else TriggerType.NO_TRIGGER,
        post_only=record["post_only"],
        reduce_only=record["reduce_only"],
        report_id=UUID4(),
        ts_accepted=record["ts_last"],
        ts_last=now,
        ts_init=now,
    )


class PaperExecClientFactory(LiveExecClientFactory):
    """
    Create :class:`PaperExecutionClient` instances.

    Register the class returned by :meth:`for_portfolio`, in code: the 1.231 node builder
    passes the portfolio (which a simulated venue needs) only to a factory literally named
    ``SandboxLiveExecClientFactory``, so the portfolio is bound here instead::

        node.add_exec_client_factory("BYBIT", PaperExecClientFactory.for_portfolio(node.portfolio))

    """

    portfolio: PortfolioFacade | None = None

    @classmethod
    def for_portfolio(cls, portfolio: PortfolioFacade) -> type[PaperExecClientFactory]:
        """Return a factory class bound to a node's portfolio."""
        return type(cls.__name__, (cls,), {"portfolio": portfolio})

    @classmethod
    def create(  # type: ignore[override]
        cls,
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: PaperExecClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        portfolio: PortfolioFacade | None = None,
    ) -> PaperExecutionClient:
        """
        Return a new paper execution client.

        Parameters
        ----------
        loop : asyncio.AbstractEventLoop
            The node's event loop.
        name : str
            The client id (the venue, ``BYBIT``: the sandbox registers under its venue).
        config : PaperExecClientConfig
            The client's configuration.
        msgbus : MessageBus
            The node's message bus.
        cache : Cache
            The node's cache.
        clock : LiveClock
            The node's clock.
        portfolio : PortfolioFacade, optional
            The node's portfolio (default: the one bound by :meth:`for_portfolio`).

        Returns
        -------
        PaperExecutionClient

        """
        if not isinstance(config, PaperExecClientConfig):
            raise TypeError(f"{name}: expected PaperExecClientConfig, got {type(config).__name__}")
        portfolio = portfolio or cls.portfolio
        if portfolio is None:
            raise TypeError(f"{name}: no portfolio: register PaperExecClientFactory.for_portfolio")
        return PaperExecutionClient(
            loop=loop,
            portfolio=portfolio,
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            config=config,
        )
