"""Group commit: concurrent callers share one database transaction.

A busy cell writes the same small transaction for every message (an
update at the top, an onward outbox row, a claim); one per message, the
commits bound it long before its CPU does.  :class:`GroupCommit` keeps
each caller's synchronous contract (it returns once its own write is
committed, with its own result or error) but lets callers that arrive
together share a transaction: the first becomes the leader and runs
everything queued meanwhile, in arrival order, as one batch; the others
wait for their result.  Under no load a batch is one write, so nothing
waits for a batch to fill.

What a batch does, and what it does when it fails as a whole (usually:
each write again in a transaction of its own, so that one bad write
cannot take the others down with it), is the caller's ``run_batch``.
"""

import threading

__all__ = ['GroupCommit', 'Pending', 'together_or_alone']

_UNSET = object()


class Pending(object):
    """One caller's write: ``item`` (what to write), then ``result`` or
    ``error`` (set by ``run_batch``)."""

    __slots__ = ('item', 'done', 'result', 'error')

    def __init__(self, item):
        self.item = item
        self.done = threading.Event()
        self.result = _UNSET
        self.error = None


class GroupCommit(object):
    """Run writes submitted concurrently in shared batches.

    :param run_batch: ``([Pending]) -> None``; sets each one's ``result``
        or ``error``; what it raises becomes the error of every write of
        the batch that has neither.
    :param max_batch: most writes in one batch (bounds a transaction's
        length and the time its row locks are held).
    """

    def __init__(self, run_batch, max_batch=200):
        self.run_batch = run_batch
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue = []
        self._leading = False

    def submit(self, item):
        """Write ``item`` (with whatever else is queued); its result, once
        committed.  :raises: its own error."""
        pending = Pending(item)
        with self._lock:
            self._queue.append(pending)
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return None if pending.result is _UNSET else pending.result

    def _lead(self):
        """Run batches until the queue is empty, then step down."""
        try:
            self._run_queued()
        except BaseException:
            with self._lock:        # the thread is being killed: let the
                self._leading = False   # next caller lead
            raise

    def _run_queued(self):
        while True:
            with self._lock:
                batch = self._queue[:self.max_batch]
                del self._queue[:self.max_batch]
                if not batch:
                    self._leading = False
                    return
            try:
                self.run_batch(batch)
            except Exception as exc:  # noqa - each caller gets it
                for pending in batch:
                    if pending.error is None and pending.result is _UNSET:
                        pending.error = exc
            finally:
                for pending in batch:
                    pending.done.set()


def together_or_alone(batch, together, alone, keep=(), log=None):
    """The usual ``run_batch``: every write of ``batch`` in one go
    (``together(items) -> results``, in order), or, when that fails with
    anything but ``keep`` (say, a database that stays unusable: every
    caller gets that error), each write alone (``alone(item) -> result``),
    so that one bad write (a copy refused by its mark) cannot take the
    others down with it.  A batch of one goes alone at once.

    :param log: ``(count, exc)``, told why a batch went one by one.
    """
    if len(batch) > 1:
        try:
            results = together([pending.item for pending in batch])
        except keep:
            raise
        except Exception as exc:  # noqa - one by one below
            if log is not None:
                log(len(batch), exc)
        else:
            for pending, result in zip(batch, results):
                pending.result = result
            return
    for pending in batch:
        try:
            pending.result = alone(pending.item)
        except Exception as exc:  # noqa - its caller gets it
            pending.error = exc
