"""The controller's long jobs, one module per kind; each starts on the worker and reports through a `JobHandle`."""

from __future__ import annotations

from app.ui.jobs.handle import JobHandle

__all__ = ["JobHandle"]
