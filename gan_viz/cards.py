"""What every model card shares: picking the logged training records its loss table shows."""
from __future__ import annotations


def loss_rows(records: list[dict], key: str, n: int = 12) -> list[dict]:
    """About n evenly spaced records that logged `key`, always ending with the last one."""
    logged = [r for r in records if key in r]
    picked = logged[:: max(1, len(logged) // n)]
    if logged and logged[-1] is not picked[-1]:
        picked.append(logged[-1])
    return picked
