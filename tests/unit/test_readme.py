"""The README's configuration table is the settings model, so the two cannot disagree."""

from __future__ import annotations

import re
from pathlib import Path

from pegasus.config import env_var_names, markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting_and_nothing_else() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- config-table:start -->")[1].split("<!-- config-table:end -->")[0]
    documented = re.findall(r"^\| `(PEGASUS_[A-Z0-9_]+)` \|", table, flags=re.MULTILINE)
    assert documented == [name for name, _ in env_var_names()]


def test_readme_table_is_the_rendered_one() -> None:
    """Regenerate with: pegasus config show --markdown."""
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- config-table:start -->\n")[1].split("\n<!-- config-table:end -->")[0]
    assert table == markdown_table()
