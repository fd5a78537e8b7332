"""Which Alternator node the next request goes to: discovery and refresh by ScyllaDB's alternator-client.

Alternator has no server-side load balancer. Its nodes list their live peers at `GET /localnodes` (optionally
for one datacenter or rack); alternator-client polls that list in a background thread and hands out nodes round
robin. The data path asks it for a node before every request, so a retry after a failed request goes to another
node. A server that does not answer /localnodes (DynamoDB Local, moto, dynalite) is used as a single node.

/localnodes is fetched through our own `http_pool`, so discovery trusts the same CA certificates and goes through
the same proxy as the data path (both shipped from the driver in `transport`).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from migrator.config import AlternatorSettings
from migrator.errors import RequestError
from migrator.dynamo.http_pool import HttpPool, TransportError
from migrator.dynamo.transport import Transport

logger = logging.getLogger(__name__)


def _routing_scope(settings: AlternatorSettings):
    """Rack, then its datacenter, then the whole cluster; or datacenter then cluster; or the cluster."""
    from alternator.core import ClusterScope, DatacenterScope, RackScope

    if settings.rack:
        return RackScope(settings.datacenter, settings.rack,
                         fallback=DatacenterScope(settings.datacenter, fallback=ClusterScope()))
    if settings.datacenter:
        return DatacenterScope(settings.datacenter, fallback=ClusterScope())
    return ClusterScope()


def library_config(endpoint_url: str, settings: AlternatorSettings | None):
    """alternator-client's Config for a seed endpoint and the scylla-migrator Alternator keys."""
    from alternator import Config, NodeListPollingConfig, TimeoutConfig

    settings = settings or AlternatorSettings()
    url = urlsplit(endpoint_url)
    polling = NodeListPollingConfig()
    timeouts = TimeoutConfig()
    return Config(
        seed_hosts=[url.hostname],
        port=url.port or (443 if url.scheme == "https" else 80),
        scheme=url.scheme,
        routing_scope=_routing_scope(settings),
        node_list_polling=NodeListPollingConfig(
            active_interval_ms=settings.active_refresh_interval_ms or polling.active_interval_ms,
            idle_interval_ms=settings.idle_refresh_interval_ms or polling.idle_interval_ms,
        ),
        timeouts=TimeoutConfig(
            discovery_seconds=(settings.connection_timeout_ms / 1000) if settings.connection_timeout_ms
            else timeouts.discovery_seconds,
            connect_seconds=(settings.connection_timeout_ms / 1000) if settings.connection_timeout_ms
            else timeouts.connect_seconds,
            read_seconds=timeouts.read_seconds,
        ),
    )


class NodeRouter:
    """Hands out Alternator node URLs, round robin over the live nodes the library knows of."""

    def __init__(self, endpoint_url: str, settings: AlternatorSettings | None,
                 transport: Transport | None = None) -> None:
        from alternator.core.live_nodes import SyncLiveNodesManager
        from alternator.core.routing_scope import ClusterScope, scope_chain_includes_cluster

        self.endpoint_url = endpoint_url
        self.last_error: str | None = None  # why the last /localnodes fetch failed, for the driver's log
        config = library_config(endpoint_url, settings)
        timeout = config.timeouts.discovery_seconds
        self._pool = HttpPool(max_connections=1, connect_timeout=timeout, read_timeout=timeout, transport=transport)
        try:
            self._manager = SyncLiveNodesManager(config, self._fetch)
            if not self._manager.refresh_nodes() and scope_chain_includes_cluster(config.routing_scope):
                self._manager.set_fallback_nodes(list(config.seed_hosts), ClusterScope())  # as alternator-client does
            self._manager.start()
        except Exception as exc:  # the library raises its own errors, OSError and ssl errors alike
            self._pool.close()
            raise RequestError(f"Alternator node discovery from {endpoint_url} failed: "
                               f"{type(exc).__name__}: {exc}") from exc

    def _fetch(self, url: str) -> list[str]:
        """The node addresses /localnodes lists at `url`; none when it fails, as alternator-client's fetcher."""
        from alternator._http import _parse_localnodes

        try:
            answer = self._pool.request("GET", url, [("Accept", "application/json")])
            if answer.status != 200:
                raise ValueError(f"HTTP {answer.status}")
            return _parse_localnodes(answer.body.decode("utf-8"))
        except (TransportError, ValueError) as exc:
            self.last_error = str(exc)
            logger.debug("GET %s failed: %s", url, exc)
            return []

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self._manager.nodes.nodes)

    def __call__(self) -> str:
        try:
            return self._manager.next_node_uri()
        except Exception as exc:  # NoNodesAvailableError, when no node of the routing scope is known
            raise RequestError(f"Alternator node routing from {self.endpoint_url} failed: "
                               f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._manager.stop()
        self._pool.close()


def describe_nodes(endpoint_url: str, settings: AlternatorSettings | None, transport: Transport | None = None) -> str:
    """What discovery finds from `endpoint_url`, in a sentence for the driver's log."""
    router = NodeRouter(endpoint_url, settings, transport)
    try:
        if router._manager.refresh_nodes():
            return f"{len(router.nodes)} nodes discovered through /localnodes: {', '.join(router.nodes)}"
        why = f": {router.last_error}" if router.last_error else ""
        return f"{endpoint_url} does not answer /localnodes (not a ScyllaDB node?){why}; using it as a single node"
    finally:
        router.close()
