"""What every preflight check answers: one row per thing asked, in a shape people and scripts read."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Result(StrEnum):
    OK = "ok"
    WARN = "warn"
    """The apply can go on, but a person should look: something could not be asked, or may fail later."""
    BLOCK = "block"
    """The apply would fail (or leave a pool that can never scale): fix it first."""


@dataclass(frozen=True)
class Row:
    check: str
    """The check family: quota, offering, capacity, version, api, dns, network, secret."""
    resource: str
    """What was asked about, as the stack names it (cluster/pool, region, zone, version)."""
    result: Result
    detail: str
    """What the cloud answered, and, when the result is not ok, how to fix it."""

    def to_json(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


def blocked(rows: list[Row]) -> bool:
    return any(r.result is Result.BLOCK for r in rows)
