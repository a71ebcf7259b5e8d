"""Cost per successful turn and per audio minute, with the drivers that moved it.

Pure: takes summed rollup counters per group (split by pool, since prices are per pool)
and a price table; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

DRIVERS = ("retries_per_session", "shadow_fraction", "gpu_seconds_per_audio_second", "sessions")


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def summarize(totals_by_pool: Mapping[str, Mapping[str, float]], price: Callable[[str], float],
              api_per_minute: float | None = None) -> dict[str, Any]:
    """`totals_by_pool`: {pool: {sessions, successful_turns, gpu_seconds, audio_seconds, retries,
    shadow_sessions, api_audio_seconds, fallback_sessions}} for one group -> the cost figures of
    DESIGN.md's /api/v1/cost.

    Two backends cost differently: the self-hosted path costs its GPU-hours at each pool's price,
    the paid API (sessions sent with `backend: api`, the fallback) its audio minutes at
    `api_per_minute`. Sessions that name no backend are self-hosted. Without an API price, the
    API's cost is unknown (None) and left out of `cost_usd` and `cost_per_successful_turn`
    (`api_unpriced_minutes` says how much is missing), and `cost_per_audio_minute` is the
    self-hosted path's."""
    keys = ("sessions", "successful_turns", "gpu_seconds", "audio_seconds", "retries", "shadow_sessions",
            "api_audio_seconds", "fallback_sessions")
    sums = {k: sum(float(t.get(k, 0) or 0) for t in totals_by_pool.values()) for k in keys}
    gpu_cost = sum(float(t.get("gpu_seconds", 0) or 0) / 3600.0 * price(pool) for pool, t in totals_by_pool.items())
    audio_minutes = sums["audio_seconds"] / 60.0
    api_minutes = sums["api_audio_seconds"] / 60.0
    api_cost = api_minutes * api_per_minute if api_per_minute is not None else (0.0 if not api_minutes else None)
    cost = gpu_cost + (api_cost or 0.0)
    self_hosted_minutes = audio_minutes - api_minutes
    # The API's audio used no GPU of ours: GPU time per audio second is the self-hosted path's.
    self_hosted_audio = sums["audio_seconds"] - sums["api_audio_seconds"]
    # Without an API price, a unit cost over all minutes would count the API's minutes at zero,
    # and a fallback would look like savings: the per-minute figure is then the self-hosted one.
    per_minute = _ratio(cost, audio_minutes) if api_cost is not None else _ratio(gpu_cost, self_hosted_minutes)
    return {
        "sessions": int(sums["sessions"]),
        "successful_turns": int(sums["successful_turns"]),
        "gpu_seconds": sums["gpu_seconds"],
        "cost_usd": cost,
        "cost_per_successful_turn": _ratio(cost, sums["successful_turns"]),
        "audio_minutes": audio_minutes,
        "cost_per_audio_minute": per_minute,
        "retries_per_session": _ratio(sums["retries"], sums["sessions"]),
        "shadow_fraction": _ratio(sums["shadow_sessions"], sums["sessions"]),
        "gpu_seconds_per_audio_second": _ratio(sums["gpu_seconds"], self_hosted_audio),
        "fallback_sessions": int(sums["fallback_sessions"]),
        "api_unpriced_minutes": api_minutes if api_cost is None else 0.0,
        "by_backend": {
            "self_hosted": {"audio_minutes": self_hosted_minutes, "cost_usd": gpu_cost,
                            "cost_per_audio_minute": _ratio(gpu_cost, self_hosted_minutes)},
            "api": {"audio_minutes": api_minutes, "cost_usd": api_cost,
                    "cost_per_audio_minute": None if api_cost is None else _ratio(api_cost, api_minutes)},
        },
    }


def drivers(current: Mapping[str, Any], previous: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each cost driver now vs the previous window of equal length, biggest relative move first."""
    out = []
    for name in DRIVERS:
        now = current.get(name)
        before = (previous or {}).get(name)
        change = relative = None
        if now is not None and before is not None:
            change = now - before
            relative = change / abs(before) if before else None
        out.append({"driver": name, "current": now, "previous": before, "change": change,
                    "relative_change": relative})
    out.sort(key=_moved_most)
    return out


def _moved_most(driver: dict[str, Any]) -> float:
    if driver["relative_change"] is not None:
        return -abs(driver["relative_change"])
    if driver["change"]:  # up from zero (shadow traffic switched on): the biggest move there is
        return float("-inf")
    return 0.0
