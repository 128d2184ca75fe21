"""The README's "Use your own model" example runs as written and prints what its comments say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use your own model", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_readme_example_exports_opens_and_renders(tmp_path: Path) -> None:
    code = example()
    assert len(code.strip().splitlines()) <= 25
    (tmp_path / "resources").symlink_to(ROOT / "resources")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "[('conv1', 16), ('conv2', 16)]"
    assert lines[1].startswith("guided-backprop (") and "[('" in lines[1]
    assert (tmp_path / "my_model.safetensors").stat().st_size > 0
