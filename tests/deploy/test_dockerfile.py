"""The image's Dockerfile (no container engine here: a static check that it is the image the
chart expects)."""

from __future__ import annotations

import re

from tests.deploy.helm import REPO, find, main_container, render

DOCKER_DIR = REPO / "deploy" / "docker"
DOCKERFILE = DOCKER_DIR / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_image_is_python_slim_non_root_with_the_ports() -> None:
    instructions = _instructions()
    bases = [rest.split()[0] for keyword, rest in instructions if keyword == "FROM"]
    assert bases == ["python:3.11-slim", "python:3.11-slim"]
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users == ["65534:65534"]
    assert [rest for keyword, rest in instructions if keyword == "EXPOSE"] == ["9093 9094/tcp 9094/udp"]
    assert ("ENTRYPOINT", '["daemon"]') in instructions


def test_dockerfile_copies_what_exists_and_the_ignore_file_keeps_it() -> None:
    copied = [source for keyword, rest in _instructions() if keyword == "COPY" for source in rest.split()[:-1]]
    assert copied == ["pyproject.toml", "README.md", "daemon", "cluster", "notify"]
    for source in copied:
        assert (REPO / source).exists(), source
    kept = {line[1:].rstrip("/") for line in (DOCKER_DIR / "Dockerfile.dockerignore").read_text().splitlines()
            if line.startswith("!")}
    assert set(copied) <= kept


def test_image_defaults_match_the_chart() -> None:
    """The chart runs the image's entrypoint with the paths the image prepares."""
    container = main_container(find(render(), "StatefulSet"))
    cmd = re.search(r'^CMD \[(.*)\]$', DOCKERFILE.read_text(), re.M)
    assert cmd
    image_args = [a.strip().strip('"') for a in cmd.group(1).split(",")]
    assert set(image_args) <= set(container["args"])
    assert container["command"] == ["daemon"]
    assert "chown 65534:65534 /alertmanager" in DOCKERFILE.read_text()
