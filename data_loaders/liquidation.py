"""The ``LiquidationData`` custom data type.

One forced liquidation on a venue, normalised so that every source means the same thing:
``side`` is the side of the **liquidated position** (``LONG`` = a long was force-closed, which
is forced *selling* and pushes the price down). Each loader converts its own convention at its
boundary; nothing downstream ever sees an order side.

Timestamps
----------
``ts_event`` is the exchange's event time. ``ts_init`` is when a live client could have known
about the event: the recorder's receipt time when the source has one, otherwise
``ts_event + feed_delay`` (Bybit pushes ``allLiquidation`` every 500 ms). Loaders also add one
nanosecond so a liquidation never shares a ``ts_init`` with a trade (trade timestamps are whole
microseconds): ties are ordered differently by the engine's one-shot and streaming modes, and a
tie-free stream makes both modes replay identically.

Two identical liquidations in one push are two rows: the catalog numbers them in the last
nanoseconds of ``ts_event`` (see ``frames.number_identical_liquidations``), so they survive its
de-duplication while a re-import still adds nothing.
"""

# NB: no ``from __future__ import annotations`` here: customdataclass reads real annotations.

import pyarrow as pa
from nautilus_trader.core.data import Data
from nautilus_trader.core.nautilus_pyo3.model import register_custom_data_class
from nautilus_trader.model.custom import customdataclass_pyo3
from nautilus_trader.model.identifiers import InstrumentId

LONG = "LONG"
SHORT = "SHORT"
SIDES = (LONG, SHORT)

#: Default delay between the exchange event and a live client receiving it, in nanoseconds.
DEFAULT_FEED_DELAY_NS = 500_000_000
#: Added to every liquidation ``ts_init`` so it cannot tie with a trade (see module docstring).
TIE_BREAK_NS = 1


@customdataclass_pyo3()
class LiquidationData(Data):
    """
    A forced liquidation of one position.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument, e.g. ``ETHUSDT-LINEAR.BYBIT``.
    side : str
        Side of the liquidated position: ``"LONG"`` or ``"SHORT"``.
    price : float
        Bankruptcy price reported by the venue.
    quantity : float
        Liquidated size in base units.
    notional : float
        ``price * quantity`` in quote currency (USDT).
    ts_event : int
        Exchange event time, UNIX nanoseconds (keyword argument).
    ts_init : int
        Receipt time, UNIX nanoseconds (keyword argument).

    """

    instrument_id: InstrumentId = InstrumentId.from_str("NULL.NULL")
    side: str = LONG
    price: float = 0.0
    quantity: float = 0.0
    notional: float = 0.0

    @property
    def is_long_liquidated(self) -> bool:
        """Whether a long position was liquidated (forced selling)."""
        return self.side == LONG

    @classmethod
    def decode_record_batch_py(cls, metadata: dict, batch: pa.RecordBatch) -> list:
        """
        Liquidations from an Arrow batch of the catalog: the same objects as the framework's
        generic decoder (a dict and type reflection per row), built directly - every backtest
        reads every liquidation, a sweep does so once per setting. The decorator keeps a
        decoder the class defines.
        """
        columns = [
            batch.column(name).to_pylist()
            for name in ("instrument_id", "side", "price", "quantity", "notional")
        ]
        ts_event = batch.column("ts_event").to_numpy().tolist()
        ts_init = batch.column("ts_init").to_numpy().tolist()
        parsed: dict[str, InstrumentId] = {}
        rows = []
        for text, side, price, quantity, notional, event, init in zip(
            *columns, ts_event, ts_init, strict=True
        ):
            instrument_id = parsed.get(text)
            if instrument_id is None:
                instrument_id = parsed[text] = InstrumentId.from_str(text)
            rows.append(
                cls(
                    instrument_id=instrument_id,
                    side=side,
                    price=price,
                    quantity=quantity,
                    notional=notional,
                    ts_event=event,
                    ts_init=init,
                )
            )
        return rows


register_custom_data_class(LiquidationData)
