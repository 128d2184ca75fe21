"""The Ray engine (``pip install 'aurascope[ray]'``): Ray Data reads the file list and ``map_batches`` runs an actor
pool whose actors keep the model loaded (a GPU each when the cluster has them). ``address`` or ``RAY_ADDRESS`` names
a cluster; without either, Ray starts on this machine."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from app.core.atlas.build import ClipResult, ModelSource
from app.core.atlas.scan import ScanSettings
from app.core.errors import AurascopeError


class RayEngine:
    def __init__(self, source: ModelSource, settings: ScanSettings, *, address: str | None = None) -> None:
        try:
            import ray
            import ray.data  # noqa: F401
        except ImportError as err:
            raise AurascopeError(f"the ray engine needs Ray: pip install 'aurascope[ray]' ({err})") from None
        self.source, self.settings, self.address = source, settings, address

    def scan(self, paths: Sequence[str]) -> Iterator[ClipResult]:
        raise AurascopeError("the ray engine is not available in this build yet; use --engine local")
