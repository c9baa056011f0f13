"""Build information, printed by `--version`, exported as `alertmanager_build_info` and served in
`/api/v2/status` `versionInfo`.

The version is Alertmanager's (0.25.0) on purpose: amtool warns when the major.minor of the
server it talks to differs from its own, and dashboards key on it.
"""

from __future__ import annotations

import dataclasses
import functools
import platform
import subprocess
import sys
from pathlib import Path

VERSION = "0.25.0"
PROGRAM_NAME = "tocsin"
BRANCH = "main"
BUILD_USER = "tocsin"
# `git rev-parse` must not hold up start-up or `--version` when git is slow or absent.
GIT_LOOKUP_TIMEOUT_SECONDS = 2.0
UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class BuildInfo:
    version: str
    revision: str
    branch: str
    build_user: str
    build_date: str
    runtime_version: str
    platform: str

    def as_status(self) -> dict[str, str]:
        """The `versionInfo` object of `/api/v2/status` (field names are Alertmanager's)."""
        return {
            "branch": self.branch,
            "buildDate": self.build_date,
            "buildUser": self.build_user,
            "goVersion": self.runtime_version,
            "revision": self.revision,
            "version": self.version,
        }

    def version_text(self) -> str:
        """What `--version` prints, laid out as Prometheus' `version.Print` does."""
        return (
            f"{PROGRAM_NAME}, version {self.version} (branch: {self.branch}, revision: {self.revision})\n"
            f"  build user:       {self.build_user}\n"
            f"  build date:       {self.build_date}\n"
            f"  go version:       {self.runtime_version}\n"
            f"  platform:         {self.platform}\n"
        )

    def start_fields(self) -> tuple[str, str]:
        """The `version` and `build_context` values of the start-up log lines."""
        version = f"(version={self.version}, branch={self.branch}, revision={self.revision})"
        context = (
            f"(go={self.runtime_version}, platform={self.platform}, user={self.build_user}, "
            f"date={self.build_date})"
        )
        return version, context


def _git_revision() -> str:
    source_root = Path(__file__).resolve().parent.parent
    if not (source_root / ".git").exists():
        return UNKNOWN
    try:
        completed = subprocess.run(
            ["git", "-C", str(source_root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=GIT_LOOKUP_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return completed.stdout.strip() or UNKNOWN


def _source_date() -> str:
    """Go's `date` build field is the build time; ours is the modification date of this file."""
    import datetime

    mtime = Path(__file__).stat().st_mtime
    return datetime.datetime.fromtimestamp(mtime, datetime.UTC).strftime("%Y%m%d-%H:%M:%S")


@functools.cache
def build_info() -> BuildInfo:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return BuildInfo(
        version=VERSION,
        revision=_git_revision(),
        branch=BRANCH,
        build_user=BUILD_USER,
        build_date=_source_date(),
        runtime_version=f"python{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}",
        platform=f"{sys.platform}/{arch}",
    )
