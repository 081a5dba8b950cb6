"""The append-only, hash-chained audit log (``docs/security/audit-log.md``).

Public API: ``record`` (append in the caller's transaction), ``verify_chain`` (recompute the
chain, report the first broken link) with its ``ChainReport``, ``list_events`` (newest first,
paged) and the action constants in ``pegasus.audit.actions``.

The names are loaded on first use (PEP 562), so ``pegasus.cli`` can register the ``audit``
command group without importing the database layer: `pegasus --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pegasus.audit.log import list_events, record
    from pegasus.audit.verify import ChainReport, verify_chain

__all__ = ["ChainReport", "list_events", "record", "verify_chain"]

_HOMES = {
    "record": "pegasus.audit.log",
    "list_events": "pegasus.audit.log",
    "verify_chain": "pegasus.audit.verify",
    "ChainReport": "pegasus.audit.verify",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
