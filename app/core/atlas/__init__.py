"""The corpus atlas: for every feature map, the windows of a whole collection that drive it most."""

from __future__ import annotations

from app.core.atlas.scan import DEFAULT_OVERLAP, ScanSettings, scan_clip, window_starts
from app.core.atlas.topk import DEFAULT_K, Hit, TopK

__all__ = ["DEFAULT_K", "DEFAULT_OVERLAP", "Hit", "ScanSettings", "TopK", "scan_clip", "window_starts"]
