"""Dynamic batching: concurrent requests merged into one model call, as TF Serving's batching
does (`max_batch_size`, `batch_timeout_micros`).

A batch opens when a request arrives and closes when it holds `max_batch_size` texts or
`batch_timeout` seconds after that request arrived, whichever comes first; while the model runs
one batch, the next one fills. Requests are never split: one larger than `max_batch_size` runs
alone. The model runs in one worker thread, so the event loop goes on reading requests.
"""

import asyncio
import concurrent.futures
import dataclasses
from collections import deque
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass
class _Request:
    texts: list
    future: asyncio.Future
    arrival: float


class RequestBatcher:
    """Merges concurrent `predict` calls into batched calls of a model.

    Args:
        model: Callable[[list], dict[str, np.ndarray]]. Texts [N] to outputs [N, ...]; called
            in a worker thread, one batch at a time. Replace it at any time (a new version):
            the next batch uses the new one.
        max_batch_size: int. The most texts merged into one call.
        batch_timeout: float. Seconds a batch waits for more requests after its first one
            arrived; 0 runs whatever has arrived at once.

    Use it inside a running event loop: `start()`, `await predict(texts)`, `await stop()`.
    """

    def __init__(self, model: Callable, max_batch_size: int, batch_timeout: float):
        if max_batch_size < 1 or batch_timeout < 0:
            raise ValueError(
                f"max_batch_size must be at least 1 and batch_timeout at least 0, got "
                f"{max_batch_size} and {batch_timeout}"
            )
        self.model = model
        self.max_batch_size = max_batch_size
        self.batch_timeout = batch_timeout
        self.model_calls = 0
        self.texts_predicted = 0
        self._queue: deque[_Request] = deque()
        self._queued_texts = 0
        self._arrived = asyncio.Event()
        self._stopping = False
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model")
        self._task = None

    def start(self) -> None:
        """Starts batching in the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Answers every request already queued, then stops."""
        self._stopping = True
        self._arrived.set()
        if self._task is not None:
            await self._task
        self._worker.shutdown()

    async def predict(self, texts: list) -> dict[str, np.ndarray]:
        """The model's outputs for `texts` alone, computed in a batch with other requests.

        Raises:
            RuntimeError: the batcher is stopping.
            Exception: whatever the model raised for the batch.
        """
        if self._stopping:
            raise RuntimeError("the server is shutting down")
        loop = asyncio.get_running_loop()
        request = _Request(texts, loop.create_future(), loop.time())
        self._queue.append(request)
        self._queued_texts += len(texts)
        self._arrived.set()
        return await request.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            deadline = self._queue[0].arrival + self.batch_timeout
            while self._queued_texts < self.max_batch_size and not self._stopping:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11 on
                    break
            await self._run_batch(self._take_batch())

    def _take_batch(self) -> list[_Request]:
        """The oldest queued requests that fit in one batch (at least one)."""
        batch = [self._queue.popleft()]
        size = len(batch[0].texts)
        while self._queue and size + len(self._queue[0].texts) <= self.max_batch_size:
            size += len(self._queue[0].texts)
            batch.append(self._queue.popleft())
        self._queued_texts -= size
        return batch

    async def _run_batch(self, batch: list[_Request]) -> None:
        texts = [text for request in batch for text in request.texts]
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(
                self._worker, self.model, texts
            )
        except Exception as e:  # every request of the batch gets the model's error
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(e)
            return
        self.model_calls += 1
        self.texts_predicted += len(texts)
        start = 0
        for request in batch:
            end = start + len(request.texts)
            if not request.future.done():  # its client may have gone away
                request.future.set_result({k: v[start:end] for k, v in outputs.items()})
            start = end
