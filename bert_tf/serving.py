"""`bert-tf-serve`: the exported classifier behind TF Serving's REST API, with dynamic batching.

    POST /v1/models/<name>:predict                    texts in, labels out (see `rest_api`)
    POST /v1/models/<name>/versions/<version>:predict the same, if that version is served
    GET  /v1/models/<name>[/versions/<version>]       TF Serving's model status
    GET  /healthz                                     200 once a model is loaded

It serves the newest version under the export directory and checks the directory every
`poll_seconds` (as TF Serving's file-system polling does): a newer version is loaded and
warmed up beside the running one, then takes over from the next batch on, without a restart.
On SIGTERM, uvicorn stops accepting connections, the requests in flight are answered, then it
exits. Bad requests get a 4xx and `{"error": ...}`; they never stop the server.

It runs on Starlette and uvicorn (the `serve` extra): a light, well-kept ASGI stack; asyncio
lets one thread read many requests while the model runs a batch in another.
"""

import asyncio
import contextlib
import dataclasses
import os

import uvicorn
from absl import logging
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bert_tf.errors import InputError
from bert_tf.exported_model import ExportedModel, newest_version, versions
from bert_tf.request_batcher import RequestBatcher
from bert_tf.rest_api import (
    RequestError,
    format_predict_response,
    parse_predict_request,
    status_response,
)
from bert_tf.run_config import setting

ENDPOINTS = "POST /v1/models/<name>:predict, GET /v1/models/<name>, GET /healthz"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """What `bert-tf-serve` takes."""

    export_dir: str = setting(
        "exported/bert_tf",
        "The base directory of exported versions (<export_dir>/<version>); the newest is "
        "served, and a newer one is picked up while running.",
    )
    model_name: str = setting("", "The name in the URLs; empty for export_dir's last part.")
    host: str = setting("127.0.0.1", "The address to listen on; 0.0.0.0 for every interface.")
    port: int = setting(8501, "The port (8501 is TF Serving's REST port).")
    max_batch_size: int = setting(64, "The most texts merged into one model call; 1: none.")
    batch_timeout_ms: float = setting(
        2.0, "Milliseconds a batch waits for more requests after its first one arrived."
    )
    max_instances: int = setting(1024, "The most texts one request may hold.")
    max_body_bytes: int = setting(8 << 20, "The largest request body accepted, in bytes.")
    poll_seconds: float = setting(1.0, "How often export_dir is checked for a new version.")

    def validate(self) -> None:
        """Raises InputError for settings no server can use."""
        for name in ("max_batch_size", "max_instances", "max_body_bytes", "poll_seconds"):
            if getattr(self, name) <= 0:
                raise InputError(f"--{name}={getattr(self, name)}: expected a positive number")
        if self.batch_timeout_ms < 0:
            raise InputError(f"--batch_timeout_ms={self.batch_timeout_ms}: expected 0 or more")


class _ModelName(Convertor):
    """A model name in a URL: no `/` and no `:` (which starts `:predict`)."""

    regex = "[^/:]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("model_name", _ModelName())


class ModelServer:
    """The served model, its batcher, the version watcher and the request handlers.

    Args:
        config: ServeConfig.

    Raises:
        InputError: bad settings, or no loadable version under `config.export_dir`.
    """

    def __init__(self, config: ServeConfig):
        config.validate()
        self.config = config
        self.name = config.model_name or os.path.basename(os.path.normpath(config.export_dir))
        version, directory = newest_version(config.export_dir)
        self.model = _load_warm(directory, version)
        self.batcher = RequestBatcher(
            self.model, config.max_batch_size, config.batch_timeout_ms / 1000
        )
        self._failed_versions = set()

    def app(self) -> Starlette:
        """The ASGI application."""
        name = "{name:model_name}"
        version = "/versions/{version:int}"
        return Starlette(
            routes=[
                Route(f"/v1/models/{name}:predict", self.predict, methods=["POST"]),
                Route(f"/v1/models/{name}{version}:predict", self.predict, methods=["POST"]),
                Route(f"/v1/models/{name}", self.status, methods=["GET"]),
                Route(f"/v1/models/{name}{version}", self.status, methods=["GET"]),
                Route("/healthz", self.health, methods=["GET"]),
            ],
            exception_handlers={HTTPException: _http_error, Exception: _internal_error},
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        self.batcher.start()
        watcher = asyncio.get_running_loop().create_task(self._watch_versions())
        logging.info(
            "serving %s version %d from %s at http://%s:%d/v1/models/%s",
            self.name,
            self.model.version,
            self.model.directory,
            self.config.host,
            self.config.port,
            self.name,
        )
        yield
        watcher.cancel()
        await self.batcher.stop()  # uvicorn has answered the requests in flight by now

    async def _watch_versions(self) -> None:
        """Loads each newer version that appears, then serves it."""
        while True:
            await asyncio.sleep(self.config.poll_seconds)
            found = versions(self.config.export_dir)
            newer = [v for v in found if v > self.model.version and v not in self._failed_versions]
            if not newer:
                continue
            version = max(newer)
            try:
                model = await asyncio.to_thread(_load_warm, found[version], version)
            except Exception as e:  # a broken version must not stop the served one
                logging.error(
                    "version %d not loaded, still serving %d: %s", version, self.model.version, e
                )
                self._failed_versions.add(version)
                continue
            self.model = self.batcher.model = model
            logging.info("now serving version %d from %s", version, model.directory)

    def _check_model(self, request: Request) -> None:
        """Raises RequestError (404) unless the URL names the served model (and version)."""
        name = request.path_params["name"]
        if name != self.name:
            raise RequestError(
                404, f"model {name!r} is not served here; this server serves {self.name!r}"
            )
        version = request.path_params.get("version")
        if version is not None and version != self.model.version:
            raise RequestError(
                404,
                f"version {version} of {self.name!r} is not served; version "
                f"{self.model.version} is",
            )

    async def predict(self, request: Request) -> JSONResponse:
        try:
            # The body first, even for a request refused by its URL: a keep-alive connection
            # stays usable only once the request was read whole.
            body = await _read_body(request, self.config.max_body_bytes)
            self._check_model(request)
            texts, layout = parse_predict_request(body, self.config.max_instances)
            outputs = await self.batcher.predict(texts)
        except RequestError as e:
            return JSONResponse({"error": e.message}, e.status)
        return JSONResponse(format_predict_response(outputs, layout))

    async def status(self, request: Request) -> JSONResponse:
        try:
            self._check_model(request)
        except RequestError as e:
            return JSONResponse({"error": e.message}, e.status)
        return JSONResponse(status_response(self.model.version))

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "model_name": self.name,
                "version": self.model.version,
                "model_calls": self.batcher.model_calls,
                "texts_predicted": self.batcher.texts_predicted,
            }
        )


def _load_warm(directory: str, version: int) -> ExportedModel:
    """Loads a version and runs it once, so its first request is not slow."""
    model = ExportedModel(directory, version)
    model(["warm-up"])
    return model


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, or RequestError (413) past `limit` bytes. A body over the limit is
    read to its end and dropped, never held, so the client gets the 413 rather than a reset
    connection."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise RequestError(
            413,
            f"the request body has {size} bytes, more than the limit of {limit} "
            "(--max_body_bytes); send fewer or shorter texts per request",
        )
    return b"".join(chunks)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    """Starlette's routing errors (404 unknown path, 405 wrong method) as JSON."""
    allowed = (error.headers or {}).get("Allow")
    expected = f"{allowed} on this URL" if allowed else ENDPOINTS
    return JSONResponse(
        {"error": f"{request.method} {request.url.path}: {error.detail}; expected {expected}"},
        error.status_code,
        headers=error.headers,
    )


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    logging.exception("error answering %s %s", request.method, request.url.path)
    return JSONResponse({"error": f"internal error: {error}"}, 500)


def serve(config: ServeConfig) -> None:
    """Runs the server until SIGTERM or SIGINT, then finishes the requests in flight.

    Raises:
        InputError: bad settings, or no loadable version under `config.export_dir`.
    """
    server = ModelServer(config)
    uvicorn.Server(
        uvicorn.Config(
            server.app(),
            host=config.host,
            port=config.port,
            access_log=False,
            log_level="info",
        )
    ).run()
