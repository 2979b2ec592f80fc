"""Pure helpers: the guide's worked price examples, sessions and loss limits."""

from __future__ import annotations

from decimal import Decimal as D  # noqa: N817 (prices read better short)

from liqcascade.strategies.order_prices import BUY
from liqcascade.strategies.order_prices import SELL
from liqcascade.strategies.order_prices import entry_price
from liqcascade.strategies.order_prices import exit_prices
from liqcascade.strategies.order_prices import order_quantity
from liqcascade.strategies.trading_gate import LossLimits
from liqcascade.strategies.trading_gate import SessionRules
from liqcascade.strategies.trading_gate import day_start
from liqcascade.strategies.trading_gate import parse_utc
from liqcascade.strategies.trading_gate import week_start

S = 1_000_000_000


def test_guide_example_eth_buy() -> None:
    # Section 3: ETH 2500.00, buy-dominant: limit 2496.25, TP 2500.00, SL 2490.01.
    price = entry_price(D("2500.00"), BUY, D("0.0015"), D("0.01"))
    assert price == D("2496.25")
    assert exit_prices(price, BUY, D("0.0015"), D("0.0025"), D("0.01")) == (
        D("2500.00"),
        D("2490.01"),
    )


def test_guide_example_sol_sell_rounds_to_the_safe_side() -> None:
    # Section 3: SOL 180.00, sell-dominant: limit 180.27, SL 180.72. The guide's TP (180.00)
    # is a rounded 179.9996; rounding away from the entry keeps the full 0.15 %: 179.99.
    price = entry_price(D("180.00"), SELL, D("0.0015"), D("0.010"))
    assert price == D("180.27")
    assert exit_prices(price, SELL, D("0.0015"), D("0.0025"), D("0.010")) == (
        D("179.99"),
        D("180.72"),
    )


def test_entry_is_at_least_one_tick_from_the_reference() -> None:
    # A tiny offset on a coarse tick would land on the reference (a taker): one tick away.
    assert entry_price(D("0.20000"), BUY, D("0.00001"), D("0.00001")) == D("0.19999")
    assert entry_price(D("0.20000"), SELL, D("0.00001"), D("0.00001")) == D("0.20001")


def test_order_quantity_floors_to_the_lot_and_respects_the_minimum() -> None:
    assert order_quantity(D("2000"), D("1997"), D("0.01"), D("0.01")) == D("1.00")
    assert order_quantity(D("2000"), D("0.2"), D("1"), D("1")) == D("10000")
    assert order_quantity(D("5"), D("2000"), D("0.01"), D("0.01")) is None


def test_week_and_day_boundaries() -> None:
    wednesday_noon = parse_utc("2025-03-05T12:00:00Z")
    assert day_start(wednesday_noon) == parse_utc("2025-03-05T00:00:00")
    assert week_start(wednesday_noon) == parse_utc("2025-03-03T00:00:00Z")
    assert week_start(parse_utc("2025-03-03T00:00:00Z")) == parse_utc("2025-03-03T00:00:00Z")
    assert week_start(parse_utc("2025-03-09T23:59:59Z")) == parse_utc("2025-03-03T00:00:00Z")


def test_sessions() -> None:
    us = SessionRules(trading_hours=(13, 18))
    assert us.blocked(parse_utc("2025-03-03T13:00:00Z")) is None
    assert us.blocked(parse_utc("2025-03-03T18:00:00Z")) == "outside trading hours 13-18 UTC"
    overnight = SessionRules(trading_hours=(22, 2))
    assert overnight.blocked(parse_utc("2025-03-03T23:30:00Z")) is None
    assert overnight.blocked(parse_utc("2025-03-03T12:00:00Z")) is not None
    weekend = SessionRules(skip_weekends=True)
    assert weekend.blocked(parse_utc("2025-03-08T12:00:00Z")) == "weekend"
    assert weekend.blocked(parse_utc("2025-03-07T23:59:59Z")) is None


def test_loss_limits_reconstruct_the_period_start_balance() -> None:
    limits = LossLimits(daily=0.01, weekly=0.02)
    now = parse_utc("2025-03-05T12:00:00Z")
    yesterday = parse_utc("2025-03-04T12:00:00Z")
    # Today: -60 on a day that started at 9 910 -> 0.6 %: allowed. Week: -150 of 10 000.
    closed = [(yesterday, -90.0), (now - 3600 * S, -60.0)]
    assert limits.blocked(now, 9_850.0, closed) is None
    # Another -45 today: day -105 on a day that started at 9 910 (1.06 %) -> halted.
    closed.append((now - 60 * S, -45.0))
    assert limits.blocked(now, 9_805.0, closed).startswith("daily loss limit")
    # Next day the daily limit resets, but the week is -195 on 10 000 (1.95 %): allowed...
    tomorrow = parse_utc("2025-03-06T09:00:00Z")
    assert limits.blocked(tomorrow, 9_805.0, closed) is None
    # ...until the week reaches 2 %.
    closed.append((tomorrow, -10.0))
    assert limits.blocked(tomorrow + S, 9_795.0, closed).startswith("weekly loss limit")
    # A new week starts clean.
    assert limits.blocked(parse_utc("2025-03-10T00:00:01Z"), 9_795.0, closed) is None
