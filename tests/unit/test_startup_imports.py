"""What a start-up imports: modules the daemon does not use on its way to serving must stay
unloaded (each costs start-up time; see bench/bench_silences.py's start-up benchmark)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

# Far fewer objects than the daemon's imports create (about 70,000), far more than a bare
# interpreter holds (about 8,000).
MIN_FROZEN_OBJECTS = 20_000

# Started with HA off (no --cluster.listen-address) and run until its flags are parsed.
PROBE = textwrap.dedent(
    """
    import gc, json, sys
    from daemon.__main__ import main
    main(["--version"])
    loaded = sorted(name for name, module in sys.modules.items() if module is not None)
    print(json.dumps({"modules": loaded, "collecting": gc.isenabled(), "frozen": gc.get_freeze_count()}))
    """
)


def state_after_start() -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    state: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return state


def test_the_daemon_does_not_load_what_it_never_uses() -> None:
    loaded = set(state_after_start()["modules"])
    assert "daemon.app" in loaded and "httpx" in loaded  # the probe reached the real imports
    # httpx's command-line client and its libraries, whether or not they are installed.
    assert not {"httpx._main", "click", "rich", "pygments"} & loaded
    # The cluster's shell and glue load only with HA on.
    assert not {"cluster.peer", "cluster.transport", "daemon.cluster_glue"} & loaded


def test_the_collector_paused_for_the_imports_runs_again_without_them() -> None:
    state = state_after_start()
    assert state["collecting"] is True
    # The imported modules' objects (tens of thousands) are out of the collector's reach.
    assert state["frozen"] > MIN_FROZEN_OBJECTS
