"""Where the clips are scanned: in this process (the default), in a pool of processes on this machine (both
embedded: nothing to install), or on Ray (``aurascope[ray]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core.atlas.build import Engine, LocalEngine, ModelSource
from app.core.atlas.scan import ScanSettings
from app.core.errors import EngineError

if TYPE_CHECKING:
    from app.core.model_runtime import Model
    from app.core.sources import Network


def make_engine(
    name: str,
    network: Model | Network,
    source: ModelSource,
    settings: ScanSettings,
    *,
    address: str | None = None,
    workers: int | None = None,
) -> Engine:
    """``local``: in this process with ``network``; ``pool``: ``workers`` processes of this machine (default one
    per core); ``ray``: Ray Data actors. ``pool`` and ``ray`` workers open ``source`` themselves."""
    if name == "local":
        return LocalEngine(network, settings)
    if name == "pool":
        from app.core.atlas.pool_engine import PoolEngine

        return PoolEngine(source, settings, workers=workers)
    if name == "ray":
        from app.core.atlas.ray_engine import RayEngine

        return RayEngine(source, settings, address=address)
    raise EngineError(f"unknown engine {name!r}: choose local, pool or ray")
