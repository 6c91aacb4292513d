"""Explainable, content-addressed cache."""

from conveyor.cache.code import CodeFingerprint, code_fingerprint, is_local_file
from conveyor.cache.keys import CacheKey, explain_change
from conveyor.cache.lookup import CacheHit, CacheLookup, find_cache_hit

__all__ = [
    "CacheHit",
    "CacheKey",
    "CacheLookup",
    "CodeFingerprint",
    "code_fingerprint",
    "explain_change",
    "find_cache_hit",
    "is_local_file",
]
