"""What a start-up imports: modules the daemon does not use on its way to serving must stay
unloaded (each costs start-up time; see bench/bench_silences.py's start-up benchmark)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# Started with HA off (no --cluster.listen-address) and run until its flags are parsed.
PROBE = textwrap.dedent(
    """
    import json, sys
    from daemon.__main__ import main
    main(["--version"])
    print(json.dumps(sorted(name for name, module in sys.modules.items() if module is not None)))
    """
)


def modules_after_start() -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_daemon_does_not_load_what_it_never_uses() -> None:
    loaded = modules_after_start()
    assert "daemon.app" in loaded and "httpx" in loaded  # the probe reached the real imports
    # httpx's command-line client and its libraries, whether or not they are installed.
    assert not {"httpx._main", "click", "rich", "pygments"} & loaded
    # The cluster's shell and glue load only with HA on.
    assert not {"cluster.peer", "cluster.transport", "daemon.cluster_glue"} & loaded
