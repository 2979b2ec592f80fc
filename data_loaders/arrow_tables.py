"""Frames -> Arrow tables in the framework's own catalog schemas, built with numpy.

``ParquetDataCatalog.write_data`` needs one Python object per row (~250 k trades/s here). The
tables built below are the same tables the framework's serializer produces (a test checks the
bytes), built column-wise: prices and sizes are the framework's 128-bit fixed-point integers
(``value * 10**16``, little-endian), computed from integer tick counts without per-row Python.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from liqcascade.data_loaders.errors import MalformedInputError
from liqcascade.data_loaders.instruments import InstrumentSpec

FIXED_PRECISION = 16  # nautilus_trader.model.objects.FIXED_PRECISION in high-precision builds
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)

LIQUIDATION_SCHEMA = pa.schema(
    {
        "instrument_id": pa.string(),
        "side": pa.string(),
        "price": pa.float64(),
        "quantity": pa.float64(),
        "notional": pa.float64(),
        "type": pa.string(),
        "ts_event": pa.int64(),
        "ts_init": pa.int64(),
    }
)


def to_units(
    values: np.ndarray,
    precision: int,
    *,
    path: Path,
    lines: np.ndarray,
    what: str,
) -> np.ndarray:
    """
    Convert decimal values to integer units of ``10**-precision``, refusing off-grid values.

    Raises
    ------
    MalformedInputError
        Naming the first value with more decimals than ``precision`` allows.

    """
    scaled = np.asarray(values, dtype=np.float64) * (10.0**precision)
    units = np.rint(scaled)
    # Tolerance relative to the magnitude: float parsing of "2500.12" is not exact.
    off_grid = np.abs(scaled - units) > np.maximum(1e-6, np.abs(scaled) * 1e-12)
    if off_grid.any():
        i = int(np.flatnonzero(off_grid)[0])
        raise MalformedInputError(
            path,
            f"line {int(lines[i])}",
            f"{what} {float(values[i])!r} has more than {precision} decimals"
            " (instrument precision)",
        )
    return units.astype(np.int64)


def fixed_point_array(units: np.ndarray, precision: int) -> pa.FixedSizeBinaryArray:
    """
    Encode integer units of ``10**-precision`` as the framework's 128-bit fixed-point values.

    Computes ``units * 10**(16 - precision)`` as a 128-bit product from 32-bit halves, so no
    intermediate overflows 64 bits. Values must be non-negative (prices and sizes are).
    """
    a = np.ascontiguousarray(units, dtype=np.int64).view(np.uint64)
    m = np.uint64(10 ** (FIXED_PRECISION - precision))
    a_lo, a_hi = a & _MASK32, a >> _SHIFT32
    m_lo, m_hi = m & _MASK32, m >> _SHIFT32
    low_product = a_lo * m_lo
    middle = a_lo * m_hi + a_hi * m_lo
    low = low_product + (middle << _SHIFT32)
    carry = (low < low_product).astype(np.uint64)
    high = a_hi * m_hi + (middle >> _SHIFT32) + carry
    words = np.empty((len(a), 2), dtype=np.uint64)
    words[:, 0] = low
    words[:, 1] = high
    buffer = pa.py_buffer(words.tobytes())
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(a), [None, buffer])


def fixed_to_float(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Decode the framework's 128-bit fixed-point values to floats (inverse of the above)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    words = np.frombuffer(array.buffers()[1], dtype=np.uint64)[
        2 * array.offset : 2 * (array.offset + len(array))
    ].reshape(-1, 2)
    high = words[:, 1].view(np.int64).astype(np.float64)
    return (high * 2.0**64 + words[:, 0].astype(np.float64)) / 10.0**FIXED_PRECISION


def trades_table(frame: pd.DataFrame, spec: InstrumentSpec, path: Path) -> pa.Table:
    """Build the framework's ``TradeTick`` table for one instrument from a trade frame."""
    lines = frame["line"].to_numpy()
    price = to_units(
        frame["price"].to_numpy(), spec.price_precision, path=path, lines=lines, what="price"
    )
    size = to_units(
        frame["size"].to_numpy(), spec.size_precision, path=path, lines=lines, what="size"
    )
    metadata = {
        "instrument_id": spec.instrument_id,
        "price_precision": str(spec.price_precision),
        "size_precision": str(spec.size_precision),
    }
    schema = pa.schema(
        [
            pa.field("price", pa.binary(16), nullable=False),
            pa.field("size", pa.binary(16), nullable=False),
            pa.field("aggressor_side", pa.uint8(), nullable=False),
            pa.field("trade_id", pa.string(), nullable=False),
            pa.field("ts_event", pa.uint64(), nullable=False),
            pa.field("ts_init", pa.uint64(), nullable=False),
        ],
        metadata=metadata,
    )
    columns = [
        fixed_point_array(price, spec.price_precision),
        fixed_point_array(size, spec.size_precision),
        pa.array(frame["aggressor"].to_numpy(dtype=np.uint8), pa.uint8()),
        pa.array(frame["trade_id"], pa.string()),
        pa.array(frame["ts_event"].to_numpy(dtype=np.uint64), pa.uint64()),
        pa.array(frame["ts_init"].to_numpy(dtype=np.uint64), pa.uint64()),
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def bars_table(frame: pd.DataFrame, bar_type: str, spec: InstrumentSpec, path: Path) -> pa.Table:
    """Build the framework's ``Bar`` table for one bar type from a bar frame."""
    lines = frame["line"].to_numpy()
    metadata = {
        "bar_type": bar_type,
        "instrument_id": spec.instrument_id,
        "price_precision": str(spec.price_precision),
        "size_precision": str(spec.size_precision),
    }
    fields, columns = [], []
    for name in ("open", "high", "low", "close"):
        units = to_units(
            frame[name].to_numpy(), spec.price_precision, path=path, lines=lines, what=name
        )
        fields.append(pa.field(name, pa.binary(16), nullable=False))
        columns.append(fixed_point_array(units, spec.price_precision))
    # Volume is rounded to the lot precision: exchanges report volume finer than the lot step.
    volume = np.rint(frame["volume"].to_numpy(np.float64) * 10.0**spec.size_precision)
    fields.append(pa.field("volume", pa.binary(16), nullable=False))
    columns.append(fixed_point_array(volume.astype(np.int64), spec.size_precision))
    for name in ("ts_event", "ts_init"):
        fields.append(pa.field(name, pa.uint64(), nullable=False))
        columns.append(pa.array(frame[name].to_numpy(dtype=np.uint64), pa.uint64()))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=metadata))


def liquidations_table(frame: pd.DataFrame, spec: InstrumentSpec) -> pa.Table:
    """Build the ``LiquidationData`` table (the schema the custom data class registers)."""
    price = frame["price"].to_numpy(np.float64)
    quantity = frame["quantity"].to_numpy(np.float64)
    n = len(frame)
    return pa.Table.from_pydict(
        {
            "instrument_id": pa.array([spec.instrument_id] * n, pa.string()),
            "side": pa.array(frame["side"].astype(str), pa.string()),
            "price": price,
            "quantity": quantity,
            "notional": price * quantity,
            "type": pa.array(["LiquidationData"] * n, pa.string()),
            "ts_event": frame["ts_event"].to_numpy(np.int64),
            "ts_init": frame["ts_init"].to_numpy(np.int64),
        },
        schema=LIQUIDATION_SCHEMA,
    )
