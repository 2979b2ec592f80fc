"""``Heartbeat``: a no-op data point just before every print, so late orders meet the right book.

The backtest engine fires due timers before each data point and settles the venue after each
timer batch. A timer *created during the last settle of that loop* - a strategy's order-latency
timer set from ``on_order_rejected`` (the re-priced entry after a post-only rejection) or from a
refused stop (the market close) - is only seen at the next data point's loop, *after* that data
point has moved the book. The order then meets a print later than its own arrival (measured: a
re-priced BUY due at 8 s judged against the print at 20 s). The bias drops exactly the entries
the market trades through.

The execution view therefore adds a ``Heartbeat`` one nanosecond before each distinct print
time. The engine handles the heartbeat first: its timer loop fires every timer due before it
(including those just created) and settles the venue, so an order due before a print is matched
before that print. A heartbeat changes no book (it is custom data nobody subscribes to), and it
cannot tie with a trade (whole microseconds) or a liquidation (``+1 ns``).

Fidelity limits: one heartbeat covers one timer created in a settle. A chain - a timer set in a
settle by an event of an order that was itself sent from such a timer (e.g. a stop refused,
retried after a delay, refused again) - can still meet a print one step late. The strategy
keeps such chains out of backtests: a stop refused because its trigger is in the market is
closed at once, not retried. An order due in the same nanosecond as the heartbeat
(``print - 1 ns``) is matched after the print; latencies are whole milliseconds, so no
strategy event produces one.
"""

# NB: no ``from __future__ import annotations`` here: customdataclass reads real annotations.

import numpy as np
import pyarrow as pa
from nautilus_trader.core.data import Data
from nautilus_trader.core.nautilus_pyo3.model import register_custom_data_class
from nautilus_trader.model.custom import customdataclass_pyo3
from nautilus_trader.model.identifiers import InstrumentId

#: Data client id of heartbeats in a ``BacktestDataConfig`` (custom data needs one).
HEARTBEAT_CLIENT = "BACKTEST_CLOCK"
#: The catalog folder the framework uses for the class (``custom_`` + snake case name).
HEARTBEAT_DIRECTORY = "custom_heartbeat"

HEARTBEAT_SCHEMA = pa.schema(
    {
        "instrument_id": pa.string(),
        "type": pa.string(),
        "ts_event": pa.int64(),
        "ts_init": pa.int64(),
    }
)


@customdataclass_pyo3()
class Heartbeat(Data):
    """
    A point in time for the backtest engine to settle at; carries nothing else.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument whose prints it precedes.

    """

    instrument_id: InstrumentId = InstrumentId.from_str("NULL.NULL")

    @classmethod
    def decode_record_batch_py(cls, metadata: dict, batch: pa.RecordBatch) -> list:
        """
        Heartbeats from an Arrow batch of the catalog.

        The framework's generic decoder goes through a dict and type reflection per row; a
        view holds one heartbeat per print, so that was a fifth of a windowed run. Same objects,
        built directly (the decorator keeps a decoder the class defines).
        """
        ids = batch.column("instrument_id").to_pylist()
        ts_event = batch.column("ts_event").to_numpy().tolist()
        ts_init = batch.column("ts_init").to_numpy().tolist()
        parsed: dict[str, InstrumentId] = {}
        beats = []
        for text, event, init in zip(ids, ts_event, ts_init, strict=True):
            instrument_id = parsed.get(text)
            if instrument_id is None:
                instrument_id = parsed[text] = InstrumentId.from_str(text)
            beats.append(cls(instrument_id=instrument_id, ts_event=event, ts_init=init))
        return beats


register_custom_data_class(Heartbeat)


def heartbeats_table(instrument_id: str, print_ts: np.ndarray) -> pa.Table:
    """Heartbeats 1 ns before each distinct time in ``print_ts`` (sorted ``ts_init`` values)."""
    ts = np.unique(print_ts.astype(np.int64)) - 1
    n = len(ts)
    return pa.Table.from_pydict(
        {
            "instrument_id": pa.array([instrument_id] * n, pa.string()),
            "type": pa.array(["Heartbeat"] * n, pa.string()),
            "ts_event": ts,
            "ts_init": ts,
        },
        schema=HEARTBEAT_SCHEMA,
    )
