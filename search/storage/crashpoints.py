"""Crash-testing aid: named points in a build where a test can stop the process and SIGKILL it exactly there.

Why it exists: a crash-safety test must kill `indexer build` between the steps whose order makes a build
atomic (SQLite writes, FAISS save, COMMIT, cleanup). Random delays rarely land in those short windows, so
the test asks the build to announce each point and, where wanted, to wait there.

Unset (always, outside tests) `pause_point` costs one environment lookup and does nothing. With
`INDEXER_DEBUG_PAUSE_AT=<point>[,<point>...]` (or `*` for every point) the process writes
`INDEXER_DEBUG_PAUSED <point>` to stderr when it reaches a listed point and then sleeps
`INDEXER_DEBUG_PAUSE_SECONDS` (default 60; 0 only announces the point, so a test can kill a few
milliseconds later, e.g. during the COMMIT that follows). If `INDEXER_DEBUG_RESUME_FILE` names a path, the
pause ends as soon as that file exists, so a test that only wanted the build held can let it finish.
"""

from __future__ import annotations

import os
import sys
import time

PAUSE_AT_ENV = "INDEXER_DEBUG_PAUSE_AT"
PAUSE_SECONDS_ENV = "INDEXER_DEBUG_PAUSE_SECONDS"
RESUME_FILE_ENV = "INDEXER_DEBUG_RESUME_FILE"
MARKER = "INDEXER_DEBUG_PAUSED"

# In the order a build reaches them.
POINTS = (
    "encoded",  # everything changed is read, chunked and encoded; no transaction open yet
    "sqlite-written",  # inside the write transaction: all SQLite writes done, FAISS not saved yet
    "faiss-temp-written",  # the FAISS temporary file is written and fsynced, not yet renamed
    "faiss-saved",  # the next generation's FAISS file is in place; SQLite not committed yet
    "committed",  # SQLite committed; older FAISS files not removed yet
)


def pause_point(name: str) -> None:
    """Announce `name` and wait there, when the environment asks for it; otherwise nothing."""
    wanted = os.environ.get(PAUSE_AT_ENV)
    if not wanted or (wanted != "*" and name not in wanted.split(",")):
        return
    print(f"{MARKER} {name}", file=sys.stderr, flush=True)
    deadline = time.monotonic() + float(os.environ.get(PAUSE_SECONDS_ENV, "60"))
    resume = os.environ.get(RESUME_FILE_ENV)
    while time.monotonic() < deadline and not (resume and os.path.exists(resume)):
        time.sleep(0.02)
