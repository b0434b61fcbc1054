"""A per-file time budget, so that no single file can hold a whole build hostage.

A build reads thousands of files; one pathological file (a huge PDF page, a DOCX with tens of thousands of
paragraphs, a megabyte-long line without punctuation) must cost at most its own budget and then be reported
as failed like any other unreadable file, while the build carries on.

Two mechanisms, because there are two kinds of loops:
- our own loops (per line, paragraph, page, block, split) call `Deadline.check()`, which raises
  ExtractionError once the budget is spent. This works in every thread.
- a third-party parser that does not return control for a long time (pypdf extracting one huge page,
  BeautifulSoup building the tree of a huge HTML file) runs inside `Deadline.interrupting()`, which arms a
  SIGALRM timer for the time left. The handler raises a BaseException (so the parsers' own
  `except Exception` blocks cannot swallow it), which the context manager turns into the same
  ExtractionError. Python runs signal handlers only between bytecodes in the main thread, so this bounds
  pure-Python parsers (pypdf, python-docx, BeautifulSoup's tree building) but not one long call into C
  (lxml parsing a single huge buffer, a tokenizer call); it is armed only in the main thread of a platform
  with SIGALRM, and never when someone else already uses SIGALRM (a pending timer or a handler of
  their own), since there is only one such timer per process. An alarm that lands in a finalizer
  (`__del__`) is lost, as Python ignores exceptions there. In all these cases the checks alone apply.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from search.errors import ExtractionError, SearchError

Clock = Callable[[], float]


class _Expired(BaseException):
    """Raised by the SIGALRM handler; a BaseException so that parsers' `except Exception` let it through."""


class Deadline:
    """The time budget of one file, started when the object is made and shared by extraction and chunking."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        if not seconds > 0:  # also rejects NaN
            raise SearchError(f"file_timeout must be a positive number of seconds, got {seconds!r}")
        self.seconds = seconds
        self._clock = clock
        self._ends_at = clock() + seconds

    @classmethod
    def never(cls) -> Deadline:
        """No budget: what extraction and chunking use when the caller passes no deadline."""
        return cls(math.inf)

    @property
    def limited(self) -> bool:
        return math.isfinite(self.seconds)

    def remaining(self) -> float:
        """Seconds left (negative once the budget is spent; infinite for `never()`)."""
        return self._ends_at - self._clock() if self.limited else math.inf

    def expired(self) -> bool:
        return self.remaining() <= 0

    def check(self) -> None:
        """Raise ExtractionError once the budget is spent; call it once per unit of work in long loops."""
        if self.limited and self.expired():
            raise self.error()

    def error(self) -> ExtractionError:
        seconds = f"{self.seconds:g}"
        return ExtractionError(
            f"took longer than {seconds} s to read; raise the file time budget (file_timeout, {seconds} s) "
            "to index it, or split the file into smaller ones"
        )

    @contextmanager
    def interrupting(self) -> Iterator[None]:
        """Run a block that may call into a parser that does not return control; see the module docstring."""
        self.check()
        if not self._can_arm_alarm():
            yield
            return
        previous = signal.signal(signal.SIGALRM, _raise_expired)
        try:
            signal.setitimer(signal.ITIMER_REAL, max(self.remaining(), 0.001))
            try:
                yield
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _Expired:
            raise self.error() from None
        finally:
            signal.signal(signal.SIGALRM, previous)

    def _can_arm_alarm(self) -> bool:
        if not self.limited or not hasattr(signal, "setitimer"):
            return False
        if threading.current_thread() is not threading.main_thread():
            return False
        # Somebody else's timer or handler (pytest-timeout, the embedding application): leave it alone.
        in_use = signal.getitimer(signal.ITIMER_REAL)[0] > 0
        return not in_use and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)


def _raise_expired(signum: int, frame: FrameType | None) -> None:
    raise _Expired


def deadline_or_never(deadline: Deadline | None) -> Deadline:
    """Callers pass None for "no budget"; inside, one code path that always has a Deadline."""
    return Deadline.never() if deadline is None else deadline
