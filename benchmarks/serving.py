"""Serving load: `bert-tf-serve` under concurrent clients on the same machine, against the same
export called in-process.

    python -m benchmarks.serving --data_dir=../shared/data/debian-tags \\
        --vocab_file=../vocab8k.txt --out=docs/benchmarks/serving

For each model (`--models`, default a tiny and a mini Transformer and the tiny TextCNN), it
builds an untrained classifier (throughput does not depend on the weights) with the labels of
`<data_dir>/train.txt` and the vocabulary `--vocab_file`, and exports it. Then:
- in-process: the export's serving signature called directly on batches of each size the
  server can form, the ceiling the server should approach;
- the server with dynamic batching, then without (`--max_batch_size=1`), each a
  `serve_bert.py` process on 127.0.0.1: 1, 4 and 16 clients (threads with keep-alive
  connections), each sending `--requests_per_client` requests of 1 text or of 32 texts from
  `<data_dir>/test.txt`, as fast as answers come back.
It reports texts/s, p50/p99 latency, errors and the mean batch the server formed, checks the
targets, and writes `<out>.json` and `<out>.md`. `--smoke` shrinks everything for the test.
"""

import argparse
import concurrent.futures
import datetime
import http.client
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

import backbones
from backbones.base import model_inputs_example
from benchmarks.serving_report import targets, write_outputs
from bert_tf.classifier import MultiLabelClassifier
from bert_tf.classifier_bundle import save_classifier
from bert_tf.export import ExportConfig, export_classifier
from bert_tf.exported_model import ExportedModel
from bert_tf.labeled_data import read_labeled_file
from bert_tf.plugin_settings import constructor_arguments
from bert_tf.tokenization import Tokenizer, TokenizerConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "bert_tf"
STARTUP_SECONDS = 180
SMOKE_OVERRIDES = dict(hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=32, filters=8)


def build_export(work_dir, model, tokenizer, labels, max_seq_length, overrides) -> str:
    """Exports an untrained classifier `model` (`backbone:size`); returns its base directory."""
    name, size = model.split(":")
    accepted = constructor_arguments(backbones.get(name))
    config = backbones.backbone_config(
        name,
        tokenizer.vocabulary_size,
        size,
        max_sequence_length=max_seq_length,
        **{key: value for key, value in overrides.items() if key in accepted},
    )
    classifier = MultiLabelClassifier(
        backbones.build(name, config), len(labels), backbones.get(name).DEFAULT_POOLING
    )
    classifier(model_inputs_example())
    model_dir = os.path.join(work_dir, model.replace(":", "_"), "model")
    save_classifier(
        model_dir,
        model=classifier,
        backbone_name=name,
        tokenizer=tokenizer,
        labels=labels,
        thresholds=0.5,
        max_seq_length=max_seq_length,
    )
    base = os.path.join(work_dir, model.replace(":", "_"), NAME)
    export_classifier(ExportConfig(model_dir=model_dir, export_dir=os.path.join(base, "1")))
    return base


def in_process_rates(export_dir, texts, batch_sizes, seconds) -> list[dict]:
    """texts/s and ms per call of the export's signature called directly, per batch size."""
    model = ExportedModel(export_dir, 1)
    rows = []
    for batch_size in batch_sizes:
        batches = [
            [texts[(start + i) % len(texts)] for i in range(batch_size)]
            for start in range(0, max(len(texts), batch_size), batch_size)
        ]
        model(batches[0])  # warm-up
        calls, start = 0, time.perf_counter()
        while calls < 5 or time.perf_counter() - start < seconds:
            model(batches[calls % len(batches)])
            calls += 1
        elapsed = time.perf_counter() - start
        rows.append(
            dict(
                batch_size=batch_size,
                texts_per_second=calls * batch_size / elapsed,
                ms_per_call=1000 * elapsed / calls,
            )
        )
    return rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(base, max_batch_size, batch_timeout_ms, log):
    """A `serve_bert.py` process on a free port, once it answers; (process, port)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            os.path.join(ROOT, "serve_bert.py"),
            f"--export_dir={base}",
            f"--port={port}",
            f"--max_batch_size={max_batch_size}",
            f"--batch_timeout_ms={batch_timeout_ms}",
        ],
        stdout=log,
        stderr=log,
        cwd=ROOT,
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            health(port)
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the server did not start; see {log.name}") from None
            time.sleep(0.5)


def health(port) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def drive(port, texts, clients, request_size, requests_per_client) -> dict:
    """`clients` threads, each on one keep-alive connection sending its requests one after
    another; texts/s over the whole run, latency percentiles, errors, the mean batch formed."""
    bodies = [
        [
            json.dumps(
                {
                    "instances": [
                        texts[(c * 7919 + r * request_size + i) % len(texts)]
                        for i in range(request_size)
                    ]
                }
            ).encode("utf-8")
            for r in range(requests_per_client)
        ]
        for c in range(clients)
    ]
    barrier = threading.Barrier(clients + 1)

    def client(own_bodies):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        latencies, errors = [], 0
        barrier.wait()
        for body in own_bodies:
            start = time.perf_counter()
            try:
                connection.request("POST", f"/v1/models/{NAME}:predict", body)
                response = connection.getresponse()
                response.read()
                errors += response.status != 200
            except (OSError, http.client.HTTPException):
                errors += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            latencies.append(time.perf_counter() - start)
        connection.close()
        return latencies, errors

    before = health(port)
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client, own) for own in bodies]
        barrier.wait()
        start = time.perf_counter()
        results = [future.result() for future in futures]
        elapsed = time.perf_counter() - start
    after = health(port)
    latencies = np.array([x for own, _ in results for x in own])
    calls = after["model_calls"] - before["model_calls"]
    texts_sent = clients * requests_per_client * request_size
    return dict(
        clients=clients,
        request_size=request_size,
        requests=clients * requests_per_client,
        texts_per_second=texts_sent / elapsed,
        p50_ms=float(np.percentile(latencies, 50) * 1000),
        p99_ms=float(np.percentile(latencies, 99) * 1000),
        errors=sum(errors for _, errors in results),
        mean_batch=(after["texts_predicted"] - before["texts_predicted"]) / max(1, calls),
    )


def ceiling_batch(clients, request_size, max_batch_size) -> int:
    """The largest batch the server can form: every client's request at once, within the batch
    size, requests whole."""
    return max(
        request_size, min(clients * request_size, max_batch_size // request_size * request_size)
    )


def server_rows(base, texts, args, log, say) -> list[dict]:
    """Every (batching, clients, request size) cell against one model's server."""
    rows = []
    for batching in (True, False):
        sizes = args.request_sizes if batching else [1]  # without batching, single texts only
        process, port = start_server(
            base,
            args.max_batch_size if batching else 1,
            args.batch_timeout_ms if batching else 0,
            log,
        )
        try:
            drive(port, texts, 4, 1, 5)  # warm-up
            for request_size in sizes:
                for clients in args.clients:
                    row = drive(port, texts, clients, request_size, args.requests_per_client)
                    row["batching"] = batching
                    rows.append(row)
                    say(
                        f"  {'batched' if batching else 'unbatched'} {clients} clients x "
                        f"{request_size} texts: {row['texts_per_second']:.0f} texts/s, "
                        f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                        f"errors {row['errors']}, mean batch {row['mean_batch']:.1f}"
                    )
        finally:
            process.terminate()
            process.wait(timeout=60)
    return rows


def environment() -> dict:
    versions = {
        name: importlib.metadata.version(name)
        for name in ("tensorflow", "tensorflow-text", "keras", "starlette", "uvicorn")
    }
    return dict(
        date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        cpu_count=os.cpu_count(),
        python=platform.python_version(),
        **versions,
    )


def run(args, say=print) -> dict:
    started = time.monotonic()
    train = read_labeled_file(os.path.join(args.data_dir, "train.txt"), "train file")
    labels = sorted({label for row in train.labels for label in row})
    texts = read_labeled_file(os.path.join(args.data_dir, "test.txt"), "test file").texts
    tokenizer = Tokenizer.from_files(args.vocab_file, TokenizerConfig())
    overrides = SMOKE_OVERRIDES if args.smoke else {}
    results = dict(
        settings={k: v for k, v in vars(args).items() if k != "out"},
        environment=environment(),
        labels=len(labels),
        models={},
    )
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="serving_benchmark_")
    os.makedirs(work_dir, exist_ok=True)
    log_path = os.path.join(work_dir, "servers.log")
    with open(log_path, "ab") as log:
        for model in args.models:
            say(f"{model}: export")
            base = build_export(work_dir, model, tokenizer, labels, args.max_seq_length, overrides)
            batch_sizes = sorted(
                {
                    ceiling_batch(c, n, args.max_batch_size)
                    for c in args.clients
                    for n in args.request_sizes
                }
                | {1}
            )
            in_process = in_process_rates(
                os.path.join(base, "1"), texts, batch_sizes, args.in_process_seconds
            )
            say(
                "  in-process: "
                + ", ".join(
                    f"batch {r['batch_size']} {r['texts_per_second']:.0f} texts/s"
                    for r in in_process
                )
            )
            rows = server_rows(base, texts, args, log, say)
            by_batch = {r["batch_size"]: r["texts_per_second"] for r in in_process}
            for row in rows:
                size = ceiling_batch(
                    row["clients"],
                    row["request_size"],
                    args.max_batch_size if row["batching"] else 1,
                )
                row["ceiling_batch"] = size
                row["share_of_in_process"] = row["texts_per_second"] / by_batch[size]
            results["models"][model] = dict(in_process=in_process, server=rows)
    results["targets"] = targets(results, max(args.clients))
    results["wall_seconds"] = time.monotonic() - started
    results["command"] = " ".join(["python -m benchmarks.serving", *sys.argv[1:]])
    return results


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", required=True, help="Holds train.txt and test.txt.")
    parser.add_argument("--vocab_file", required=True, help="A vocab.txt (wordpiece).")
    parser.add_argument("--out", required=True, help="Writes <out>.json and <out>.md.")
    parser.add_argument(
        "--models",
        type=lambda s: s.split(","),
        default=["transformer:tiny", "transformer:mini", "textcnn:tiny"],
        help="backbone:size, comma-separated.",
    )
    parser.add_argument("--clients", type=_ints, default=[1, 4, 16])
    parser.add_argument("--request_sizes", type=_ints, default=[1, 32])
    parser.add_argument("--requests_per_client", type=int, default=50)
    parser.add_argument("--max_batch_size", type=int, default=64)
    parser.add_argument("--batch_timeout_ms", type=float, default=2.0)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--in_process_seconds", type=float, default=3.0)
    parser.add_argument(
        "--work_dir", default="", help="Exports and server logs; default a temp dir."
    )
    parser.add_argument("--smoke", action="store_true", help="Tiny models (for the test).")
    return parser.parse_args(argv)


def _ints(text):
    return [int(item) for item in text.split(",")]


def main(argv=None):
    args = parse_args(argv)
    results = run(args)
    write_outputs(results, args.out)
    print(f"wrote {args.out}.json and {args.out}.md")


if __name__ == "__main__":
    main()
