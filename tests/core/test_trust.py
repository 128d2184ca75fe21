"""Consent before a session's module runs: describing a module runs none of its code; trust is by hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.audio import file_sha256
from app.core.errors import UnsupportedModelError
from app.core.sources import build_module
from app.core.trust import TrustStore, describe_module

MODULE = """
from pathlib import Path
Path({marker!r}).write_text("ran")

from torch import nn


def build():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
"""


def _package(tmp_path: Path, marker: Path) -> Path:
    code = tmp_path / "code"
    (code / "pkg").mkdir(parents=True)
    (code / "pkg" / "__init__.py").write_text(
        f"from pathlib import Path\nPath({str(marker) + '.init'!r}).write_text('x')\n"
    )
    (code / "pkg" / "net.py").write_text(MODULE.format(marker=str(marker)))
    (code / "solo_net.py").write_text(MODULE.format(marker=str(marker)))
    return code


def test_describing_runs_nothing_and_names_every_file(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    code = _package(tmp_path, marker)
    solo = describe_module("solo_net:build", code)
    assert solo.path == (code / "solo_net.py").resolve()
    assert solo.sha256 == file_sha256(code / "solo_net.py")  # one file: its own SHA-256, as sha256sum prints it
    nested = describe_module("pkg.net:build", code)
    assert [f.path.name for f in nested.files] == ["__init__.py", "net.py"]  # the package's __init__ runs too
    assert nested.sha256 not in (f.sha256 for f in nested.files)
    assert "sha256" in nested.text() and "net.py" in nested.text()
    assert not marker.exists() and not Path(str(marker) + ".init").exists()


def test_trust_store_remembers_by_hash(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    code = _package(tmp_path, marker)
    store = TrustStore(tmp_path / "config" / "trusted-modules.json")
    described = describe_module("solo_net:build", code)
    assert not store.is_trusted(described)
    store.trust(described)
    assert store.is_trusted(described)
    assert TrustStore(store.path).is_trusted(describe_module("solo_net:build", code))  # read back from the file
    (code / "solo_net.py").write_text((code / "solo_net.py").read_text() + "\n# one more line\n")
    assert not store.is_trusted(describe_module("solo_net:build", code))  # a changed byte is asked about again
    assert not marker.exists()


def test_default_store_is_in_the_users_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURASCOPE_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert TrustStore().path == tmp_path / "xdg" / "aurascope" / "trusted-modules.json"
    monkeypatch.setenv("AURASCOPE_CONFIG_DIR", str(tmp_path / "mine"))
    assert TrustStore().path == tmp_path / "mine" / "trusted-modules.json"


def test_a_module_changed_after_consent_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    code = _package(tmp_path, marker)
    agreed = describe_module("solo_net:build", code)
    (code / "solo_net.py").write_text(MODULE.format(marker=str(marker)) + "\nEVIL = 1\n")
    with pytest.raises(UnsupportedModelError, match="changed after you agreed"):
        build_module("solo_net:build", search_folder=code, consented=agreed)
    assert not marker.exists()
    fresh = describe_module("solo_net:build", code)
    assert build_module("solo_net:build", search_folder=code, consented=fresh) is not None
    assert marker.read_text() == "ran"
    assert str(code.resolve()) not in __import__("sys").path  # the folder was on the import path only meanwhile


@pytest.mark.parametrize(
    "source,reason",
    [("sys:exit", "called exit"), ("os:getcwd", "gave str"), ("json:loads", "raised TypeError")],
)
def test_code_that_exits_or_raises_is_an_error_not_an_exit(source: str, reason: str) -> None:
    with pytest.raises(UnsupportedModelError, match=reason):
        build_module(source)
