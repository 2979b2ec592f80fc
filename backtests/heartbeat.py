"""Heartbeats: a no-op print one nanosecond before every real one, so late orders meet the right
book.

The backtest engine fires due timers before each data point and settles the venue after each
timer batch. A timer *created during the last settle of that loop* - a strategy's order-latency
timer set from ``on_order_rejected`` (the re-priced entry after a post-only rejection) or from a
refused stop (the market close) - is only seen at the next data point's loop, *after* that data
point has moved the book. The order then meets a print later than its own arrival (measured: a
re-priced BUY due at 8 s judged against the print at 20 s). The bias drops exactly the entries
the market trades through.

The execution view therefore adds a heartbeat one nanosecond before each distinct print time.
The engine handles the heartbeat first: its timer loop fires every timer due before it
(including those just created) and settles the venue, so an order due before a print is matched
before that print.

A heartbeat is a trade of the instrument's *clock twin* (``ETHUSDT-LINEAR-CLOCK.BYBIT``): an
instrument with the real one's definition and another id, on the same venue, which no strategy
subscribes to and which holds no orders. It changes no book the strategy trades on, and it
cannot tie with a real trade (whole microseconds) or a liquidation (``+1 ns``). A trade and not a
custom ``Data`` class because the engine handles its own types natively: custom data goes
through a Python decoder, object and sort key per row, which made heartbeats a third of a
windowed run (measured with ``benchmarks/bench_sweep.py``).

Only where one can matter: a timer the strategy creates while the venue settles at ``T`` is due
at ``T + delay``, where ``delay`` is at least the smallest of its timer delays (the order
latency, the close retry, the entry timeout, the max hold: :func:`min_timer_delay_ns`). ``T`` is
later than the previous data point, so a print less than ``delay`` after the symbol's previous
print can have no such timer due before it, and gets no heartbeat. In a cascade most prints are
that close; the rule removes most heartbeats and none that could change a fill.

Fidelity limits: one heartbeat covers one timer created in a settle. A chain - a timer set in a
settle by an event of an order that was itself sent from such a timer (e.g. a stop refused,
retried after a delay, refused again) - can still meet a print one step late. The strategy
keeps such chains out of backtests: a stop refused because its trigger is in the market is
closed at once, not retried. An order due in the same nanosecond as the heartbeat
(``print - 1 ns``) is matched after the print; latencies are whole milliseconds, so no
strategy event produces one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

NS_PER_S = 1_000_000_000

#: What a clock twin's symbol adds to the real one's (``ETHUSDT-LINEAR`` -> ``...-CLOCK``).
CLOCK_SUFFIX = "-CLOCK"


def clock_instrument_id(instrument_id: str) -> str:
    """The id of ``instrument_id``'s clock twin: same venue, symbol + ``-CLOCK``."""
    symbol, _, venue = instrument_id.rpartition(".")
    return f"{symbol}{CLOCK_SUFFIX}.{venue}"


def clock_definition(definition: pa.Table, instrument_id: str) -> pa.Table:
    """The clock twin's definition: the instrument's own Arrow row with the twin's ids."""
    clock_id = clock_instrument_id(instrument_id)
    n = definition.num_rows
    for name, value in (("id", clock_id), ("raw_symbol", clock_id.rpartition(".")[0])):
        index = definition.schema.get_field_index(name)
        column = pa.array([value] * n, definition.schema.field(index).type)
        definition = definition.set_column(index, definition.schema.field(index), column)
    return definition


def min_timer_delay_ns(strategy: dict[str, Any] | None, latency_ns: int) -> int:
    """
    The shortest delay of any timer the cascade strategy sets (order latency, close retry, entry
    timeout, max hold); ``0`` - a heartbeat before every print - without a strategy or latency.
    """
    if strategy is None or latency_ns <= 0:
        return 0
    from liqcascade.strategies.cascade_mm import CascadeMarketMakerConfig

    config = CascadeMarketMakerConfig(instrument_id="X.Y", **strategy)
    seconds = (config.close_retry_s, config.entry_timeout_s, config.max_hold_s)
    return min(latency_ns, *(int(s * NS_PER_S) for s in seconds))


def heartbeats_table(prints: pa.Table, instrument_id: str, min_gap_ns: int = 0) -> pa.Table:
    """
    Heartbeats for a table of prints (trade-tick catalog schema, sorted by ``ts_init``): a trade
    of the clock twin 1 ns before each distinct print time more than ``min_gap_ns`` after the
    previous one (and before the first), with that print's price and size (never matched).
    """
    ts = prints["ts_init"].to_numpy().astype(np.int64)
    times, first = np.unique(ts, return_index=True)
    keep = np.ones(len(times), dtype=bool)
    keep[1:] = np.diff(times) > min_gap_ns
    times, first = times[keep], first[keep]
    beats = prints.take(pa.array(first))
    stamps = pa.array(times - 1, pa.uint64())
    for name in ("ts_event", "ts_init"):
        index = beats.schema.get_field_index(name)
        beats = beats.set_column(index, beats.schema.field(index), stamps)
    metadata = dict(prints.schema.metadata or {})
    metadata[b"instrument_id"] = clock_instrument_id(instrument_id).encode()
    return beats.replace_schema_metadata(metadata)
