"""What a holdings item's status means, the same for every protocol that shows holdings."""
from __future__ import annotations

AVAILABLE_STATUSES = frozenset(("", "0", "available", "on shelf"))


def available_now(item: dict) -> bool:
    """An item is on the shelf unless its status says otherwise (Koha's 952 $7 is 0 when it is)."""
    return item.get("status", "").strip().lower() in AVAILABLE_STATUSES
