"""Which model answers a request: the primary, or the canary for a share of the traffic.

``--canary models:/census@challenger=10%`` sends 10% of the requests to the challenger. A
request that carries a key (the ``X-Request-Key`` header: a user or session id, say) goes
where a stable hash of its key falls, so the same key always reaches the same model while
the split holds; a request without a key is sent at random with the same odds.
"""

from __future__ import annotations

import hashlib
import random

from conveyor.errors import ConfigError

__all__ = ["KEY_HEADER", "goes_to_canary", "key_share", "parse_canary"]

KEY_HEADER = "x-request-key"
"""The request header whose value decides the canary split (``X-Request-Key``)."""


def parse_canary(text: str) -> tuple[str, float]:
    """The model and the share of traffic of ``MODEL=PERCENT%``.

    Raises:
        ConfigError: not that form, or a percentage outside (0, 100].

    Example:
        >>> parse_canary("models:/census@challenger=10%")
        ('models:/census@challenger', 0.1)
    """
    model, eq, share = text.rpartition("=")
    number = share.strip().removesuffix("%")
    try:
        percent = float(number)
    except ValueError:
        percent = -1.0
    if not eq or not model or not share.strip().endswith("%") or not 0 < percent <= 100:
        raise ConfigError(
            f"--canary {text!r}: write MODEL=PERCENT%, a model and the share of requests it "
            "answers, more than 0% and at most 100% (e.g. models:/census@challenger=10%)"
        )
    return model, percent / 100


def key_share(key: str) -> float:
    """Where ``key`` falls in [0, 1): the first 8 bytes of its BLAKE2b digest, the same in
    every process and on every run (Python's ``hash`` of a string is not)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def goes_to_canary(key: str | None, fraction: float) -> bool:
    """Whether a request with ``key`` (``None``: none given) goes to the canary that answers
    ``fraction`` of the traffic."""
    if fraction <= 0:
        return False
    share = random.random() if key is None else key_share(key)
    return share < fraction
