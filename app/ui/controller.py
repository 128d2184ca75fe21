"""The window's state and its worker jobs, apart from any widget: the window is a view of this.

`Controller` owns the open network (``model``, its `ModelSummary`), the analysed clips and the one on screen,
the selected map and the one held for comparison, their renderings, the thumbnail queue and cache, and the
compute worker every job runs on. Mode and method are arguments of each request (never read back from a combo
box); a result is kept only if it answers the newest request, so a quick browser never sees a stale map. The
window, tree, gallery, inspector and dialogs show what its signals deliver and forward what the user does.

Long jobs (opening a network, a clip or a session; export, characterisation, the report, loudness measurements) are
started by a method that takes plain arguments and returns a `JobHandle`: its signals say started / progress /
finished (a typed value) / failed / ended, and it can be cancelled. Those methods are in `app.ui.controller_jobs`
(mixed in here), their bodies in `app.ui.jobs`.

Everything here runs on the GUI thread; the jobs' bodies (`app.ui.compute`) run on the worker.
"""

from __future__ import annotations

import dataclasses
import math
import time
import weakref
from collections import OrderedDict, deque
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QPixmap

from app.core.types import FeatureRef, Method, Mode
from app.ui import compute
from app.ui.compute import Auralisation, ClipSummary, ModelSource, ModelSummary
from app.ui.controller_jobs import JobStarts
from app.ui.images import thumbnail_pixmap
from app.ui.jobs import atlas_jobs
from app.ui.jobs.atlas_jobs import AtlasSummary, Excerpt, ExcerptAudio, ExcerptClips, Listing
from app.ui.jobs.handle import JobHandle
from app.ui.worker import ATLAS, CLIP, COMPARE, EXCERPT, EXCERPTS, FINDINGS, OPEN, RENDER, THUMBNAILS, ComputeWorker

#: the lanes the busy indicator's Cancel stops: opening a network, a clip, a session or an atlas; analysing a clip
OPENING_LANES = (OPEN, CLIP, ATLAS)
MAX_ANALYSES = 4  # clips kept analysed at once (each holds its STFT, forward pass and rendered maps)
MAX_EXCERPTS = 32  # rendered excerpts kept (a few seconds of audio each): going back to one plays it at once
THUMBNAIL_TARGET_S = 0.12  # one background job's length: a click waits at most about this long
THUMBNAIL_PAUSE_S = 1.5  # no background job starts this soon after a click: browsing comes in bursts

#: a map's two thumbnails: the tree's and the gallery's
Thumbnails = dict[FeatureRef, tuple[QPixmap, QPixmap]]


class Controller(JobStarts, QObject):
    """State and jobs of one window. Signals carry finished values, on the GUI thread:

    ``featureWindowReady(FirstWindow)``: a long clip's first window of slot B, in a buffer the rest fills;
    ``findingsReady(ClipSummary)``: an analysed clip again, now with its findings (energies, predictions);
    ``findingsFailed(ClipSummary, reason)``;
    ``featureRendered(Auralisation)``: slot B's whole rendering of the selected map (audio ready);
    ``residualRendered(Auralisation)``: its residual (slot R); ``comparedRendered(Auralisation)``: the map held
    as C; ``renderFailed(ref, reason)``; ``thumbnailsMade(Thumbnails)``; ``thumbnailProgress(done, total)``
    (``total`` 0 when the queue is empty); ``thumbnailsFailed(reason)``; ``workerIdle()`` when the worker has
    drained, before the next thumbnail job is submitted (the window opens a waiting audio device there);
    ``modelOpened(ModelSummary, ModelSource | None)`` when an opened network replaces the one held (the analysed
    clips and thumbnails went with it), before the open job's ``finished``.

    The corpus atlas (the Top excerpts panel): ``atlasOpened(AtlasSummary)``, ``atlasFailed(path, reason)``;
    ``excerptFound(Excerpt)`` per row as a map's excerpts are read, then ``excerptsListed(Listing)`` (all of them,
    with the map's over-represented corpus labels);
    ``excerptRendered(ExcerptAudio)``; ``excerptFailed(Excerpt, reason)``.
    """

    featureWindowReady = Signal(object)
    firstMapReady = Signal()  # once per run: the first map's audio is in its slot (start-up is over)
    findingsReady = Signal(object)
    findingsFailed = Signal(object, str)
    featureRendered = Signal(object)
    residualRendered = Signal(object)
    comparedRendered = Signal(object)
    renderFailed = Signal(object, str)
    thumbnailsMade = Signal(object)
    thumbnailProgress = Signal(int, int)
    thumbnailsFailed = Signal(str)
    busyChanged = Signal(bool, str)  # an interactive job is running (its text, "Exporting…"), or none is
    workerIdle = Signal()  # the worker has drained; background thumbnails resume right after the receivers ran
    modelOpened = Signal(object, object)  # (ModelSummary, ModelSource | None): a network adopted, clips forgotten
    atlasOpened = Signal(object)
    atlasFailed = Signal(object, str)
    excerptFound = Signal(object)
    excerptsListed = Signal(object)
    excerptRendered = Signal(object)
    excerptFailed = Signal(object, str)

    def __init__(self, parent: QObject | None = None, *, thumbnails: bool = True) -> None:
        super().__init__(parent)
        self.worker = ComputeWorker(self)
        self.thumbnails_enabled = thumbnails
        # the network and the clips
        self.model_handle = None  # app.core Network (opaque here: only the worker calls it)
        self.model_source: ModelSource | None = None
        self.summary: ModelSummary | None = None
        self.analysis = None  # the clip on screen's Analysis (opaque here)
        self.clip: ClipSummary | None = None
        self.analyses: OrderedDict[str, tuple[object, ClipSummary]] = OrderedDict()  # sha256 -> analysed clip
        self._finding: set[int] = set()  # analyses whose findings are being computed (by id)
        self._unfound: weakref.WeakSet = weakref.WeakSet()  # analyses whose findings failed: said once, not retried
        # the selection and its renderings
        self.selected: FeatureRef | None = None
        self.feature: Auralisation | None = None
        self.residual: Auralisation | None = None
        self.compare: FeatureRef | None = None
        self.compared: Auralisation | None = None
        self._wanted: tuple[FeatureRef, Mode, Method] | None = None  # the newest render request
        self._wanted_compare: tuple[FeatureRef, Mode, Method] | None = None
        self._window_delivered = False  # the newest request's first window has been delivered
        self.render_requested_at = 0.0
        self.last_ready_seconds = math.nan
        self.first_ready_at: float | None = None  # wall-clock time the first map was ready
        # thumbnails: a queue worked off in short jobs while the worker is otherwise idle
        self.thumb_queue: deque[FeatureRef] = deque()
        self._thumb_analysis = None  # the analysis the queued thumbnails belong to
        self._thumb_method = Method.DECONVNET
        self._thumb_per_map: dict[int, float] = {}  # seconds per map, measured per layer
        self._thumb_done = 0
        self.thumb_total = 0
        #: (clip sha256, method) -> map -> (tree pixmap, gallery pixmap): a clip seen again shows them at once
        self.thumb_cache: dict[tuple[str, str], Thumbnails] = {}
        self._thumb_timer = QTimer(self)
        self._thumb_timer.setSingleShot(True)
        self._thumb_timer.timeout.connect(self.next_thumbnails)
        self.worker.drained.connect(self._worker_drained)
        self.worker.busyChanged.connect(self.busyChanged)
        self.jobs: set[JobHandle] = set()  # long jobs not ended yet (held here: the view may drop its handle)
        # the corpus atlas
        self.atlas: AtlasSummary | None = None
        self._listing: FeatureRef | None = None  # the map whose excerpts are being listed (newest wins)
        self._wanted_excerpt: tuple | None = None  # the newest excerpt render request
        self.excerpt_cache: OrderedDict[tuple, ExcerptAudio] = OrderedDict()
        self._excerpt_clips: ExcerptClips | None = None  # the clips excerpts were last rendered from (worker's)

    def cancel_all(self) -> None:
        """Stop every job and the thumbnail queue (closing: nothing new starts)."""
        self._thumb_timer.stop()
        self.thumb_queue.clear()
        for handle in list(self.jobs):
            handle.cancel()
        self.worker.cancel_all()

    def shutdown(self) -> None:
        """Wait for the worker to finish its current job and stop it."""
        self.worker.drained.disconnect(self._worker_drained)
        self.worker.shutdown()

    def _worker_drained(self) -> None:
        self.workerIdle.emit()
        self.next_thumbnails()

    # ==== what the open network and clip say =================================================================
    def default_ref(self) -> FeatureRef:
        """The map shown first: layer 2's first (layer 1's maps are mostly edge detectors), else layer 1's."""
        return FeatureRef(2, 0) if self.summary and len(self.summary.layers) >= 2 else FeatureRef(1, 0)

    def valid(self, ref: FeatureRef) -> bool:
        """Whether the open network has map ``ref``."""
        ref = FeatureRef.of(ref)
        return (
            self.summary is not None
            and 1 <= ref.layer <= len(self.summary.layers)
            and (0 <= ref.index < self.summary.layers[ref.layer - 1].n_maps)
        )

    def frame_seconds(self) -> float:
        return self.summary.hop_length / self.summary.sample_rate if self.summary else 0.0

    def energy_of(self, ref: FeatureRef) -> tuple[float | None, str]:
        """The map's activation energy on the clip on screen and its rank in its layer (``"3 of 64"``); the rank
        is ``"…"`` while the clip's findings are being computed, empty if they failed."""
        if self.clip is not None and self.clip.findings is None:
            return None, "" if self.analysis in self._unfound else "…"
        if self.clip is None or ref.layer not in self.clip.energies:
            return None, ""
        values = self.clip.energies[ref.layer]
        rank = 1 + int((values > values[ref.index]).sum())
        return float(values[ref.index]), f"{rank} of {len(values)}"

    # ==== rendering ===========================================================================================
    def render(
        self,
        ref: FeatureRef,
        mode: Mode,
        method: Method,
        device_rate: int,
        *,
        start_s: float = 0.0,
        end_s: float | None = None,
    ) -> bool:
        """Select ``ref`` and render it in ``mode`` with ``method`` at ``device_rate`` (slot B, then the residual
        for R); newest request wins. A long clip is rendered window first, from ``start_s`` (to ``end_s``, a loop
        region), then the rest. False when there is no clip to render it on (the selection still moves)."""
        ref, mode, method = FeatureRef.of(ref), Mode(mode), Method(method)
        self.selected = ref
        self._wanted = (ref, mode, method)
        self._window_delivered = False
        self.thumbnails_first(ref.layer)
        if self.analysis is None:
            return False
        summary, analysis = self.summary, self.analysis
        self.render_requested_at = time.perf_counter()

        def run(job):
            def on_first(result: Auralisation) -> None:
                self.worker.post(job, self._feature_rendered, result)

            if compute.progressive_wanted(analysis, ref.layer):  # a long clip: the window heard first, then the rest
                return compute.render_feature_progressive(
                    analysis,
                    summary,
                    ref,
                    mode,
                    device_rate,
                    start_s,
                    end_s,
                    method=method,
                    on_window=lambda window: self.worker.post(job, self._feature_window, window),
                    on_first=on_first,
                    cancelled=lambda: job.cancelled,
                )
            return compute.render_feature(
                analysis,
                summary,
                ref,
                mode,
                device_rate,
                method=method,
                on_first=on_first,
                cancelled=lambda: job.cancelled,
            )

        self.worker.submit(
            RENDER,
            run,
            on_result=self._residual_rendered,
            on_error=lambda err: self.renderFailed.emit(ref, f"{type(err).__name__}: {err}"),
        )
        return True

    def forget_selection(self) -> FeatureRef | None:
        """Drop the selection (so the next `render` of the same map renders again); returns what it was."""
        ref, self.selected, self._wanted = self.selected, None, None
        return ref

    def _ready(self) -> None:
        """A request's first audio (its window, or the whole rendering): time it from the click."""
        if not self._window_delivered:
            self.last_ready_seconds = time.perf_counter() - self.render_requested_at
        if self.first_ready_at is None:
            self.first_ready_at = time.time()
            self.firstMapReady.emit()

    def _feature_window(self, window: compute.FirstWindow) -> None:
        if self._wanted is None or (window.ref, window.mode, window.method) != self._wanted:
            return
        self._ready()
        self._window_delivered = True
        self.featureWindowReady.emit(window)

    def _feature_rendered(self, result: Auralisation) -> None:
        if self._wanted is None or (result.ref, result.mode, result.method) != self._wanted:
            return  # a stale result: the listener has moved on
        self.feature = result
        self._ready()
        self.featureRendered.emit(result)

    def _residual_rendered(self, result: Auralisation | None) -> None:
        if result is None or self._wanted is None:
            return
        ref, _, method = self._wanted
        if (result.ref, result.mode, result.method) != (ref, Mode.RESIDUAL, method):
            return
        self.residual = result
        self.residualRendered.emit(result)

    def set_compare(self, ref: FeatureRef | None, mode: Mode, method: Method, device_rate: int) -> bool:
        """Hold ``ref`` as C (None lets it go) and render it (no residual); False when nothing is rendered."""
        self.compare = FeatureRef.of(ref) if ref is not None else None
        self.compared = None
        self._wanted_compare = None
        if self.compare is None or self.analysis is None:
            return False
        wanted = (self.compare, Mode(mode), Method(method))
        self._wanted_compare = wanted
        summary, analysis = self.summary, self.analysis

        def run(job):
            return compute.render_feature(
                analysis, summary, wanted[0], wanted[1], device_rate, method=wanted[2], residual=False
            )

        def done(result: Auralisation | None) -> None:
            if result is None or (result.ref, result.mode, result.method) != self._wanted_compare:
                return
            self.compared = result
            self.comparedRendered.emit(result)

        self.worker.submit(
            COMPARE,
            run,
            on_result=done,
            on_error=lambda err: self.renderFailed.emit(wanted[0], f"{type(err).__name__}: {err}"),
        )
        return True

    # ==== thumbnails (background, one short job at a time) ====================================================
    def start_thumbnails(self, first_layer: int, method: Method) -> Thumbnails:
        """Queue every map's thumbnails of the clip on screen for ``method``, ``first_layer`` first; returns
        those already made (a clip seen before), which the window shows at once."""
        self.worker.cancel(THUMBNAILS)
        self.thumb_queue.clear()
        self._thumb_per_map.clear()
        if not self.thumbnails_enabled or self.summary is None:
            return {}
        for stale in [k for k in self.thumb_cache if k[0] not in self.analyses]:
            del self.thumb_cache[stale]  # memory follows the analysed clips
        self._thumb_method = Method(method)
        cached = self.thumb_cache.setdefault(self._thumb_key(), {})
        order = [first_layer] + [layer.number for layer in self.summary.layers if layer.number != first_layer]
        for number in order:
            n_maps = self.summary.layers[number - 1].n_maps
            self.thumb_queue.extend(FeatureRef(number, k) for k in range(n_maps) if (number, k) not in cached)
        self.thumb_total, self._thumb_done = len(self.thumb_queue), 0
        self._thumb_analysis = self.analysis
        self.next_thumbnails()
        return dict(cached)

    def thumbnails_first(self, layer: int) -> None:
        """The layer being looked at gets its thumbnails before the others."""
        if self.thumb_queue and self.thumb_queue[0].layer != layer:
            ahead = [r for r in self.thumb_queue if r.layer == layer]
            self.thumb_queue = deque(ahead + [r for r in self.thumb_queue if r.layer != layer])

    def stop_thumbnails(self) -> None:
        self.thumb_queue.clear()
        self.thumbnailProgress.emit(0, 0)

    @property
    def opening(self) -> bool:
        """A file is being opened or a clip analysed: what the busy indicator's Cancel stops (`cancel_opening`)."""
        return not self.worker.busy_lanes.isdisjoint(OPENING_LANES)

    def cancel_opening(self) -> None:
        """The busy indicator's Cancel: stop opening a network, a session or an atlas, analysing a clip, and making
        thumbnails (what was loaded stays)."""
        for lane in (*OPENING_LANES, THUMBNAILS):
            self.worker.cancel(lane)
        self.stop_thumbnails()

    def forget_thumbnails(self) -> None:
        """Another network: no thumbnail made so far applies."""
        self.thumb_cache.clear()

    def _thumb_key(self) -> tuple[str, str]:
        return (self.clip.sha256 if self.clip else "", self._thumb_method.value)

    def next_thumbnails(self) -> None:
        """Submit the next chunk of the queue, sized to take about THUMBNAIL_TARGET_S, when the worker is idle
        and the listener has not clicked for THUMBNAIL_PAUSE_S (called again when the worker drains)."""
        if not self.thumb_queue or self.analysis is None or self._thumb_analysis is not self.analysis:
            self.thumbnailProgress.emit(0, 0)
            return
        if not self.worker.idle:
            return  # resumed when the worker has drained (interactive work goes first)
        quiet = time.perf_counter() - self.render_requested_at
        if quiet < THUMBNAIL_PAUSE_S:
            self._thumb_timer.start(int(1000 * (THUMBNAIL_PAUSE_S - quiet)) + 20)
            return
        layer = self.thumb_queue[0].layer
        per_map = self._thumb_per_map.get(layer)
        size = 1 if per_map is None else max(1, min(16, int(THUMBNAIL_TARGET_S / max(per_map, 1e-3))))
        chunk: list[int] = []
        while self.thumb_queue and self.thumb_queue[0].layer == layer and len(chunk) < size:
            chunk.append(self.thumb_queue.popleft().index)
        analysis, summary, method, key = self.analysis, self.summary, self._thumb_method, self._thumb_key()

        def run(job):
            started = time.perf_counter()
            images = compute.thumbnails(analysis, summary, layer, chunk, method)
            return analysis, images, (time.perf_counter() - started) / len(chunk)

        def done(value) -> None:
            owner, images, per_map = value
            if owner is not self.analysis:
                return
            self._thumb_per_map[layer] = per_map
            self._thumb_done += len(images)
            made = {ref: (thumbnail_pixmap(small), thumbnail_pixmap(large)) for ref, (small, large) in images.items()}
            self.thumb_cache.setdefault(key, {}).update(made)
            self.thumbnailsMade.emit(made)
            self.thumbnailProgress.emit(self._thumb_done, self.thumb_total if self.thumb_queue else 0)

        def failed(err: BaseException) -> None:
            self.thumb_queue.clear()
            self.thumbnailsFailed.emit(f"{type(err).__name__}: {err}")

        self.worker.submit(THUMBNAILS, run, on_result=done, on_error=failed, replace=False)

    # ==== a clip's findings: after its first map ==================================================================
    def findings_failed(self, key: str) -> bool:
        """The findings of analysed clip ``key`` could not be computed (they are not asked for again)."""
        return key in self.analyses and self.analyses[key][0] in self._unfound

    def find(self, key: str) -> bool:
        """Compute the findings (energies, predictions: the whole forward pass) of analysed clip ``key`` on the
        worker, after the renders already asked for; `findingsReady` delivers the clip with them. False when
        they are there already or on their way."""
        if key not in self.analyses or self.summary is None:
            return False
        analysis, clip = self.analyses[key]
        if clip.findings is not None or id(analysis) in self._finding or analysis in self._unfound:
            return False
        summary = self.summary
        self._finding.add(id(analysis))

        def run(job):
            return compute.clip_findings(analysis, summary)

        def done(findings: compute.ClipFindings) -> None:
            self._finding.discard(id(analysis))
            kept = self.analyses.get(key)
            if kept is None or kept[0] is not analysis:
                return  # dropped, or analysed again with another model, meanwhile
            found = dataclasses.replace(kept[1], findings=findings)
            self.analyses[key] = (analysis, found)
            if self.analysis is analysis:
                self.clip = found
            self.findingsReady.emit(found)

        def failed(err: BaseException) -> None:
            self._finding.discard(id(analysis))
            self._unfound.add(analysis)
            self.findingsFailed.emit(clip, f"{type(err).__name__}: {err}")

        self.worker.submit(
            FINDINGS,
            run,
            on_result=done,
            on_error=failed,
            replace=False,
            on_dropped=lambda: self._finding.discard(id(analysis)),
        )
        return True

    # ==== the analysed clips ===================================================================================
    def keep_analysis(self, analysis: object, clip: ClipSummary) -> None:
        """Remember an analysed clip (least recently shown ones are dropped beyond MAX_ANALYSES; never the one
        on screen)."""
        self.analyses[clip.sha256] = (analysis, clip)
        self.analyses.move_to_end(clip.sha256)
        while len(self.analyses) > MAX_ANALYSES:
            old, _ = self.analyses.popitem(last=False)
            if self.clip is not None and old == self.clip.sha256:
                self.analyses[old] = (self.analysis, self.clip)

    # ==== the corpus atlas (the Top excerpts panel) ============================================================
    def open_atlas(self, path: str | Path) -> None:
        """Open (hash and check) the atlas at ``path`` on the worker: ``atlasOpened`` or ``atlasFailed``. An atlas
        built with another model than the open one is refused (its peaks are another network's)."""
        path = Path(path)
        model = self.model_handle

        def opened(summary: AtlasSummary) -> None:
            if self.summary is not None and summary.model_sha256 != self.summary.sha256:
                self.open_atlas(path)  # another model opened meanwhile: check against that one
                return
            self.atlas = summary
            self.excerpt_cache.clear()
            self.atlasOpened.emit(summary)

        def failed(err: BaseException) -> None:
            self.atlas = None
            self.forget_excerpts()
            self.atlasFailed.emit(path, getattr(err, "reason", None) or f"{type(err).__name__}: {err}")

        self.worker.submit(
            ATLAS,
            lambda job: atlas_jobs.open_atlas(path, model),
            on_result=opened,
            on_error=failed,
            busy_text=f"Opening atlas {path.name}…",
        )

    def close_atlas(self) -> None:
        self.atlas = None
        self._listing = None
        self.forget_excerpts()
        self.worker.cancel(EXCERPTS)
        self.worker.cancel(EXCERPT)

    def forget_excerpts(self) -> None:
        """Drop the rendered excerpts and the clips they were rendered from (with their network: two clip analyses
        and the network itself stay alive while held here); a rendering still on its way is not shown."""
        self._wanted_excerpt = None
        self.excerpt_cache.clear()
        self._excerpt_clips = None

    def list_excerpts(self, ref: FeatureRef) -> bool:
        """Read map ``ref``'s top excerpts on the worker: ``excerptFound`` row by row, then ``excerptsListed``.
        False when no atlas is open."""
        if self.atlas is None:
            return False
        ref, atlas = FeatureRef.of(ref), self.atlas
        path = atlas.path
        self._listing = ref

        def run(job):
            def found(excerpt: Excerpt) -> None:
                self.worker.post(job, self._excerpt_found, excerpt)

            return atlas_jobs.list_excerpts(atlas, ref, on_excerpt=found, cancelled=lambda: job.cancelled)

        def listed(listing: Listing) -> None:
            if self._listing == ref and self.atlas is atlas:
                self.excerptsListed.emit(listing)

        def failed(err: BaseException) -> None:
            self.atlas = None  # unreadable now (deleted, damaged): nothing more is asked of it
            self.forget_excerpts()
            self.atlasFailed.emit(path, getattr(err, "reason", None) or f"{type(err).__name__}: {err}")

        self.worker.submit(EXCERPTS, run, on_result=listed, on_error=failed)
        return True

    def _excerpt_found(self, excerpt: Excerpt) -> None:
        if self._listing == excerpt.ref:
            self.excerptFound.emit(excerpt)

    def render_excerpt(self, excerpt: Excerpt, mode: Mode, method: Method, device_rate: int) -> bool:
        """Make ``excerpt`` audible (original and feature at ``device_rate``) on the worker, newest request wins:
        ``excerptRendered`` (at once for one rendered before) or ``excerptFailed``. False without a model or an
        atlas."""
        if self.model_handle is None or self.atlas is None:
            return False
        mode, method = Mode(mode), Method(method)
        key = (self.summary.sha256 if self.summary else "", excerpt.key, mode, method, int(device_rate))  # by model
        self._wanted_excerpt = key
        cached = self.excerpt_cache.get(key)
        if cached is not None:
            self.excerpt_cache.move_to_end(key)
            self.excerptRendered.emit(cached)
            return True
        if self._excerpt_clips is None or self._excerpt_clips.model is not self.model_handle:
            self._excerpt_clips = ExcerptClips(self.model_handle)  # analyses belong to their network
        clips, atlas_path = self._excerpt_clips, self.atlas.path

        def done(audio: ExcerptAudio) -> None:
            self.excerpt_cache[key] = audio
            while len(self.excerpt_cache) > MAX_EXCERPTS:
                self.excerpt_cache.popitem(last=False)
            if self._wanted_excerpt == key:
                self.excerptRendered.emit(audio)

        def failed(err: BaseException) -> None:
            if self._wanted_excerpt == key:
                self.excerptFailed.emit(excerpt, getattr(err, "reason", None) or f"{type(err).__name__}: {err}")

        self.worker.submit(
            EXCERPT,
            lambda job: atlas_jobs.render_excerpt(clips, atlas_path, excerpt, mode, method, device_rate),
            on_result=done,
            on_error=failed,
        )
        return True
