"""Ports for the servers tests start (by default the range 8120-8129)."""

from __future__ import annotations

import socket

PORTS = range(8120, 8130)


def free_port(ports: range = PORTS) -> int:
    """A port of the range nothing listens on now."""
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")
