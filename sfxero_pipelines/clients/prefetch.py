"""Fetch the next page while the current one is being written.

The API round trip (network and the server's work) and our typing/loading are independent, so a
reader thread keeps at most `depth` pages ahead of the writer: the loop costs about the slower of
the two instead of their sum, and memory stays bounded by `depth` pages. A source that already
requests its next page itself while the current one is loaded (`RequestingAhead`) is read in the
consumer's thread instead.

`pipeline` adds the typing step: pages fetched ahead in one thread and typed either in a second
thread (fetching, typing page k+1 and the database's own work on page k overlap: PostgreSQL) or in
the caller's thread between writes (SQLite, whose inserts give up the interpreter lock row by row).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")
_DONE = object()


def prefetch(pages: Iterable[T], depth: int = 2) -> Iterator[T]:
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item) -> bool:
        """Put unless the consumer has gone (then False)."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        source = iter(pages)
        try:
            for page in source:
                if not offer((page, None)):
                    return
            offer((_DONE, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            offer((_DONE, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:  # a generator source (e.g. an inner stage) stops its own thread
                close()

    reader = threading.Thread(target=read, name="sfxero-prefetch", daemon=True)
    reader.start()
    try:
        while True:
            page, error = buffer.get()
            if page is _DONE:
                if error is not None:
                    raise error
                return
            yield page
    finally:
        stop.set()
        reader.join(timeout=30)


class RequestingAhead(Iterator[T]):
    """Pages from a source that sends the request for the next page before handing over the
    current one: reading the response there costs the reading thread's CPU, so `pipeline` does not
    give it a reader thread of its own."""

    def __init__(self, pages: Iterator[T]) -> None:
        self._pages = pages

    def __next__(self) -> T:
        return next(self._pages)

    def close(self) -> None:
        close = getattr(self._pages, "close", None)
        if close is not None:
            close()


def pipeline(pages: Iterable[T], prepare: Callable[[T], U], depth: int = 2, *,
             prepare_ahead: bool = True) -> Iterator[U]:
    """`prepare(page)` for each page, in order, pages fetched `depth` ahead in a thread (unless
    `RequestingAhead`). With `prepare_ahead`, pages are also prepared one ahead in a second thread
    (`prepare` must then not touch the caller's database connection); otherwise in the caller's
    thread."""

    def prepared() -> Iterator[U]:
        source = pages if isinstance(pages, RequestingAhead) else prefetch(pages, depth)
        try:
            for page in source:
                yield prepare(page)
        finally:
            source.close()

    return prefetch(prepared(), depth=1) if prepare_ahead else prepared()
