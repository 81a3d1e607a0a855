"""The README stays true: every setting documented, the two commands present, CI runs the same one."""

from __future__ import annotations

import re

from bulk.config import SETTINGS, configuration_table
from tests.live import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table():
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", README, flags=re.MULTILINE))
    assert {setting.env for setting in SETTINGS} <= documented


def test_the_configuration_table_is_made_from_the_settings():
    assert configuration_table() in README


def test_the_two_commands_and_ci_agree():
    assert "make run" in README and "make test" in README
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_documented_local_credentials_are_the_development_defaults():
    from bulk.config import DEVELOPMENT_ADMIN_PASSWORD

    assert f"`admin` / `{DEVELOPMENT_ADMIN_PASSWORD}`" in README


def test_the_dashboard_section_shows_its_committed_screenshot():
    assert "## Dashboard" in README
    assert "](docs/dashboard.png)" in README
    picture = PROJECT_ROOT / "docs" / "dashboard.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
