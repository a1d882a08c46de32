"""Where a replica container is announced: its bridge address by default, its published port when told,
read off what the Docker engine reports (inspect and list shapes as the engine sends them)."""

from __future__ import annotations

from scaler.runtimes.addresses import Reach, reach_of_inspected, reach_of_listed

INSPECTED = {
    "NetworkSettings": {
        "IPAddress": "",
        "Ports": {"9000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32771"}]},
        "Networks": {"bridge": {"IPAddress": "172.17.0.5"}},
    }
}
LISTED = {
    "Ports": [{"IP": "127.0.0.1", "PrivatePort": 9000, "PublicPort": 32771, "Type": "tcp"}],
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.5"}}},
}


def test_a_replica_is_reached_at_its_bridge_address_or_at_its_published_port() -> None:
    for reach in (reach_of_inspected(INSPECTED, 9000), reach_of_listed(LISTED, 9000)):
        assert reach == Reach(host_port="32771", bridge_ip="172.17.0.5")
        assert reach.address("bridge", 9000) == "172.17.0.5:9000"
        assert reach.address("published", 9000) == "127.0.0.1:32771"


def test_without_a_bridge_address_the_published_port_is_used() -> None:
    assert Reach("32771", "").address("bridge", 9000) == "127.0.0.1:32771"


def test_a_container_that_publishes_no_grpc_port_has_no_reach() -> None:
    assert reach_of_inspected({"NetworkSettings": {"Ports": {"9000/tcp": None}}}, 9000) is None
    assert reach_of_listed({"Ports": [], "NetworkSettings": {}}, 9000) is None
