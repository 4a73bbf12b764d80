"""Tests for serve_bert.py (`bert-tf-serve`), run as a user runs it, on 127.0.0.1 and a free
port: TF Serving's REST API, bad requests answered with a 4xx and the server still answering,
dynamic batching, a new version picked up while running, and a clean SIGTERM."""

import concurrent.futures
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import finetuning_support as support
import numpy as np
import pytest

from bert_tf.export import ExportConfig, export_classifier
from bert_tf.exported_model import ExportedModel

LABELS = ["audio", "science", "gui"]
NEW_LABELS = ["red", "green", "blue", "black"]
NAME = "bert_tf"
STARTUP_SECONDS = 120  # TensorFlow's import, the model's loading and warm-up
BATCH_TIMEOUT_MS = 100  # long, so that concurrent requests surely meet in one batch
MAX_BODY_BYTES = 1 << 20

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """HTTP/1.1 requests to the server, one connection per call."""

    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None, timeout=60):
        """(status, parsed JSON answer)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode("utf-8")
            connection.request(method, path, body)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def predict(self, body, name=NAME, **kwargs):
        return self.request("POST", f"/v1/models/{name}:predict", body, **kwargs)


@pytest.fixture(scope="module")
def texts():
    return [line.split("__label__")[0].strip() for line in support.read_lines("test.txt", 8)]


@pytest.fixture(scope="module")
def export_base(tmp_path_factory):
    """A base directory holding version 1 of an untrained tiny classifier."""
    root = tmp_path_factory.mktemp("serve")
    model_dir = support.make_untrained_classifier(root / "model", LABELS, [0.5, 0.45, 0.55])
    base = root / NAME
    export_classifier(ExportConfig(model_dir=model_dir, export_dir=str(base / "1"), top_k=2))
    return base


@pytest.fixture(scope="module")
def server(export_base):
    """The server process on a free port, once /healthz answers; killed at the end."""
    port = free_port()
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [
            sys.executable,
            os.path.join(support.ROOT, "serve_bert.py"),
            f"--export_dir={export_base}",
            f"--port={port}",
            f"--batch_timeout_ms={BATCH_TIMEOUT_MS}",
            f"--max_body_bytes={MAX_BODY_BYTES}",
            "--max_instances=100",
            "--poll_seconds=0.2",
        ],
        stdout=log,
        stderr=log,
        cwd=support.ROOT,
    )
    client = Client(port)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            client.request("GET", "/healthz", timeout=5)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"the server did not start:\n{log.read().decode()[-3000:]}")
            time.sleep(0.3)
    yield process, client
    if process.poll() is None:
        process.kill()
        process.wait()
    log.close()


def test_predict_answers_as_the_export_does_in_both_layouts(server, export_base, texts):
    _, client = server
    expected = ExportedModel(str(export_base / "1"), 1)(texts)
    status, answer = client.predict({"instances": texts})
    assert status == 200, answer
    rows = answer["predictions"]
    assert len(rows) == len(texts)
    np.testing.assert_allclose(
        [row["probabilities"] for row in rows], expected["probabilities"], atol=1e-6
    )
    assert [row["labels_mask"] for row in rows] == expected["labels_mask"].tolist()
    assert [row["top_labels"] for row in rows] == expected["top_labels"].astype(str).tolist()

    status, answer = client.predict({"inputs": {"text": texts[:2]}})
    assert status == 200, answer
    assert answer["outputs"]["labels_mask"] == expected["labels_mask"][:2].tolist()
    assert len(answer["outputs"]["top_scores"][0]) == 2


def test_status_and_health(server):
    _, client = server
    assert client.request("GET", f"/v1/models/{NAME}") == (
        200,
        {
            "model_version_status": [
                {
                    "version": "1",
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        },
    )
    status, health = client.request("GET", "/healthz")
    assert status == 200 and health["status"] == "ok" and health["version"] == 1


BAD_REQUESTS = [
    # (what, method, path, body, status, a fragment of the error)
    ("invalid JSON", "POST", None, b'{"instances": ["a",', 400, "not valid JSON"),
    ("misspelled key", "POST", None, {"instance": ["a"]}, 400, "'instances' or 'inputs'"),
    ("missing key", "POST", None, {}, 400, "'instances' or 'inputs'"),
    ("numbers", "POST", None, {"instances": [1, 2]}, 400, "expected a string"),
    ("empty list", "POST", None, {"instances": []}, 400, "at least one text"),
    ("100k instances", "POST", None, {"instances": ["a"] * 100_000}, 413, "--max_instances"),
    ("20 MB body", "POST", None, b'{"instances": ["' + b"a" * (20 << 20) + b'"]}', 413, "20971"),
    ("invalid UTF-8", "POST", None, b'{"instances": ["caf\xe9"]}', 400, "not valid UTF-8"),
    ("unknown model", "POST", "/v1/models/other:predict", {"instances": ["a"]}, 404, "'other'"),
    ("unknown version", "POST", f"/v1/models/{NAME}/versions/9:predict", None, 404, "version 9"),
    ("GET on predict", "GET", f"/v1/models/{NAME}:predict", None, 405, "expected POST"),
    ("unknown path", "GET", "/v2/whatever", None, 404, "POST /v1/models/<name>:predict"),
]


@pytest.mark.parametrize(
    "what, method, path, body, status, fragment", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS]
)
def test_a_bad_request_gets_a_4xx_saying_what_was_expected_and_the_server_goes_on(
    server, what, method, path, body, status, fragment
):
    process, client = server
    if body is None and method == "POST":
        body = {"instances": ["a"]}
    answer_status, answer = client.request(method, path or f"/v1/models/{NAME}:predict", body)
    assert answer_status == status, answer
    assert list(answer) == ["error"] and fragment in answer["error"], answer
    good_status, good = client.predict({"instances": ["a good request"]})
    assert good_status == 200 and len(good["predictions"]) == 1
    assert process.poll() is None


def test_concurrent_requests_are_answered_in_shared_model_calls(server, texts):
    _, client = server
    _, before = client.request("GET", "/healthz")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda t: client.predict({"instances": [t]}), texts))
    _, after = client.request("GET", "/healthz")
    assert all(status == 200 for status, _ in answers)
    assert after["texts_predicted"] - before["texts_predicted"] == len(texts)
    assert after["model_calls"] - before["model_calls"] < len(texts)


def test_a_new_version_is_served_without_a_restart(server, export_base, tmp_path):
    """Version 2 is another kind of model: single-label on sentence pairs (`A<TAB>B`), answered
    with its softmax and its most probable class alone."""
    _, client = server
    model_dir = support.make_untrained_classifier(
        tmp_path / "model", NEW_LABELS, None, problem_type="single_label", text_pairs=True
    )
    export_classifier(ExportConfig(model_dir=model_dir, export_dir=str(export_base / "2")))
    deadline = time.monotonic() + 60
    while (
        client.request("GET", f"/v1/models/{NAME}")[1]["model_version_status"][0]["version"] != "2"
    ):
        assert time.monotonic() < deadline, "version 2 was not picked up within 60 s"
        time.sleep(0.2)
    pairs = ["a text\tits continuation", "another text\tsomething else"]
    status, answer = client.predict({"instances": pairs})
    assert status == 200
    expected = ExportedModel(str(export_base / "2"), 2)(pairs)
    for row, probabilities in zip(answer["predictions"], expected["probabilities"]):
        assert len(row["probabilities"]) == len(NEW_LABELS)
        np.testing.assert_allclose(row["probabilities"], probabilities, atol=1e-6)
        assert sum(row["probabilities"]) == pytest.approx(1.0, abs=1e-5)
        best = int(np.argmax(row["probabilities"]))
        assert row["labels_mask"] == [i == best for i in range(len(NEW_LABELS))]
        assert row["top_labels"][0] == NEW_LABELS[best]
    status, _ = client.request(
        "POST", f"/v1/models/{NAME}/versions/2:predict", {"instances": ["a"]}
    )
    assert status == 200


def test_sigterm_answers_the_request_in_flight_then_exits(server):
    """Last in the module: it stops the server."""
    process, client = server
    many = ["word " * 2000] * 90  # 900 kB of words to tokenize: a second or two
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(client.predict, {"instances": many})
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        status, answer = in_flight.result(timeout=60)
    assert status == 200 and len(answer["predictions"]) == len(many)
    # uvicorn re-raises the signal once it has shut down, as a process killed by it would end.
    assert process.wait(timeout=60) == -signal.SIGTERM
    with pytest.raises(OSError):
        client.request("GET", "/healthz", timeout=5)
