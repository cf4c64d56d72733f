"""Ports for the servers tests start (this project's range: 8120-8129)."""

from __future__ import annotations

import socket

PORTS = range(8120, 8130)


def free_port() -> int:
    """A port of the range nothing listens on now."""
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")
