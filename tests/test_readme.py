"""The README's examples run as written (from a copy of examples/, in a scratch folder)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.DOTALL)


def test_from_python_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks("From Python")
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "UnsupportedImage unsupported format: GIF" in out
    assert "5 colorized, 0 failed" in out
    assert (tmp_path / "easter.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert len(list((tmp_path / "colorized-py").glob("*.jpg"))) == 5
