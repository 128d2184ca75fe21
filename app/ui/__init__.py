"""The window: the only package that imports Qt (PySide6) and pyqtgraph.

The GUI thread draws and never runs torch: every model or analysis call goes through the one compute
worker (`app.ui.worker`, on `app.core.jobs.LatestWins`), and no module here imports torch at module level,
so the window shows before torch has loaded. Playback goes through `app.playback.PlaybackEngine`, polled at
~30 Hz.
"""
