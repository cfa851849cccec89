"""Turning a messy sales export into typed rows."""

from __future__ import annotations

VALID_REGIONS = ("north", "south", "east", "west")


def norm_region(value: str) -> str:
    return value.strip().lower()


def parse_row(row: dict[str, str]) -> dict[str, object] | None:
    """A typed row, or None when the row cannot be trusted."""
    region = norm_region(row["region"])
    if region not in VALID_REGIONS:
        return None
    try:
        quantity = int(row["quantity"])
        price = float(row["unit_price"])
    except ValueError:
        return None
    return {
        "order_id": int(row["order_id"]),
        "month": row["date"][:7],
        "region": region,
        "product": row["product"],
        "quantity": quantity,
        "revenue": round(quantity * price, 2),
    }
