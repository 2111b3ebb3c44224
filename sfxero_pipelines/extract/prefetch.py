"""Fetch the next page while the current one is being written.

The API round trip (network and the server's work) and our typing/loading are independent, so a
reader thread keeps at most `depth` pages ahead of the writer: the loop costs about the slower of
the two instead of their sum, and memory stays bounded by `depth` pages.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(pages: Iterable[T], depth: int = 2) -> Iterator[T]:
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        buffer.put((page, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            buffer.put((_DONE, exc))

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
