"""Tests for bert_tf.rest_api: TF Serving's request layouts, the errors that say what was
expected, and the answers in both layouts."""

import json

import numpy as np
import pytest

from bert_tf.rest_api import (
    RequestError,
    format_predict_response,
    parse_predict_request,
    status_response,
)


def parse(request, max_instances=10):
    body = request if isinstance(request, bytes) else json.dumps(request).encode("utf-8")
    return parse_predict_request(body, max_instances)


@pytest.mark.parametrize(
    "request_, layout",
    [
        ({"instances": ["café", "b"]}, "row"),
        ({"instances": [{"text": "café"}, {"text": "b"}]}, "row"),
        ({"inputs": {"text": ["café", "b"]}}, "columnar"),
        ({"inputs": ["café", "b"], "signature_name": "serving_default"}, "columnar"),
    ],
)
def test_both_layouts_give_the_texts_utf8_encoded(request_, layout):
    assert parse(request_) == (["café".encode("utf-8"), b"b"], layout)


@pytest.mark.parametrize(
    "body, status, fragments",
    [
        (b'{"instances": ["a"', 400, ["not valid JSON", "line 1", '{"instances"']),
        (b'{"instances": ["caf\xe9"]}', 400, ["not valid UTF-8", "byte 19"]),
        ({"instance": ["a"]}, 400, ["['instance']", "'instances' or 'inputs'"]),
        ({"instances": ["a"], "inputs": ["b"]}, 400, ["'instances' or 'inputs'"]),
        ({"instances": ["a", 3]}, 400, ["instances[1] is a number", "expected a string"]),
        ({"instances": [None]}, 400, ["instances[0] is a null"]),
        ({"instances": [{"txt": "a"}]}, 400, ["instances[0] has the keys ['txt']"]),
        ({"inputs": [{"text": "a"}]}, 400, ["inputs[0] is a object"]),
        ({"inputs": {"texts": ["a"]}}, 400, ["['texts']", "'text'"]),
        ({"instances": "a text"}, 400, ["instances is a string", "list of strings"]),
        ({"instances": []}, 400, ["empty list", "at least one"]),
        ({"instances": ["a"] * 11}, 413, ["11 texts", "at most 10", "--max_instances"]),
        ({"instances": ["a"], "signature_name": "x"}, 400, ["'x'", "serving_default"]),
        (b'["a"]', 400, ["a JSON list", "expected an object"]),
        (b'{"instances": ["\\ud800"]}', 400, ["instances[0]", "surrogate"]),
    ],
)
def test_bad_requests_say_what_was_expected(body, status, fragments):
    with pytest.raises(RequestError) as raised:
        parse(body)
    assert raised.value.status == status
    for fragment in fragments:
        assert fragment in raised.value.message


def test_answers_in_the_row_and_columnar_layouts():
    outputs = {
        "probabilities": np.array([[0.9, 0.2], [0.1, 0.7]], np.float32),
        "labels_mask": np.array([[True, False], [False, True]]),
        "top_labels": np.array([[b"a"], [b"b"]], object),
        "top_scores": np.array([[0.9], [0.7]], np.float32),
    }
    rows = format_predict_response(outputs, "row")["predictions"]
    assert len(rows) == 2
    assert rows[1]["labels_mask"] == [False, True]
    assert rows[1]["top_labels"] == ["b"]
    assert rows[0]["probabilities"] == pytest.approx([0.9, 0.2])
    columns = format_predict_response(outputs, "columnar")["outputs"]
    assert columns["top_labels"] == [["a"], ["b"]]
    assert columns["labels_mask"] == [[True, False], [False, True]]
    json.dumps(rows), json.dumps(columns)  # plain JSON types only


def test_status_names_the_served_version_as_tf_serving_does():
    status = status_response(3)["model_version_status"]
    assert status == [
        {"version": "3", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]
