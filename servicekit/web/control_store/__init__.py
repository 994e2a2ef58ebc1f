"""The control documents every replica follows (the route table, ownership): one interface,
two backends chosen by one setting.

`STRANGLER_CONTROL_STORE` empty (the default, `make run`): each document is its file, written
under the file's lock (servicekit.web.files) and re-read when it changes. `redis://...`: each
document is a versioned Redis hash shared by every replica of a deployment: compare-and-set
writes, a pub/sub push with a poll behind it, a heartbeat per replica naming the version it
applied, and a lease for the one lifecycle evaluator. See docs/running-at-scale.md.
"""

from servicekit.web.control_store.base import (
    Applied,
    Document,
    ReplicasLagging,
    Versioned,
    replica_id,
)
from servicekit.web.control_store.settings import (
    ControlSettings,
    control_document,
    control_settings,
    leader_lease,
    redis_prefix,
)

__all__ = [
    "Applied",
    "ControlSettings",
    "Document",
    "ReplicasLagging",
    "Versioned",
    "control_document",
    "control_settings",
    "leader_lease",
    "redis_prefix",
    "replica_id",
]
