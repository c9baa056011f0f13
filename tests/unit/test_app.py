"""Composition-root decisions that need no process: which config is loaded, reload outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from daemon.app import Application, _read_config
from daemon.config.loader import DEFAULT_CONFIG_YAML, ConfigError
from daemon.flags import Flags, parse_flags

GOOD = "route:\n  receiver: a\nreceivers:\n- name: a\n"


def flags_for(*argv: str) -> Flags:
    flags = parse_flags(list(argv)).flags
    assert flags is not None
    return flags


def test_default_path_missing_and_flag_not_given_uses_embedded_default(tmp_path: Path) -> None:
    flags = flags_for()
    flags.config_file = str(tmp_path / "absent.yml")  # as if it were the default path
    config, raw = _read_config(flags)
    assert raw == b""
    assert [receiver.name for receiver in config.receivers] == ["default"]
    assert "default" in DEFAULT_CONFIG_YAML


def test_named_missing_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or directory"):
        _read_config(flags_for(f"--config.file={tmp_path / 'absent.yml'}"))


def test_named_config_is_loaded_with_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "am.yml"
    path.write_text(GOOD)
    config, raw = _read_config(flags_for(f"--config.file={path}"))
    assert raw == GOOD.encode()
    assert [receiver.name for receiver in config.receivers] == ["a"]


async def test_failed_reload_keeps_the_running_config(tmp_path: Path) -> None:
    path = tmp_path / "am.yml"
    path.write_text(GOOD)
    app = Application(
        flags_for(f"--config.file={path}", f"--storage.path={tmp_path}", "--web.listen-address=127.0.0.1:0",
                  "--cluster.listen-address="),
        "http://localhost:9093",
        "/",
    )
    async with trio.open_nursery() as nursery:
        addresses = await nursery.start(app.run)
        assert addresses and addresses[0].startswith("http://127.0.0.1:")
        path.write_text("route: {}\nbogus: 1\n")
        error = await app.reload()
        assert error is not None
        assert app.runtime is not None and [r.name for r in app.runtime.config.receivers] == ["a"]
        path.write_text(GOOD.replace("receiver: a", "receiver: b").replace("name: a", "name: b"))
        assert await app.reload() is None
        assert [r.name for r in app.runtime.config.receivers] == ["b"]
        nursery.cancel_scope.cancel()
    app.close()
