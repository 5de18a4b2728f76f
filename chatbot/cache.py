"""Django's Redis cache with one connection pool per process instead of one per cache object.

Django makes a cache object per request context (and per worker thread), and each of its Redis clients starts
its own pool: every request that touched the cache (a rate limit, the title watcher) opened a new connection to
Redis, with its handshake, under load a measurable share of a chat's CPU (bench/chat_latency.py's profile).
redis-py's pools are thread-safe and notice a fork (Celery's workers), so one per server serves them all.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict[tuple[str, str], object] = {}
_pools_lock = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write):
        server = self._servers[self._get_connection_pool_index(write)]
        key = (server, repr(sorted(self._pool_options.items())))
        pool = _pools.get(key)
        if pool is None:
            with _pools_lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = self._pool_class.from_url(server, **self._pool_options)
        return pool


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
