import importlib

import pytest
from alternator.core import ClusterScope, DatacenterScope, RackScope
from alternator.exceptions import NoNodesAvailableError

from migrator.dynamo.alternator_nodes import NodeRouter, library_config
from migrator.config import AlternatorSettings
from migrator.errors import RequestError


def test_endpoint_and_keys_map_to_the_library_config():
    """Seed, port and scheme come from the endpoint; refresh intervals and timeouts from the Alternator keys."""
    config = library_config("https://scylla-1:8043", AlternatorSettings(
        active_refresh_interval_ms=500, idle_refresh_interval_ms=30_000, connection_timeout_ms=2_000))
    assert (list(config.seed_hosts), config.port, config.scheme) == (["scylla-1"], 8043, "https")
    assert config.node_list_polling.active_interval_ms == 500
    assert config.node_list_polling.idle_interval_ms == 30_000
    assert config.timeouts.connect_seconds == 2.0 and config.timeouts.discovery_seconds == 2.0


def test_rack_falls_back_to_its_datacenter_then_the_cluster():
    """rack routes to the rack first, then the datacenter, then any node, as scylla-migrator does."""
    scope = library_config("http://n:8000", AlternatorSettings(datacenter="dc1", rack="r1")).routing_scope
    assert isinstance(scope, RackScope) and (scope.datacenter, scope.rack) == ("dc1", "r1")
    assert isinstance(scope.fallback, DatacenterScope) and scope.fallback.datacenter == "dc1"
    assert isinstance(scope.fallback.fallback, ClusterScope)


def test_no_preference_routes_over_the_cluster():
    """Without datacenter and rack every live node is used."""
    assert isinstance(library_config("http://n:8000", None).routing_scope, ClusterScope)


def test_discovery_and_routing_failures_are_request_errors_naming_the_seed(monkeypatch):
    """The library's errors (a failed start, no node in scope) surface as the migrator's RequestError."""
    live_nodes = importlib.import_module("alternator.core.live_nodes")

    def broken(config, fetch):
        raise OSError("TLS CA file not found")

    monkeypatch.setattr(live_nodes, "SyncLiveNodesManager", broken)
    with pytest.raises(RequestError, match=r"^Alternator node discovery from http://n:8000 failed: OSError: TLS CA"):
        NodeRouter("http://n:8000", None)

    class NoNodes:
        def __init__(self, config, fetch):
            pass

        def refresh_nodes(self):
            return True

        def start(self):
            pass

        def stop(self):
            pass

        def next_node_uri(self):
            raise NoNodesAvailableError("No nodes available for routing")

    monkeypatch.setattr(live_nodes, "SyncLiveNodesManager", NoNodes)
    router = NodeRouter("http://n:8000", None)
    with pytest.raises(RequestError, match=r"^Alternator node routing from http://n:8000 failed: "
                                           r"NoNodesAvailableError: No nodes available"):
        router()
    router.close()
