"""Where the clips are scanned: here (the embedded default, nothing to install) or on Ray (``aurascope[ray]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core.atlas.build import Engine, LocalEngine, ModelSource
from app.core.atlas.scan import ScanSettings
from app.core.errors import EngineError

if TYPE_CHECKING:
    from app.core.model_runtime import Model
    from app.core.sources import Network


def make_engine(
    name: str, network: Model | Network, source: ModelSource, settings: ScanSettings, *, address: str | None = None
) -> Engine:
    """``local``: in this process with ``network``; ``ray``: Ray Data actors that open ``source`` themselves."""
    if name == "local":
        return LocalEngine(network, settings)
    if name == "ray":
        from app.core.atlas.ray_engine import RayEngine

        return RayEngine(source, settings, address=address)
    raise EngineError(f"unknown engine {name!r}: choose local or ray")
