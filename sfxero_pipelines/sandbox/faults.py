"""Fault injection settings for the emulators, parsed from the sandbox's (docs/sandbox.md) `--faults` string.

Grammar: comma-separated `key=value`. A key is either global (`latency_ms`, `token_ttl_s`) or
prefixed by a system (`sf.` / `xero.`); a prefixed key applies to that emulator only.
Known fault kinds: `429`, `5xx`, `503`, `lock` (Salesforce UNABLE_TO_LOCK_ROW on writes),
`latency_ms`, `token_ttl_s`. Probabilities are in [0, 1].
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

SYSTEMS = ("sf", "xero")
_PROBABILITY_KINDS = ("429", "5xx", "503", "lock")
_NUMBER_KINDS = ("latency_ms", "token_ttl_s")


class FaultSpecError(ValueError):
    """A --faults string that cannot be understood; the message names the offending part."""


@dataclass
class Faults:
    """Faults for one emulator. Draws are from a seeded RNG so a run with the same seed is repeatable."""

    probabilities: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    token_ttl_s: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        #: kind -> faults injected so far (`GET /__sandbox/stats` reports them: the soak counts them)
        self.injected: dict[str, int] = {}

    def roll(self, kind: str) -> bool:
        p = self.probabilities.get(kind, 0.0)
        if p <= 0:
            return False
        with self._lock:
            hit = self._rng.random() < p
            if hit:
                self.injected[kind] = self.injected.get(kind, 0) + 1
            return hit

    def describe(self) -> dict:
        return {"probabilities": dict(self.probabilities), "latency_ms": self.latency_ms,
                "token_ttl_s": self.token_ttl_s}


def parse_faults(spec: str | None, seed: int = 0) -> dict[str, Faults]:
    """Parse a fault string into one `Faults` per system."""
    per_system: dict[str, dict] = {s: {"probabilities": {}} for s in SYSTEMS}
    for raw in (spec or "").split(","):
        part = raw.strip()
        if not part:
            continue
        if "=" not in part:
            raise FaultSpecError(f"fault '{part}' is not key=value")
        key, _, value = part.partition("=")
        key = key.strip()
        systems: tuple[str, ...] = SYSTEMS
        if "." in key:
            prefix, _, key = key.partition(".")
            if prefix not in SYSTEMS:
                raise FaultSpecError(f"fault '{part}': unknown system '{prefix}' (use sf. or xero.)")
            systems = (prefix,)
        try:
            number = float(value)
        except ValueError:
            raise FaultSpecError(f"fault '{part}': '{value}' is not a number") from None
        if key in _PROBABILITY_KINDS:
            if not 0 <= number <= 1:
                raise FaultSpecError(f"fault '{part}': a probability must be between 0 and 1")
            for s in systems:
                per_system[s]["probabilities"][key] = number
        elif key in _NUMBER_KINDS:
            if number < 0:
                raise FaultSpecError(f"fault '{part}': must not be negative")
            for s in systems:
                per_system[s][key] = number
        else:
            known = ", ".join(_PROBABILITY_KINDS + _NUMBER_KINDS)
            raise FaultSpecError(f"fault '{part}': unknown kind '{key}' (known: {known})")
    return {s: Faults(seed=seed + i, **cfg) for i, (s, cfg) in enumerate(per_system.items())}
