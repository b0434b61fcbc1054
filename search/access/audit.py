"""The audit log: who searched or asked what, and the ids that came back, one JSON object per line.

Append-only and rotated by size (logging.handlers.RotatingFileHandler: `audit.jsonl` becomes `audit.jsonl.1`
and so on, the oldest dropped after `backups`), so it can run for years unattended. The file is created
readable by its owner only: queries themselves can be confidential ("layoffs 2026").
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from search.errors import SearchError

OFF = "off"


class AuditLog:
    """One JSONL file; `record` is thread-safe (the handler's lock) and never raises into a request."""

    _counter = 0
    _counter_lock = threading.Lock()

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            handler = logging.handlers.RotatingFileHandler(
                path, mode="a", maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
        except OSError as exc:
            raise SearchError(
                f"Cannot open the audit log {path}: {exc}; choose another file with audit_log, or `off`"
            ) from exc
        handler.setFormatter(logging.Formatter("%(message)s"))
        with AuditLog._counter_lock:
            AuditLog._counter += 1
            name = f"docsearch.audit.{AuditLog._counter}"
        # A logger of its own that does not propagate: audit records never reach the console or other handlers.
        self._logger = logging.getLogger(name)
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._logger.addHandler(handler)
        self._handler = handler

    def record(self, **fields: Any) -> None:
        entry = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **fields}
        self._logger.info(json.dumps(entry, ensure_ascii=False, separators=(",", ":")))

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._handler.close()


def open_audit_log(setting: str, index_dir: Path, max_mb: float, backups: int) -> AuditLog | None:
    """The log the `audit_log` setting names (relative paths are inside the index folder), or None for `off`."""
    if setting.strip().lower() == OFF:
        return None
    path = Path(setting).expanduser()
    if not path.is_absolute():
        path = index_dir / path
    return AuditLog(path, max(1, int(max_mb * (1 << 20))), backups)
