"""Detectors that must not be shared between threads, handed to one thread at a time and kept for the next.

OpenCV's cascades and dlib's detectors do not promise that one instance may run in two threads at once. One per
request thread was safe but paid for itself again in every new thread of the server's pool (dlib's HOG detector
takes about 0.25 s to build). A Pool builds an instance only when all of its instances are in use, so it holds
as many as requests ever ran at once, and `warm` builds the first one before any visitor asks.
"""
from __future__ import annotations

import queue
from contextlib import contextmanager
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Pool(Generic[T]):
    def __init__(self, build: Callable[[], T]):
        self._build = build
        self._free: queue.SimpleQueue[T] = queue.SimpleQueue()
        self.built = 0  # how many instances exist (a measure of the peak concurrency seen)

    @contextmanager
    def lend(self) -> Iterator[T]:
        """An instance no other thread is using, for the duration of the with-block."""
        try:
            obj = self._free.get_nowait()
        except queue.Empty:
            obj = self._build()
            self.built += 1
        try:
            yield obj
        finally:
            self._free.put(obj)

    def warm(self) -> None:
        """Build the first instance now (at start-up) if none is built yet."""
        if self.built == 0:
            with self.lend():
                pass
