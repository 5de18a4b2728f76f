"""The cache's Redis connections: one pool per process, whichever thread or request context uses the cache."""

from __future__ import annotations

import threading

import redis
from django.conf import settings
from django.core.cache import caches


def test_cache_objects_of_other_threads_share_one_pool_and_its_connection():
    probe = redis.Redis.from_url(settings.REDIS_URL)
    before = len(probe.client_list())
    used = []  # kept alive: a pool of its own would hold its connection open until collected

    def use() -> None:
        cache = caches.create_connection("default")  # as Django makes one per request context
        cache.set("pool-probe", 1, 5)
        used.append(cache)

    for _ in range(5):  # one after another, as requests on worker threads come and go
        thread = threading.Thread(target=use)
        thread.start()
        thread.join()
    pools = {id(cache._cache._get_connection_pool(True)) for cache in used}
    assert len(pools) == 1
    assert len(probe.client_list()) - before <= 1, "each cache object opened its own connection"
    assert caches.create_connection("default").get("pool-probe") == 1
