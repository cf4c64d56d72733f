"""The provider simulator as tests run it: its own process, on a free port."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.servers import free_port


@dataclass(frozen=True)
class Simulator:
    url: str

    async def faults(self, mode: str, *, times: int | None = None, delay: float = 60.0) -> None:
        async with httpx.AsyncClient() as http:
            sent: dict[str, Any] = {"mode": mode, "times": times, "delay": delay}
            response = await http.post(f"{self.url}/faults", json=sent)
            response.raise_for_status()

    async def calls(self) -> dict[str, int]:
        async with httpx.AsyncClient() as http:
            counted: dict[str, int] = (await http.get(f"{self.url}/calls")).json()
        return counted

    async def raw(self, path: str) -> bytes:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{self.url}/{path}")).content


@asynccontextmanager
async def running_simulator(seed: int = 7) -> AsyncIterator[Simulator]:
    """``lendgraph provider-simulator`` in a child process, until the block ends."""
    port = free_port()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "api.cli", "provider-simulator", "--port", str(port), "--seed", str(seed)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    simulator = Simulator(f"http://127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(600):  # up to a minute on a busy machine
                try:
                    await http.get(f"{simulator.url}/calls")
                    break
                except httpx.TransportError:
                    assert child.returncode is None, "the simulator exited"
                    await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the provider simulator did not start")
        yield simulator
    finally:
        child.terminate()
        await asyncio.wait_for(child.wait(), timeout=30)
