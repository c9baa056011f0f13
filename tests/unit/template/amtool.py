"""Run Go's template engine through the real `amtool template render` (Alertmanager 0.25).

amtool loads no built-in templates, so the Debian default.tmpl and email.tmpl are copied
into the glob directory; it prints errors as `amtool: error: <message>` and exits 1.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
from typing import Any

import pytest

AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
DEBIAN_TEMPLATES = pathlib.Path("/usr/share/prometheus/alertmanager")
# One render takes ~20 ms; anything near this means amtool hung.
AMTOOL_TIMEOUT_SECONDS = 20
ERROR_PREFIX = "amtool: error: "


def require_amtool() -> None:
    """Skip locally when the oracle is missing; under CI a missing oracle is a failure."""
    if os.path.exists(AMTOOL) and (DEBIAN_TEMPLATES / "default.tmpl").exists():
        return
    message = (
        "amtool and Alertmanager's Debian templates are needed (apt-get install prometheus-alertmanager)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


class GoRenderer:
    def __init__(self, directory: pathlib.Path) -> None:
        self.glob_dir = directory / "templates"
        self.glob_dir.mkdir()
        for name in ("default.tmpl", "email.tmpl"):
            shutil.copy(DEBIAN_TEMPLATES / name, self.glob_dir / name)
        self.directory = directory
        self._data_files: dict[str, pathlib.Path] = {}

    def data_file(self, document: dict[str, Any]) -> pathlib.Path:
        encoded = json.dumps(document, sort_keys=True)
        path = self._data_files.get(encoded)
        if path is None:
            path = self.directory / f"data{len(self._data_files)}.json"
            path.write_text(encoded)
            self._data_files[encoded] = path
        return path

    def render(self, text: str, document: dict[str, Any], html: bool = False) -> tuple[bool, str]:
        """(True, output) or (False, error message)."""
        completed = subprocess.run(
            [
                AMTOOL,
                "template",
                "render",
                "--template.glob",
                str(self.glob_dir / "*.tmpl"),
                "--template.data",
                str(self.data_file(document)),
                "--template.type",
                "html" if html else "text",
                # One argument, so a text starting with "-" is not taken for a flag.
                "--template.text=" + text,
            ],
            capture_output=True,
            text=True,
            timeout=AMTOOL_TIMEOUT_SECONDS,
            check=False,
        )
        if completed.returncode != 0:
            return False, completed.stderr.removeprefix(ERROR_PREFIX).strip()
        return True, completed.stdout
