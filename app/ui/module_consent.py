"""The question asked before a session's ``package.module:callable`` model runs (issue 11.1).

A session is a file listeners share, and importing its module runs that module's code. So the window shows the
files the import would execute, each with its SHA-256 (:func:`app.core.trust.describe_module` finds them without
running anything), and offers: open once, always trust these files (remembered by hash in the user's config
folder, :class:`app.core.trust.TrustStore`), or open the session without its model. Closing the box (Escape) is
the last of these: nothing runs unless the listener says so.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from app.core.trust import Consent, ModuleDescription, TrustStore


def ask_module_consent(
    parent: QWidget | None,
    description: ModuleDescription,
    answered: Callable[[Consent], None],
    *,
    store: TrustStore | None = None,
) -> QMessageBox | None:
    """Ask (without blocking the event loop) whether to run ``description``'s files; ``answered(consent)`` is
    called once with the choice. Files the store already trusts by hash are not asked about: ``answered`` gets
    :attr:`Consent.ALWAYS` at once and None is returned. "Always trust" records the files in ``store``.
    """
    store = store if store is not None else TrustStore()
    if store.is_trusted(description):
        answered(Consent.ALWAYS)
        return None
    files = "\n".join(f"{f.path}\n    SHA-256 {f.sha256}" for f in description.files)
    box = QMessageBox(
        QMessageBox.Icon.Warning,
        "Run this session's model code?",
        f"This session's model is Python code, {description.source}. Opening it runs this code on your computer "
        "with your permissions:",
        QMessageBox.StandardButton.NoButton,
        parent,
    )
    box.setInformativeText(files + "\n\nOpen it only if you trust where the session came from.")
    once = box.addButton("Open once", QMessageBox.ButtonRole.AcceptRole)
    always = box.addButton("Always trust this file", QMessageBox.ButtonRole.AcceptRole)
    without = box.addButton("Open without its model", QMessageBox.ButtonRole.RejectRole)
    always.setToolTip(f"Remember it by its SHA-256 in {store.path}; a changed file is asked about again")
    box.setDefaultButton(without)
    box.setEscapeButton(without)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("module_consent")
    choices = {once: Consent.ONCE, always: Consent.ALWAYS, without: Consent.WITHOUT_MODEL}

    def finished() -> None:
        consent = choices.get(box.clickedButton(), Consent.WITHOUT_MODEL)
        if consent is Consent.ALWAYS:
            store.trust(description)
        answered(consent)

    box.finished.connect(lambda _: finished())
    box.open()
    return box
