"""Test delegates for the gossip core."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class QueueDelegate:
    """A delegate with its own broadcast queue that can say whether it holds anything."""

    queued: list[bytes] = dataclasses.field(default_factory=list)
    asked: int = 0

    def local_state(self) -> bytes:
        return b""

    def merge_remote_state(self, data: bytes) -> None:
        return None

    def notify_user_msg(self, data: bytes) -> None:
        return None

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        self.asked += 1
        taken, self.queued = self.queued, []
        return taken

    def has_broadcasts(self) -> bool:
        return bool(self.queued)
