"""A local Bybit *venue* for tests: v5 REST, the private and the trade websockets.

Enough of Bybit's v5 protocol for the framework's real ``BybitExecutionClient`` (and its data
client's instrument loading) to connect, reconcile, place, amend and cancel orders, and receive
order, execution, position and wallet pushes. It listens on ``127.0.0.1`` only.

* REST (``http://127.0.0.1:<port>``): ``/v5/market/instruments-info``, ``/v5/market/time``,
  ``/v5/account/wallet-balance``, ``/v5/account/fee-rate``, ``/v5/user/query-api``,
  ``/v5/order/realtime``, ``/v5/order/history``, ``/v5/execution/list``, ``/v5/position/list``,
  ``/v5/order/create|amend|cancel|cancel-all`` (the demo path sends orders over REST),
  ``/v5/announcements/index`` and ``/v5/system/status`` (maintenance). Responses have Bybit's
  envelope ``{"retCode", "retMsg", "result", "retExtInfo", "time"}``; every request is recorded
  with its headers (:attr:`BybitVenue.requests`).
* Private websocket (``/v5/private``): ``auth``, ``subscribe``, ``ping``; pushes on the ``order``,
  ``execution``, ``position`` and ``wallet`` topics.
* Trade websocket (``/v5/trade``): ``auth``, ``order.create``, ``order.amend``,
  ``order.cancel``, ``order.create-batch``; replies with ``reqId``/``retCode``/``data``.

Matching is driven by the test, not by prices: :meth:`BybitVenue.fill` executes (part of) an
order at its price; a post-only order is cancelled with ``rejectReason =
"EC_PostOnlyWillTakeLiquidity"`` when it would cross :attr:`BybitVenue.last_price` (what Bybit
does on mainnet: accept, then cancel); an order whose ``orderLinkId`` exceeds 36 characters is
refused with Bybit's parameter error, one that repeats an ``orderLinkId`` with ``110072``
(Bybit keeps it unique, so a request the client sends again after a lost response never makes a
second order). A lookup by ``orderId``/``orderLinkId`` returns that one order, of any kind, while
it is open (``openOnly = 0``). Native TP/SL on an entry (``tpslMode = "Full"``) becomes
one position-level conditional stop order per position, sized to the position and resized as
fills arrive, as Bybit documents for "entire position" TP/SL. Conditional orders are counted
per symbol and refused beyond Bybit's 10.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from liqcascade.data_loaders.instruments import load_specs

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
MAX_LINK_ID = 36
MAX_CONDITIONAL = 10
POST_ONLY_REJECT = "EC_PostOnlyWillTakeLiquidity"


def _ms() -> int:
    return time.time_ns() // 1_000_000


def _envelope(result: Any, code: int = 0, message: str = "OK") -> dict[str, Any]:
    return {"retCode": code, "retMsg": message, "result": result, "retExtInfo": {}, "time": _ms()}


@dataclass
class Request:
    """One REST request: method, path, query, decoded JSON body, headers, arrival (monotonic)."""

    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    headers: dict[str, str]
    received: float = field(default_factory=time.monotonic)


@dataclass
class VenueOrder:
    """An order as Bybit keeps it."""

    order_id: str
    link_id: str
    symbol: str
    side: str
    order_type: str
    qty: Decimal
    price: Decimal | None
    time_in_force: str
    reduce_only: bool
    trigger_price: Decimal | None = None
    trigger_by: str = ""
    stop_order_type: str = ""
    status: str = "New"
    filled: Decimal = Decimal(0)
    fill_value: Decimal = Decimal(0)
    reject_reason: str = "EC_NoError"
    cancel_type: str = "UNKNOWN"
    created_ms: int = field(default_factory=_ms)
    updated_ms: int = field(default_factory=_ms)
    take_profit: str = ""
    stop_loss: str = ""
    tpsl_mode: str = ""
    sl_trigger_by: str = ""
    tp_trigger_by: str = ""
    tp_order_type: str = ""
    sl_order_type: str = ""
    tp_limit_price: str = ""
    close_on_trigger: bool = False

    @property
    def is_open(self) -> bool:
        return self.status in ("New", "PartiallyFilled", "Untriggered")

    @property
    def leaves(self) -> Decimal:
        return self.qty - self.filled if self.is_open else Decimal(0)

    @property
    def trigger_direction(self) -> int:
        """Bybit's 1 (rise to trigger) / 2 (fall to trigger), 0 without a trigger."""
        if self.trigger_price is None:
            return 0
        return 2 if self.side == "Sell" else 1

    def to_bybit(self) -> dict[str, Any]:
        avg = str(self.fill_value / self.filled) if self.filled else ""
        return {
            "category": "linear",
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderLinkId": self.link_id,
            "blockTradeId": "",
            "side": self.side,
            "positionIdx": 0,
            "orderStatus": self.status,
            "createType": "CreateByUser" if self.link_id else "CreateByStopOrder",
            "cancelType": self.cancel_type,
            "rejectReason": self.reject_reason,
            "avgPrice": avg,
            "leavesQty": str(self.leaves),
            "leavesValue": str(self.leaves * (self.price or Decimal(0))),
            "cumExecQty": str(self.filled),
            "cumExecValue": str(self.fill_value),
            "cumExecFee": "0",
            "timeInForce": self.time_in_force,
            "orderType": self.order_type,
            "stopOrderType": self.stop_order_type,
            "orderIv": "",
            "triggerPrice": str(self.trigger_price) if self.trigger_price is not None else "",
            "takeProfit": self.take_profit,
            "stopLoss": self.stop_loss,
            "tpTriggerBy": self.tp_trigger_by,
            "slTriggerBy": self.sl_trigger_by,
            "triggerDirection": self.trigger_direction,
            "triggerBy": self.trigger_by,
            "lastPriceOnCreated": "",
            "reduceOnly": self.reduce_only,
            "closeOnTrigger": self.close_on_trigger,
            "placeType": "",
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "tpslMode": self.tpsl_mode,
            "tpLimitPrice": self.tp_limit_price,
            "slLimitPrice": "",
            "price": str(self.price) if self.price is not None else "0",
            "qty": str(self.qty),
            "isLeverage": "",
            "feeCurrency": "",
            "createdTime": str(self.created_ms),
            "updatedTime": str(self.updated_ms),
            "marketUnit": "",
            "slippageToleranceType": "UNKNOWN",
            "slippageTolerance": "0",
        }


class BybitVenueCore:
    """The asyncio core (REST, private and trade websockets); see :class:`BybitVenue`."""

    def __init__(
        self,
        symbols: tuple[str, ...] = ("ETHUSDT",),
        balance: str = "10000",
        specs_path: Path | None = None,
    ) -> None:
        specs = load_specs(specs_path or ROOT / "configs" / "instruments.toml")
        self.specs = {s: specs[s] for s in symbols}
        self.reject_delay_s = 0.01  # from create to a post-only cancel (the matching engine)
        self.ignore_cancels = False  # the cancel never arrives (a process killed mid-flight)
        self.balance = Decimal(balance)
        self.orders: dict[str, VenueOrder] = {}  # order id -> order
        self.executions: list[dict[str, Any]] = []
        self.positions: dict[str, tuple[Decimal, Decimal, int]] = {}  # symbol -> signed, avg, ts
        self.requests: list[Request] = []
        # Exceptions that closed a REST connection: to the client a venue bug looks like a
        # network error, which it answers by sending the request again.
        self.http_errors: list[str] = []
        self.ws_received: list[tuple[str, dict[str, Any]]] = []  # (path, message)
        self.last_price: dict[str, Decimal] = {}
        self.server_time_offset_ms = 0
        self.announcements: list[dict[str, Any]] = []
        self.system_status: list[dict[str, Any]] | None = None  # None: endpoint unknown (404)
        self.refuse_native_tpsl = False  # demo: "TP/SL not supported" on an entry carrying them
        # (retCode, retMsg) for the next conditional order, e.g. (10006, "Too many visits!");
        # retCode 0: accepted, then pushed as Rejected with retMsg as its rejectReason.
        self.reject_next_stop: tuple[int, str] | None = None
        # The next conditional order is created, but its REST response is lost (the connection
        # drops): the client cannot tell whether Bybit got it and sends the request again.
        self.lose_next_stop_response = False
        # The next conditional order's private-stream push is lost too (only REST shows it).
        self.silence_next_stop_push = False
        self.http_port = 0
        self.ws_port = 0
        self._private: set[ServerConnection] = set()
        self._ids = itertools.count(1)
        self._http: asyncio.Server | None = None
        self._ws: Any = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._http = await asyncio.start_server(self._serve_http, HOST, 0)
        self.http_port = self._http.sockets[0].getsockname()[1]
        self._ws = await serve(self._serve_ws, HOST, 0, ping_interval=None, compression=None)
        self.ws_port = self._ws.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for server in (self._http, self._ws):
            if server is not None:
                server.close()
        for conn in list(self._private):
            conn.transport.abort()

    # -- REST ------------------------------------------------------------------------------------

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                raw = await reader.readexactly(length) if length else b""
                url = urlsplit(target)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                body = json.loads(raw) if raw else None
                self.requests.append(Request(method, url.path, query, body, headers))
                status, payload = self._route(method, url.path, query, body or {})
                if self._lose_response(url.path, body):
                    return
                data = json.dumps(payload).encode()
                writer.write(
                    f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception as e:
            self.http_errors.append(repr(e))
            raise
        finally:
            writer.close()

    def _lose_response(self, path: str, body: dict[str, Any] | None) -> bool:
        if not (self.lose_next_stop_response and path == "/v5/order/create"):
            return False
        if (body or {}).get("triggerPrice") in (None, ""):
            return False
        self.lose_next_stop_response = False
        return True

    def _route(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        routes: dict[str, Callable[[dict[str, Any]], Any]] = {
            "/v5/market/instruments-info": self._instruments,
            "/v5/market/time": self._time,
            "/v5/account/wallet-balance": self._wallet,
            "/v5/account/fee-rate": self._fee_rate,
            "/v5/user/query-api": self._api_info,
            "/v5/order/realtime": self._open_orders,
            "/v5/order/history": self._order_history,
            "/v5/execution/list": self._execution_list,
            "/v5/position/list": self._position_list,
            "/v5/announcements/index": self._announcements,
            "/v5/order/create": self._rest_create,
            "/v5/order/amend": self._rest_amend,
            "/v5/order/cancel": self._rest_cancel,
            "/v5/order/cancel-all": self._rest_cancel_all,
        }
        if path == "/v5/system/status" and self.system_status is not None:
            return 200, _envelope({"list": self.system_status})
        handler = routes.get(path)
        if handler is None:
            return 404, {"retCode": 404, "retMsg": f"unknown path {path}"}
        result = handler(body if method == "POST" else query)
        if isinstance(result, tuple):  # (code, message)
            return 200, _envelope({}, *result)
        return 200, _envelope(result)

    def _instruments(self, query: dict[str, str]) -> dict[str, Any]:
        wanted = query.get("symbol")
        items = []
        for symbol, spec in self.specs.items():
            if wanted and wanted != symbol:
                continue
            items.append(
                {
                    "symbol": symbol,
                    "contractType": "LinearPerpetual",
                    "status": "Trading",
                    "baseCoin": spec.base,
                    "quoteCoin": "USDT",
                    "settleCoin": "USDT",
                    "launchTime": "1585526400000",
                    "deliveryTime": "0",
                    "deliveryFeeRate": "",
                    "priceScale": str(spec.price_precision),
                    "leverageFilter": {
                        "minLeverage": "1",
                        "maxLeverage": str(spec.max_leverage),
                        "leverageStep": "0.01",
                    },
                    "priceFilter": {
                        "minPrice": str(spec.tick_size),
                        "maxPrice": "1999999.98",
                        "tickSize": str(spec.tick_size),
                    },
                    "lotSizeFilter": {
                        "maxOrderQty": str(spec.max_qty),
                        "minOrderQty": str(spec.min_qty),
                        "qtyStep": str(spec.qty_step),
                        "postOnlyMaxOrderQty": "7500.00",
                        "maxMktOrderQty": "500.00",
                        "minNotionalValue": str(spec.min_notional),
                    },
                    "unifiedMarginTrade": True,
                    "fundingInterval": 480,
                    "copyTrading": "both",
                    "upperFundingRate": "0.005",
                    "lowerFundingRate": "-0.005",
                    "isPreListing": False,
                    "preListingInfo": None,
                    "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"},
                    "displayName": "",
                }
            )
        return {"category": "linear", "list": items, "nextPageCursor": ""}

    def _time(self, _: dict[str, str]) -> dict[str, Any]:
        now_ns = time.time_ns() + self.server_time_offset_ms * 1_000_000
        return {"timeSecond": str(now_ns // 1_000_000_000), "timeNano": str(now_ns)}

    def _wallet(self, _: dict[str, str]) -> dict[str, Any]:
        balance = str(self.balance)
        coin = {
            "coin": "USDT",
            "equity": balance,
            "usdValue": balance,
            "walletBalance": balance,
            "free": "",
            "locked": "0",
            "spotHedgingQty": "0",
            "borrowAmount": "0",
            "availableToWithdraw": "",
            "accruedInterest": "0",
            "totalOrderIM": "0",
            "totalPositionIM": "0",
            "totalPositionMM": "0",
            "unrealisedPnl": "0",
            "cumRealisedPnl": "0",
            "bonus": "0",
            "marginCollateral": True,
            "collateralSwitch": True,
            "availableToBorrow": "",
        }
        account = {
            "accountType": "UNIFIED",
            "accountIMRate": "0",
            "accountMMRate": "0",
            "totalEquity": balance,
            "totalWalletBalance": balance,
            "totalMarginBalance": balance,
            "totalAvailableBalance": balance,
            "totalPerpUPL": "0",
            "totalInitialMargin": "0",
            "totalMaintenanceMargin": "0",
            "accountLTV": "0",
            "coin": [coin],
        }
        return {"list": [account]}

    def _fee_rate(self, query: dict[str, str]) -> dict[str, Any]:
        items = [
            {
                "symbol": symbol,
                "baseCoin": "",
                "takerFeeRate": str(spec.taker_fee),
                "makerFeeRate": str(spec.maker_fee),
            }
            for symbol, spec in self.specs.items()
            if not query.get("symbol") or query["symbol"] == symbol
        ]
        return {"category": "linear", "list": items}

    def _api_info(self, _: dict[str, str]) -> dict[str, Any]:
        return {
            "id": "1",
            "note": "test",
            "apiKey": "x",
            "readOnly": 0,
            "secret": "",
            "permissions": {"ContractTrade": ["Order", "Position"]},
            "ips": ["*"],
            "type": 1,
            "deadlineDay": 90,
            "expiredAt": "2099-01-01T00:00:00Z",
            "createdAt": "2025-01-01T00:00:00Z",
            "unified": 1,
            "uta": 1,
            "userID": 1,
            "inviterID": 0,
            "vipLevel": "No VIP",
            "mktMakerLevel": "0",
            "affiliateID": 0,
            "rsaPublicKey": "",
            "isMaster": True,
            "parentUid": "0",
            "kycLevel": "LEVEL_DEFAULT",
            "kycRegion": "",
        }

    def _page(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"category": "linear", "list": items, "nextPageCursor": ""}

    @staticmethod
    def _matches(order: VenueOrder, query: dict[str, str]) -> bool:
        if query.get("settleCoin", "USDT") != "USDT":
            return False
        if query.get("symbol") and order.symbol != query["symbol"]:
            return False
        if query.get("orderId") or query.get("orderLinkId"):
            # One order asked for by id: linear returns every kind when orderFilter is absent.
            wanted = query.get("orderId") or query.get("orderLinkId")
            return wanted in (order.order_id, order.link_id) and (
                "orderFilter" not in query
                or (query["orderFilter"] == "StopOrder") == bool(order.stop_order_type)
            )
        return (query.get("orderFilter") == "StopOrder") == bool(order.stop_order_type)

    def _open_orders(self, query: dict[str, str]) -> dict[str, Any]:
        items = [
            o.to_bybit() for o in self.orders.values() if o.is_open and self._matches(o, query)
        ]
        return self._page(items)

    def _order_history(self, query: dict[str, str]) -> dict[str, Any]:
        return self._page([o.to_bybit() for o in self.orders.values() if self._matches(o, query)])

    def _execution_list(self, query: dict[str, str]) -> dict[str, Any]:
        symbol = query.get("symbol")
        return self._page([e for e in self.executions if not symbol or e["symbol"] == symbol])

    def _position_list(self, query: dict[str, str]) -> dict[str, Any]:
        symbol = query.get("symbol")
        if query.get("settleCoin", "USDT") != "USDT":
            return self._page([])
        items = [self._position(s) for s in self.specs if not symbol or s == symbol]
        return self._page([p for p in items if Decimal(p["size"]) != 0])

    def _position(self, symbol: str) -> dict[str, Any]:
        signed, avg, ts = self.positions.get(symbol, (Decimal(0), Decimal(0), 0))
        side = "Buy" if signed > 0 else "Sell" if signed < 0 else ""
        stop = next(
            (
                o
                for o in self.orders.values()
                if o.symbol == symbol and o.is_open and o.stop_order_type == "StopLoss"
            ),
            None,
        )
        return {
            "positionIdx": 0,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "symbol": symbol,
            "side": side,
            "size": str(abs(signed)),
            "avgPrice": str(avg),
            "positionValue": str(abs(signed) * avg),
            "tradeMode": 0,
            "autoAddMargin": 0,
            "positionStatus": "Normal",
            "leverage": "10",
            "markPrice": str(self.last_price.get(symbol, avg)),
            "liqPrice": "",
            "bustPrice": "",
            "positionIM": "0",
            "positionMM": "0",
            "positionBalance": "0",
            "tpslMode": "Full",
            "takeProfit": "0",
            "stopLoss": str(stop.trigger_price) if stop else "0",
            "trailingStop": "0",
            "sessionAvgPrice": "",
            "delta": "",
            "gamma": "",
            "vega": "",
            "theta": "",
            "unrealisedPnl": "0",
            "curRealisedPnl": "0",
            "cumRealisedPnl": "0",
            "adlRankIndicator": 0,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "createdTime": str(ts or _ms()),
            "updatedTime": str(_ms()),
            "seq": 1,
        }

    def _announcements(self, _: dict[str, str]) -> dict[str, Any]:
        return {"total": len(self.announcements), "list": self.announcements}

    # -- orders (REST and trade websocket share these) -------------------------------------------

    def _create(self, args: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        link_id = str(args.get("orderLinkId") or "")
        if len(link_id) > MAX_LINK_ID:
            return 10001, "params error: orderLinkId is too long", {}
        if link_id and any(o.link_id == link_id for o in self.orders.values()):
            # Bybit keeps orderLinkId unique: a request sent again (its response was lost) is
            # refused, never a second order.
            return 110072, "OrderLinkedID is duplicate", {}
        symbol = args["symbol"]
        trigger = args.get("triggerPrice")
        conditional = trigger not in (None, "")
        refuse_after_accept = None
        if conditional:
            if self.reject_next_stop is not None:
                (code, message), self.reject_next_stop = self.reject_next_stop, None
                if code != 0:
                    return code, message, {}
                refuse_after_accept = message  # accepted, then rejected by the engine
            if self._conditional_count(symbol) >= MAX_CONDITIONAL:
                return 110066, "the number of conditional orders has reached the limit", {}
        if args.get("stopLoss") and self.refuse_native_tpsl:
            return 10001, "TP/SL is not supported for this order", {}
        order = VenueOrder(
            order_id=str(uuid.UUID(int=next(self._ids))),
            link_id=link_id,
            symbol=symbol,
            side=args["side"],
            order_type=args["orderType"],
            qty=Decimal(str(args["qty"])),
            price=Decimal(str(args["price"])) if args.get("price") not in (None, "") else None,
            time_in_force=args.get("timeInForce") or "GTC",
            reduce_only=bool(args.get("reduceOnly")),
            trigger_price=Decimal(str(trigger)) if conditional else None,
            trigger_by=str(args.get("triggerBy") or ("LastPrice" if conditional else "")),
            stop_order_type="Stop" if conditional else "",
            status="Untriggered" if conditional else "New",
            take_profit=str(args.get("takeProfit") or ""),
            stop_loss=str(args.get("stopLoss") or ""),
            tpsl_mode=str(args.get("tpslMode") or ""),
            sl_trigger_by=str(args.get("slTriggerBy") or ""),
            tp_trigger_by=str(args.get("tpTriggerBy") or ""),
            sl_order_type=str(args.get("slOrderType") or ""),
            tp_order_type=str(args.get("tpOrderType") or ""),
            tp_limit_price=str(args.get("tpLimitPrice") or ""),
            close_on_trigger=bool(args.get("closeOnTrigger")),
        )
        self.orders[order.order_id] = order
        result = {"orderId": order.order_id, "orderLinkId": order.link_id}
        if refuse_after_accept is not None:
            order.status, order.reject_reason = "Rejected", refuse_after_accept
        asyncio.get_running_loop().create_task(self._after_create(order))
        return 0, "OK", result

    async def _after_create(self, order: VenueOrder) -> None:
        await asyncio.sleep(self.reject_delay_s)
        last = self.last_price.get(order.symbol)
        crosses = (
            order.time_in_force == "PostOnly"
            and order.price is not None
            and last is not None
            and (order.price >= last if order.side == "Buy" else order.price <= last)
        )
        if crosses:
            # Mainnet: the order is accepted, then cancelled by the matching engine.
            order.status = "Cancelled"
            order.reject_reason = POST_ONLY_REJECT
            order.cancel_type = "CancelByUser"
        order.updated_ms = _ms()
        if order.trigger_price is not None and self.silence_next_stop_push:
            self.silence_next_stop_push = False
            return
        await self.push_private("order", [order.to_bybit()])

    def _conditional_count(self, symbol: str) -> int:
        return sum(
            1 for o in self.orders.values() if o.symbol == symbol and o.status == "Untriggered"
        )

    def _find(self, args: dict[str, Any]) -> VenueOrder | None:
        order_id = args.get("orderId")
        if order_id:
            return self.orders.get(order_id)
        link_id = args.get("orderLinkId")
        return next((o for o in self.orders.values() if link_id and o.link_id == link_id), None)

    def _amend(self, args: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        order = self._find(args)
        if order is None or not order.is_open:
            return 110001, "order not exists or too late to replace", {}
        if args.get("qty") not in (None, ""):
            order.qty = Decimal(str(args["qty"]))
        if args.get("price") not in (None, ""):
            order.price = Decimal(str(args["price"]))
        if args.get("triggerPrice") not in (None, ""):
            order.trigger_price = Decimal(str(args["triggerPrice"]))
        order.updated_ms = _ms()
        asyncio.get_running_loop().create_task(self.push_private("order", [order.to_bybit()]))
        return 0, "OK", {"orderId": order.order_id, "orderLinkId": order.link_id}

    def _cancel(self, args: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        if self.ignore_cancels:
            return 10016, "service unavailable", {}
        order = self._find(args)
        if order is None or not order.is_open:
            return 110001, "order not exists or too late to cancel", {}
        order.status = "Deactivated" if order.status == "Untriggered" else "Cancelled"
        order.cancel_type = "CancelByUser"
        order.updated_ms = _ms()
        asyncio.get_running_loop().create_task(self.push_private("order", [order.to_bybit()]))
        return 0, "OK", {"orderId": order.order_id, "orderLinkId": order.link_id}

    def _rest_create(self, body: dict[str, Any]) -> Any:
        code, message, result = self._create(body)
        return result if code == 0 else (code, message)

    def _rest_amend(self, body: dict[str, Any]) -> Any:
        code, message, result = self._amend(body)
        return result if code == 0 else (code, message)

    def _rest_cancel(self, body: dict[str, Any]) -> Any:
        code, message, result = self._cancel(body)
        return result if code == 0 else (code, message)

    def _rest_cancel_all(self, body: dict[str, Any]) -> Any:
        done = []
        for order in list(self.orders.values()):
            if order.is_open and (not body.get("symbol") or order.symbol == body["symbol"]):
                self._cancel({"orderId": order.order_id})
                done.append({"orderId": order.order_id, "orderLinkId": order.link_id})
        return {"list": done, "success": "1"}

    # -- matching (driven by the test) -----------------------------------------------------------

    async def fill(
        self,
        link_id: str,
        qty: str | None = None,
        price: str | None = None,
        exec_ms: int | None = None,
        push: bool = True,
    ) -> None:
        """Execute ``qty`` (default: all that is left) of an order at ``price`` (its price).

        ``exec_ms``: the exchange's execution time (default now); ``push=False``: the private
        stream loses the update (only REST queries show it).
        """
        order = next(o for o in self.orders.values() if o.link_id == link_id)
        await self._execute(order, Decimal(qty) if qty else order.leaves, price, exec_ms, push)

    async def trigger_stop(self, order_id: str, price: str) -> None:
        """Trigger a conditional order and execute it at ``price``."""
        order = self.orders[order_id]
        order.status = "New"
        await self._execute(order, order.qty - order.filled, price)

    async def _execute(
        self,
        order: VenueOrder,
        qty: Decimal,
        price: str | None,
        exec_ms: int | None = None,
        push: bool = True,
    ) -> None:
        px = Decimal(price) if price else order.price
        assert px is not None and qty > 0 and order.is_open
        order.filled += qty
        order.fill_value += qty * px
        order.status = "Filled" if order.filled >= order.qty else "PartiallyFilled"
        order.updated_ms = now = exec_ms or _ms()
        maker = order.order_type == "Limit"
        fee = qty * px * (Decimal("0.0002") if maker else Decimal("0.00055"))
        execution = {
            "category": "linear",
            "symbol": order.symbol,
            "isLeverage": "",
            "orderId": order.order_id,
            "orderLinkId": order.link_id,
            "side": order.side,
            "orderPrice": str(order.price or px),
            "orderQty": str(order.qty),
            "leavesQty": str(order.leaves),
            "createType": "CreateByUser",
            "orderType": order.order_type,
            "stopOrderType": order.stop_order_type,
            "execFee": str(fee),
            "execId": str(uuid.uuid4()),
            "execPrice": str(px),
            "execQty": str(qty),
            "execType": "Trade",
            "execValue": str(qty * px),
            "execTime": str(now),
            "feeCurrency": "USDT",
            "isMaker": maker,
            "feeRate": "0.0002" if maker else "0.00055",
            "tradeIv": "",
            "markIv": "",
            "markPrice": str(px),
            "indexPrice": "",
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": "0",
            "execPnl": "0",
            "seq": next(self._ids),
            "extraFees": "",
        }
        self.executions.append(execution)
        signed, avg, ts = self.positions.get(order.symbol, (Decimal(0), Decimal(0), 0))
        delta = qty if order.side == "Buy" else -qty
        new = signed + delta
        if signed == 0 or (signed > 0) == (delta > 0):
            avg = (abs(signed) * avg + qty * px) / abs(new)
            ts = ts or now
        if new == 0:
            avg, ts = Decimal(0), 0
        self.positions[order.symbol] = (new, avg, ts)
        if push:
            await self.push_private("order", [order.to_bybit()])
            await self.push_private("execution", [execution])
        await self._native_stop(order, new, push)
        if push:
            await self.push_private("position", [self._position(order.symbol)])

    async def _native_stop(self, order: VenueOrder, position: Decimal, push: bool = True) -> None:
        """Entire-position ("Full") TP/SL: one conditional stop, resized to the position."""
        symbol = order.symbol
        stop = next(
            (
                o
                for o in self.orders.values()
                if o.symbol == symbol and o.is_open and o.stop_order_type == "StopLoss"
            ),
            None,
        )
        if position == 0:
            for other in list(self.orders.values()):
                if other.symbol == symbol and other.is_open and other.reduce_only:
                    other.status = "Deactivated" if other.status == "Untriggered" else "Cancelled"
                    other.cancel_type = "CancelByTpSlTsClear"
                    await self.push_private("order", [other.to_bybit()])
            return
        if stop is not None:
            if stop.qty != abs(position):
                stop.qty = abs(position)
                stop.updated_ms = _ms()
                await self.push_private("order", [stop.to_bybit()])
            return
        if not order.stop_loss or order.tpsl_mode != "Full":
            return
        stop = VenueOrder(
            order_id=str(uuid.UUID(int=next(self._ids))),
            link_id="",
            symbol=symbol,
            side="Sell" if position > 0 else "Buy",
            order_type="Market",
            qty=abs(position),
            price=None,
            time_in_force="GTC",
            reduce_only=True,
            trigger_price=Decimal(order.stop_loss),
            trigger_by=order.sl_trigger_by or "LastPrice",
            stop_order_type="StopLoss",
            status="Untriggered",
            close_on_trigger=True,
        )
        self.orders[stop.order_id] = stop
        if push:
            await self.push_private("order", [stop.to_bybit()])

    # -- websockets ------------------------------------------------------------------------------

    async def push_private(self, topic: str, data: list[dict[str, Any]]) -> None:
        message = json.dumps(
            {"id": str(uuid.uuid4()), "topic": topic, "creationTime": _ms(), "data": data}
        )
        for conn in list(self._private):
            with contextlib.suppress(ConnectionClosed):
                await conn.send(message)

    async def _serve_ws(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        conn_id = str(uuid.uuid4())
        try:
            async for raw in ws:
                message = json.loads(raw)
                self.ws_received.append((path, message))
                reply = await self._on_ws(ws, path, conn_id, message)
                if reply is not None:
                    await ws.send(json.dumps(reply))
        except (ConnectionClosed, ValueError):
            pass
        finally:
            self._private.discard(ws)

    async def _on_ws(
        self, ws: ServerConnection, path: str, conn_id: str, message: dict[str, Any]
    ) -> dict[str, Any] | None:
        op = message.get("op")
        req_id = message.get("req_id") or message.get("reqId")
        if op == "ping":
            return {"success": True, "ret_msg": "pong", "conn_id": conn_id, "op": "ping"}
        if path.endswith("/private"):
            if op == "auth":
                return {"success": True, "ret_msg": "", "op": "auth", "conn_id": conn_id}
            if op == "subscribe":
                self._private.add(ws)
                reply = {"success": True, "ret_msg": "", "op": "subscribe", "conn_id": conn_id}
                if req_id:
                    reply["req_id"] = req_id
                return reply
            return None
        if op == "auth":
            return {"retCode": 0, "retMsg": "OK", "op": "auth", "connId": conn_id}
        handlers = {"order.create": self._create, "order.amend": self._amend}
        handlers["order.cancel"] = self._cancel
        header = {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "9", "Timenow": str(_ms())}
        if op == "order.create-batch":
            results, infos = [], []
            for args in message["args"][0]["request"]:
                code, text, result = self._create({**args, "category": "linear"})
                results.append(result or {"orderLinkId": args.get("orderLinkId", "")})
                infos.append({"code": code, "msg": text})
            reply = {
                "reqId": req_id,
                "retCode": 0,
                "retMsg": "OK",
                "op": op,
                "data": {"list": results},
                "retExtInfo": {"list": infos},
                "header": header,
                "connId": conn_id,
            }
            return reply
        handler = handlers.get(str(op))
        if handler is None:
            return {"reqId": req_id, "retCode": 10001, "retMsg": f"unknown op {op}", "op": op}
        code, text, result = handler(message["args"][0])
        return {
            "reqId": req_id,
            "retCode": code,
            "retMsg": text,
            "op": op,
            "data": result,
            "retExtInfo": {},
            "header": header,
            "connId": conn_id,
        }


class BybitVenue:
    """:class:`BybitVenueCore` in a background thread with a synchronous API (tests)."""

    def __init__(
        self,
        symbols: tuple[str, ...] = ("ETHUSDT",),
        balance: str = "10000",
        specs_path: Path | None = None,
    ) -> None:
        self.core = BybitVenueCore(symbols, balance, specs_path)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> BybitVenue:
        self._thread.start()
        self._call(self.core.start())
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self._call(self.core.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the venue's thread (consistent reads and writes of its state)."""

        async def call() -> Any:
            return fn()

        return self._call(call())

    @property
    def exec_overrides(self) -> dict[str, Any]:
        """``BybitExecClientConfig`` fields that point the exec client here."""
        return {
            "base_url_http": f"http://{HOST}:{self.core.http_port}",
            "base_url_ws_private": f"ws://{HOST}:{self.core.ws_port}/v5/private",
            "base_url_ws_trade": f"ws://{HOST}:{self.core.ws_port}/v5/trade",
            "max_retries": 1,
        }

    @property
    def http_url(self) -> str:
        """The REST base URL."""
        return f"http://{HOST}:{self.core.http_port}"

    def fill(
        self,
        link_id: str,
        qty: str | None = None,
        price: str | None = None,
        exec_ms: int | None = None,
        push: bool = True,
    ) -> None:
        """Execute (part of) an order; see :meth:`BybitVenueCore.fill`."""
        self._call(self.core.fill(link_id, qty, price, exec_ms, push))

    def trigger_stop(self, order_id: str, price: str) -> None:
        """Trigger and execute a conditional order."""
        self._call(self.core.trigger_stop(order_id, price))

    def orders(self) -> list[VenueOrder]:
        """A snapshot of every order."""
        return self.run(lambda: list(self.core.orders.values()))

    def open_orders(self) -> list[VenueOrder]:
        """Open orders (conditional ones included)."""
        return [o for o in self.orders() if o.is_open]

    def trade_requests(self, op: str | None = None) -> list[dict[str, Any]]:
        """Messages received on the trade websocket (optionally one ``op``)."""
        received = self.run(lambda: list(self.core.ws_received))
        return [m for p, m in received if p.endswith("/trade") and (op is None or m["op"] == op)]

    def rest_requests(self, path: str | None = None) -> list[Request]:
        """REST requests received (optionally to one path)."""
        return [r for r in self.run(lambda: list(self.core.requests)) if path in (None, r.path)]

    def set(self, **values: Any) -> None:
        """Set attributes of the core on its thread (``last_price=...``, ...)."""

        def apply() -> None:
            for name, value in values.items():
                setattr(self.core, name, value)

        self.run(apply)
