"""Tests for bert_tf.request_batcher: concurrent requests share model calls within the batch
size and the timeout, each gets its own rows, errors reach only their batch, and stopping
answers what was queued."""

import asyncio
import threading
import time

import numpy as np
import pytest

from bert_tf.request_batcher import RequestBatcher


class RecordingModel:
    """Returns each text's length; records the batches it was called with."""

    def __init__(self, fail_on=None, seconds=0.0):
        self.batches = []
        self.fail_on = fail_on
        self.seconds = seconds

    def __call__(self, texts):
        self.batches.append(list(texts))
        time.sleep(self.seconds)
        if self.fail_on in texts:
            raise ValueError(f"cannot read {self.fail_on!r}")
        return {"length": np.array([[len(t)] for t in texts]), "text": np.array(texts, object)}


def run(coroutine):
    return asyncio.run(coroutine)


async def predict_all(batcher, requests, gap=0.0):
    """Sends the requests concurrently (`gap` seconds apart) and returns their answers."""
    tasks = []
    for texts in requests:
        tasks.append(asyncio.create_task(batcher.predict(texts)))
        await asyncio.sleep(gap)
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_concurrent_requests_share_one_call_and_each_gets_its_own_rows():
    model = RecordingModel()

    async def scenario():
        batcher = RequestBatcher(model, max_batch_size=64, batch_timeout=0.5)
        batcher.start()
        answers = await predict_all(batcher, [["a"], ["bb", "ccc"], ["dddd"]], gap=0.01)
        await batcher.stop()
        return answers, batcher

    answers, batcher = run(scenario())
    assert model.batches == [["a", "bb", "ccc", "dddd"]]
    assert [answer["length"].ravel().tolist() for answer in answers] == [[1], [2, 3], [4]]
    assert answers[1]["text"].tolist() == ["bb", "ccc"]
    assert (batcher.model_calls, batcher.texts_predicted) == (1, 4)


def test_batches_never_exceed_the_batch_size_and_requests_are_not_split():
    model = RecordingModel()

    async def scenario():
        batcher = RequestBatcher(model, max_batch_size=4, batch_timeout=0.5)
        batcher.start()
        requests = [["a"], ["b", "c"], ["d", "e"], ["f"], list("ghijkl"), ["m"]]
        answers = await predict_all(batcher, requests)
        await batcher.stop()
        return answers

    answers = run(scenario())
    assert model.batches == [["a", "b", "c"], ["d", "e", "f"], list("ghijkl"), ["m"]]
    assert answers[4]["text"].tolist() == list("ghijkl")


def test_a_lone_request_waits_no_longer_than_the_timeout():
    model = RecordingModel()

    async def scenario(timeout):
        batcher = RequestBatcher(model, max_batch_size=64, batch_timeout=timeout)
        batcher.start()
        start = time.monotonic()
        await batcher.predict(["a"])
        elapsed = time.monotonic() - start
        await batcher.stop()
        return elapsed

    assert 0.2 <= run(scenario(0.2)) < 2.0
    assert run(scenario(0.0)) < 0.15


def test_requests_arriving_while_the_model_runs_form_the_next_batch():
    model = RecordingModel(seconds=0.3)

    async def scenario():
        batcher = RequestBatcher(model, max_batch_size=64, batch_timeout=0.0)
        batcher.start()
        first = asyncio.create_task(batcher.predict(["a"]))
        await asyncio.sleep(0.1)  # the model is busy with "a"
        later = await predict_all(batcher, [["b"], ["c"], ["d"]])
        await first
        await batcher.stop()
        return later

    run(scenario())
    assert model.batches == [["a"], ["b", "c", "d"]]


def test_a_model_error_reaches_its_batch_only():
    model = RecordingModel(fail_on="bad")

    async def scenario():
        batcher = RequestBatcher(model, max_batch_size=2, batch_timeout=0.2)
        batcher.start()
        answers = await predict_all(batcher, [["ok"], ["bad"], ["fine"]])
        await batcher.stop()
        return answers

    failed_a, failed_b, fine = run(scenario())
    assert isinstance(failed_a, ValueError) and isinstance(failed_b, ValueError)
    assert fine["text"].tolist() == ["fine"]


def test_stop_answers_the_queued_requests_and_refuses_new_ones():
    model = RecordingModel(seconds=0.1)

    async def scenario():
        batcher = RequestBatcher(model, max_batch_size=1, batch_timeout=10.0)
        batcher.start()
        tasks = [asyncio.create_task(batcher.predict([t])) for t in "abc"]
        await asyncio.sleep(0)
        await batcher.stop()
        with pytest.raises(RuntimeError, match="shutting down"):
            await batcher.predict(["late"])
        return [task.result()["text"].tolist() for task in tasks]

    assert run(scenario()) == [["a"], ["b"], ["c"]]
    assert not any(t.name.startswith("model") for t in threading.enumerate())


def test_a_replaced_model_answers_from_the_next_batch_on():
    old, new = RecordingModel(), RecordingModel()

    async def scenario():
        batcher = RequestBatcher(old, max_batch_size=8, batch_timeout=0.0)
        batcher.start()
        await batcher.predict(["a"])
        batcher.model = new
        await batcher.predict(["b"])
        await batcher.stop()

    run(scenario())
    assert (old.batches, new.batches) == ([["a"]], [["b"]])


def test_settings_no_batcher_can_use_are_refused():
    with pytest.raises(ValueError, match="max_batch_size"):
        RequestBatcher(RecordingModel(), max_batch_size=0, batch_timeout=0.0)
