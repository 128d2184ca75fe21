"""The Ray engine (``pip install 'aurascope[ray]'``): Ray Data reads the file list and ``map_batches`` runs an actor
pool whose actors keep the model loaded (a GPU each when the cluster has them). ``address`` (else ``RAY_ADDRESS``)
names a cluster; without either, Ray starts on this machine. Ray only moves the work: each clip is scanned by the
same :func:`~app.core.atlas.build.scan_file` as the local engine, so both give the same atlas."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

from app.core.atlas.build import ClipResult, ModelSource, scan_file
from app.core.atlas.scan import ScanSettings
from app.core.atlas.topk import Hit, TopK
from app.core.errors import EngineError

if TYPE_CHECKING:
    import numpy as np

#: Files per call of an actor (each one a whole clip's forward passes).
RAY_BATCH = 4


def encode(result: ClipResult) -> str:
    """A result as JSON text (Python floats round-trip exactly), one Arrow string cell to carry between nodes."""
    return json.dumps({**asdict(result), "hits": [asdict(h) for h in result.hits]})


def decode(text: str) -> ClipResult:
    doc = json.loads(text)
    return ClipResult(**{**doc, "hits": tuple(Hit(**h) for h in doc["hits"])})


class _Scanner:
    """One Ray actor: opens the model once, then scans the files it is handed."""

    def __init__(self, source: ModelSource, settings: ScanSettings, device: str | None) -> None:
        self.network = source.open()
        self.settings = settings
        self.device = device

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:  # Ray Data's batch: column -> array
        return {
            "result": [
                encode(scan_file(str(p), self.network, self.settings, device=self.device)) for p in batch["path"]
            ]
        }


class RayEngine:
    def __init__(
        self, source: ModelSource, settings: ScanSettings, *, address: str | None = None, actors: int | None = None
    ) -> None:
        try:
            import ray
            import ray.data
        except ImportError as err:
            raise EngineError(f"the ray engine needs Ray Data: pip install 'aurascope[ray]' ({err})") from None
        self.source, self.settings = source, settings
        self.address = address or os.environ.get("RAY_ADDRESS")
        self.actors = actors
        self._ray = ray

    def _start(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        try:
            ray.init(address=self.address, log_to_driver=False, include_dashboard=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            where = self.address or "this machine"
            raise EngineError(f"cannot start or reach Ray at {where}: {str(err).strip().splitlines()[0]}") from None

    def scan(
        self, paths: Sequence[str], *, floor: TopK | None = None, hashes: Mapping[str, str] | None = None
    ) -> Iterator[ClipResult]:
        """``floor`` and ``hashes`` are not used: the dataset is laid out before the first result comes back, and
        an actor on another machine reads its own copy of the file."""
        if not paths:
            return
        self._start()
        ray = self._ray
        gpus = int(ray.cluster_resources().get("GPU", 0))
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        actors = self.actors or (gpus if gpus else cpus)
        dataset = ray.data.from_items([{"path": p} for p in paths]).map_batches(
            _Scanner,
            fn_constructor_kwargs={
                "source": self.source,
                "settings": self.settings,
                "device": "cuda" if gpus else "cpu",
            },
            batch_size=RAY_BATCH,
            concurrency=max(1, min(actors, len(paths))),
            num_gpus=1 if gpus else 0,
            num_cpus=0 if gpus else 1,
        )
        for row in dataset.iter_rows():
            yield decode(row["result"])
