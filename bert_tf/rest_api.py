"""TF Serving's REST predict API for the exported classifier: requests parsed, answers formatted.

A request names the texts in the row layout, `{"instances": ["text", ...]}` (items may also be
`{"text": "..."}`), or the columnar one, `{"inputs": {"text": [...]}}` (or `{"inputs": [...]}`),
with an optional `"signature_name": "serving_default"`. The row layout is answered with
`{"predictions": [{"probabilities": [...], "labels_mask": [...], "top_labels": [...],
"top_scores": [...]}, ...]}`, one object a text; the columnar one with `{"outputs":
{"probabilities": [[...], ...], ...}}`. Anything else is a `RequestError` whose message says
what was expected; the server answers it as `{"error": message}` with its 4xx status.
"""

import json

import numpy as np

from bert_tf.exported_model import INPUT_NAME, SIGNATURE_NAME

EXAMPLE = '{"instances": ["a text", "another text"]}'


class RequestError(Exception):
    """A request the server refuses: an HTTP status (4xx) and a message saying what was expected.

    Args:
        status: int. The HTTP status.
        message: str. For the client, as `{"error": message}`.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def parse_predict_request(body: bytes, max_instances: int) -> tuple[list[bytes], str]:
    """The texts of a predict request's body, and its layout.

    Args:
        body: bytes. The HTTP request body.
        max_instances: int. The most texts a request may hold.

    Returns:
        (texts, layout): the texts UTF-8 encoded, in order; `"row"` for `instances`,
        `"columnar"` for `inputs`.

    Raises:
        RequestError: 400 for a body that is not UTF-8 JSON of the expected shape, 413 for
            more than `max_instances` texts.
    """
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RequestError(
            400, f"the request body is not valid UTF-8 (byte {e.start}); expected UTF-8 JSON"
        ) from None
    try:
        request = json.loads(decoded)
    except json.JSONDecodeError as e:
        raise RequestError(
            400,
            f"the request body is not valid JSON ({e.msg}, line {e.lineno} column {e.colno}); "
            f"expected a JSON object such as {EXAMPLE}",
        ) from None
    if not isinstance(request, dict):
        raise RequestError(
            400, f"the request body is a JSON {_kind(request)}; expected an object: {EXAMPLE}"
        )
    signature = request.get("signature_name", SIGNATURE_NAME)
    if signature != SIGNATURE_NAME:
        raise RequestError(
            400, f"signature_name {signature!r} is not served; expected {SIGNATURE_NAME!r}"
        )
    keys = sorted(set(request) - {"signature_name"})
    if keys == ["instances"]:
        return _texts(request["instances"], "instances", max_instances, allow_objects=True), "row"
    if keys == ["inputs"]:
        inputs = request["inputs"]
        if isinstance(inputs, dict):
            if sorted(inputs) != [INPUT_NAME]:
                raise RequestError(
                    400,
                    f"inputs has the keys {sorted(inputs)}; expected the one input "
                    f'{INPUT_NAME!r}: {{"inputs": {{"{INPUT_NAME}": ["a text", ...]}}}}',
                )
            inputs = inputs[INPUT_NAME]
        return _texts(inputs, "inputs", max_instances, allow_objects=False), "columnar"
    raise RequestError(
        400,
        f"the request has the keys {keys}; expected 'instances' or 'inputs' (and optionally "
        f"'signature_name'), e.g. {EXAMPLE}",
    )


def _texts(items, where: str, max_instances: int, allow_objects: bool) -> list[bytes]:
    """The texts of a request's list, checked and UTF-8 encoded."""
    if not isinstance(items, list):
        raise RequestError(400, f"{where} is a {_kind(items)}; expected a list of strings")
    if not items:
        raise RequestError(400, f"{where} is an empty list; expected at least one text")
    if len(items) > max_instances:
        raise RequestError(
            413,
            f"{where} holds {len(items)} texts; at most {max_instances} are accepted in one "
            "request (--max_instances): send them in several requests",
        )
    texts = []
    for index, item in enumerate(items):
        if allow_objects and isinstance(item, dict):
            if sorted(item) != [INPUT_NAME]:
                raise RequestError(
                    400,
                    f"{where}[{index}] has the keys {sorted(item)}; expected a string or "
                    f'{{"{INPUT_NAME}": "..."}}',
                )
            item = item[INPUT_NAME]
        if not isinstance(item, str):
            raise RequestError(
                400, f"{where}[{index}] is a {_kind(item)}; expected a string (UTF-8 text)"
            )
        try:
            texts.append(item.encode("utf-8"))
        except UnicodeEncodeError:
            raise RequestError(
                400, f"{where}[{index}] holds an unpaired surrogate escape; expected Unicode text"
            ) from None
    return texts


def _kind(value) -> str:
    """The JSON name of a parsed value's type."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "list", dict: "object"}.get(type(value), "null")


def format_predict_response(outputs: dict[str, np.ndarray], layout: str) -> dict:
    """The JSON answer to a predict request, as TF Serving gives it.

    Args:
        outputs: dict. The exported model's outputs for the request's N texts, each [N, ...];
            string outputs as bytes.
        layout: str. `"row"` or `"columnar"`, from `parse_predict_request`.

    Returns:
        dict: `{"predictions": [one object a text]}` or `{"outputs": {name: [N rows]}}`.
    """
    columns = {name: _as_json(value) for name, value in sorted(outputs.items())}
    if layout == "columnar":
        return {"outputs": columns}
    rows = len(next(iter(columns.values())))
    return {
        "predictions": [{name: column[i] for name, column in columns.items()} for i in range(rows)]
    }


def _as_json(value: np.ndarray) -> list:
    """A NumPy output as nested lists; bytes decoded as UTF-8."""
    if value.dtype.kind in "OS":
        return [[item.decode("utf-8") for item in row] for row in value.tolist()]
    return value.tolist()


def status_response(version: int) -> dict:
    """TF Serving's model status answer for the one version being served."""
    return {
        "model_version_status": [
            {
                "version": str(version),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
