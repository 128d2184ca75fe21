"""The window's promises about threads and imports: no torch on the GUI side, torch work only on the worker."""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_module_in_app_ui_imports_torch_at_module_level() -> None:
    offenders = []
    for path in sorted((ROOT / "app" / "ui").rglob("*.py")):  # the job modules in app/ui/jobs too
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only; imports inside functions run on the worker
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            heavy = (
                "torch",
                "app.core.analysis",
                "app.core.model",
                "app.core.resynth",
                "app.core.export",
                "app.core.frontend",
                "app.core.deconv",
                "app.core.report_atlas",
            )
            offenders += [
                f"{path.name}: {n}"
                for n in names
                if n.split(".")[0] == "torch" or n in heavy or n.startswith("app.core.atlas")
            ]
    assert offenders == []


def test_every_module_of_app_ui_and_the_report_import_without_torch() -> None:
    """What the list above cannot see: a light module that imports a heavy one. Every module of app/ui (not
    __main__, which opens the window), and app.core.report (the report dialog's words), imported in a fresh
    process: torch is not loaded."""
    names = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in sorted((ROOT / "app" / "ui").rglob("*.py"))
        if path.name != "__main__.py"
    ]
    assert len(names) >= 40 and "app.ui.jobs.atlas_jobs" in names
    code = (
        "import importlib, os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen';"
        "loaded = [m for m in sys.argv[1:] if importlib.import_module(m) and 'torch' in sys.modules][:1];"
        "print(loaded)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "app.core.report", *names], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"  # else: the first module after whose import torch was loaded


#: the window's modules: they show and forward; every worker job is the controller's (app/ui/controller*.py)
WINDOW_MODULES = ("main_window.py", "long_jobs.py", "playback_panel.py", "window_*.py")


def test_the_window_starts_no_worker_job_and_calls_no_compute_function() -> None:
    paths = sorted({p for pattern in WINDOW_MODULES for p in (ROOT / "app" / "ui").glob(pattern)})
    assert len(paths) >= 7  # main_window, long_jobs, playback_panel, window_actions/atlas/opening/sessions
    offenders = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            # self.worker.submit(...), self.controller.worker.post(...): a job built in the window
            worker_call = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            if worker_call and node.value.attr == "worker" and node.attr in ("submit", "post", "cancel", "cancel_all"):
                offenders.append(f"{path.name}:{node.lineno}: worker.{node.attr}")
            # compute.open_session(...), from app.ui.compute import export: compute work called from the window
            if isinstance(node, ast.ImportFrom) and node.module in ("app.ui.compute", "app.ui.jobs"):
                offenders += [f"{path.name}:{node.lineno}: {a.name}" for a in node.names if a.name[0].islower()]
            if isinstance(node, ast.ImportFrom) and node.module == "app.ui":
                offenders += [f"{path.name}:{node.lineno}: app.ui.{a.name}" for a in node.names if a.name == "compute"]
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app.ui.jobs."):
                offenders += [f"{path.name}:{node.lineno}: {a.name}" for a in node.names if a.name.startswith("start")]
    assert offenders == []


def test_the_window_module_and_launcher_load_without_torch() -> None:
    code = (
        "import sys, os; os.environ['QT_QPA_PLATFORM']='offscreen';"
        "import app.ui.app, app.ui.main_window, app.cli, app.launch;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_torch_work_runs_on_the_worker_thread(make_window, wav_file, model_file, monkeypatch, qtbot) -> None:
    from app.core import analysis as core_analysis

    threads: set[str] = set()
    original = core_analysis.Analysis.render_many

    def spy(self, *args, **kwargs):
        threads.add(threading.current_thread().name)
        yield from original(self, *args, **kwargs)

    monkeypatch.setattr(core_analysis.Analysis, "render_many", spy)
    window = make_window(wav_file, model_file)
    with qtbot.waitSignal(window.featureReady, timeout=30000):
        window.tree.select((3, 4))
    assert threads == {"aurascope-compute"}
    assert threading.current_thread() is threading.main_thread()


def test_the_qt_binding_keeps_none_alive(qapp) -> None:
    """PySide6 6.12.0 on Python 3.11 dropped a reference to None on every void call: after a few thousand calls
    the interpreter aborts ("deallocating None"). The pin in pyproject.toml keeps it out; this keeps it honest."""
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
        qapp.processEvents()
    assert abs(sys.getrefcount(None) - before) < 100
