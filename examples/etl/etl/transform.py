"""Turning raw export rows (two logger formats) into typed readings."""

from __future__ import annotations

import re

PLAUSIBLE_C = (-50.0, 50.0)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def f_to_c(fahrenheit: float) -> float:
    return round((fahrenheit - 32) * 5 / 9, 1)


def _number(value: object) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except ValueError:
        return None


def parse_reading(row: dict[str, object]) -> dict[str, object] | None:
    """A typed reading from either export format, or None when the row cannot be trusted.

    Old loggers (CSV): date, station, temp_c, precip_mm.
    New loggers (JSONL): ts (ISO timestamp), station_id, temp_f, rain_mm.
    """
    if "ts" in row:
        date = str(row["ts"])[:10]
        station = str(row.get("station_id", ""))
        f = _number(row.get("temp_f"))
        temp = f_to_c(f) if f is not None else None
        precip = _number(row.get("rain_mm"))
    else:
        date = str(row.get("date", ""))
        station = str(row.get("station", ""))
        temp = _number(row.get("temp_c"))
        precip = _number(row.get("precip_mm"))
    if not _DATE.match(date) or temp is None:
        return None
    if not PLAUSIBLE_C[0] <= temp <= PLAUSIBLE_C[1]:
        return None
    return {"station": station.strip().upper(), "date": date, "month": date[:7],
            "temp_c": temp, "precip_mm": precip or 0.0}
