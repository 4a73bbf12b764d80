"""Training beyond one device: two worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy,
TF_CONFIG per process), and MirroredStrategy over two logical CPU devices.

Slow: every test starts TensorFlow in new processes. Each process runs in its own session and
is killed with its group when the test ends, however it ends; each wait is bounded.
"""

import contextlib
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from corpora import grammar_corpus
from tiny_configs import tiny_flags, tiny_overrides

from bert_tf import bundle
from bert_tf.pretraining import PretrainConfig, run_pretraining

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Seconds a process may run before the test kills it and fails (the machine may be busy).
PROCESS_TIMEOUT = 900
#: The masked-LM and next-sentence losses of two workers may differ from one process's by this
#: much: the workers draw other examples and masks (each reads its own share of the corpus).
LOSS_TOLERANCE = 0.25
PRETRAIN_SETTINGS = dict(
    backbone="transformer",
    tasks=("masked_lm", "next_sentence"),
    vocab_size=60,
    max_seq_length=32,
    batch_size=8,
    learning_rate=0.02,
    num_train_steps=40,
    log_every=1000,
    seed=0,
)


class Processes:
    """Started commands, each in its own process group, all killed on exit."""

    def __init__(self, directory):
        self.directory = directory
        self.running = []

    def start(self, name, command, tf_config=None):
        env = dict(os.environ, PYTHONPATH=REPO)
        env.pop("TF_CONFIG", None)
        if tf_config:
            env["TF_CONFIG"] = json.dumps(tf_config)
        log = open(os.path.join(self.directory, f"{name}.log"), "w")
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        process.log_path = log.name
        log.close()
        self.running.append(process)
        return process

    def finish(self, process, timeout=PROCESS_TIMEOUT):
        """Waits for `process`; returns (exit status, its output)."""
        try:
            status = process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(process)
            pytest.fail(
                f"{process.args[1]} still ran after {timeout} s:\n{output(process)[-3000:]}"
            )
        return status, output(process)

    @staticmethod
    def kill(process):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def close(self):
        for process in self.running:
            if process.poll() is None:
                self.kill(process)


@pytest.fixture
def processes(tmp_path):
    started = Processes(str(tmp_path))
    try:
        yield started
    finally:
        started.close()


def output(process):
    with open(process.log_path, encoding="utf-8", errors="replace") as f:
        return f.read()


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_configs(count):
    workers = [f"127.0.0.1:{port}" for port in free_ports(count)]
    return [
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        for index in range(count)
    ]


def flags(settings):
    return [
        f"--{key}={','.join(value) if isinstance(value, tuple) else value}"
        for key, value in settings.items()
    ]


def worker_command(script, settings):
    command = [sys.executable, script, *flags(settings), *tiny_flags("transformer")]
    return command + ["--strategy=multi_worker_mirrored", "--cluster_timeout=300"]


def run_workers(processes, script, settings, name, count=2):
    """Runs `script` on `count` workers; returns their (exit status, output) pairs."""
    command = worker_command(script, settings)
    started = [
        processes.start(f"{name}{index}", command, config)
        for index, config in enumerate(tf_configs(count))
    ]
    return [processes.finish(process) for process in started]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """40 documents of 3-6 short sentences from a small grammar."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(grammar_corpus(), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def one_process_summary(corpus, tmp_path_factory):
    """The same pretraining in one process, default strategy: the reference."""
    output_dir = tmp_path_factory.mktemp("one_process") / "run"
    config = PretrainConfig(
        corpus=corpus,
        output_dir=str(output_dir),
        backbone_overrides=tiny_overrides("transformer"),
        task_settings={"max_predictions_per_seq": 5},
        **PRETRAIN_SETTINGS,
    )
    return run_pretraining(config)


@pytest.fixture(scope="module")
def two_worker_run(corpus, tmp_path_factory):
    """The pretraining of `one_process_summary` on two workers, with a checkpoint every 2 steps:
    worker 1 is killed once the first checkpoint is there, and then the same command, run again
    on both, finishes the run. (One run checks both the resume and the result, which saves the
    suite a second two-worker run.)

    Returns:
        dict: `output_dir`; `chief` (exit status and output of the chief that lost its peer);
        `first_worker` (worker 1's output before it was killed); `resumed` (both workers'
        exit status and output in the second run).
    """
    directory = tmp_path_factory.mktemp("two_workers")
    output_dir = directory / "run"
    settings = dict(
        PRETRAIN_SETTINGS,
        corpus=corpus,
        output_dir=output_dir,
        max_predictions_per_seq=5,
        checkpoint_every=2,
    )
    processes = Processes(str(directory))
    try:
        command = worker_command("train_bert_lm.py", settings)
        configs = tf_configs(2)
        chief, worker = (processes.start(f"first{i}", command, configs[i]) for i in range(2))
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while not glob.glob(str(output_dir / "checkpoints" / "ckpt-*.index")):
            if time.monotonic() > deadline or chief.poll() is not None:
                pytest.fail(f"no checkpoint from the chief:\n{output(chief)[-3000:]}")
            time.sleep(0.05)
        Processes.kill(worker)  # long before step 40: the chief cannot step without it
        return {
            "output_dir": output_dir,
            "chief": processes.finish(chief),
            "first_worker": output(worker),
            "resumed": run_workers(processes, "train_bert_lm.py", settings, "resumed"),
        }
    finally:
        processes.close()


def test_a_killed_worker_stops_the_chief_and_the_same_command_resumes(two_worker_run):
    status, text = two_worker_run["chief"]
    assert status == 1, text[-3000:]
    assert "worker 0 lost contact with the cluster" in text
    assert "run the same command on every worker to resume" in text
    steps = []
    for status, text in two_worker_run["resumed"]:
        assert status == 0, text[-3000:]
        steps.append(int(text.split("resumed from ")[1].split("(step ")[1].split(")")[0]))
    assert steps[0] == steps[1] >= 2


def test_two_workers_write_one_bundle_and_nothing_else(two_worker_run):
    output_dir = two_worker_run["output_dir"]
    (_, chief), (_, worker) = two_worker_run["resumed"]
    assert sorted(os.listdir(output_dir)) == [
        "backbone.weights.h5",
        "checkpoints",
        "config.json",
        "corpus_shards",
        "heads.weights.h5",
        "logs",
        "vocab.txt",
    ]
    assert not glob.glob(str(output_dir / "**" / "*tmp*"), recursive=True)
    assert bundle.read_bundle_config(str(output_dir))["training_summary"]["steps"] == 40
    assert "learning a wordpiece vocabulary" in two_worker_run["chief"][1]
    assert "learning a wordpiece vocabulary" not in two_worker_run["first_worker"]
    assert "bundle written to" in chief
    assert "bundle written to" not in worker
    assert "worker 1: done (the chief wrote" in worker


def test_two_workers_train_like_one_process_with_the_same_global_batch(
    two_worker_run, one_process_summary
):
    """Within `LOSS_TOLERANCE`: the workers draw other examples and masks, and the resumed
    run's `end` figures average the steps after the resume only."""
    two_workers = bundle.read_bundle_config(str(two_worker_run["output_dir"]))
    two_workers = two_workers["training_summary"]["tasks"]
    for task, figures in one_process_summary["tasks"].items():
        assert abs(two_workers[task]["end_loss"] - figures["end_loss"]) < LOSS_TOLERANCE, (
            task,
            two_workers[task],
            figures,
        )
    masked_lm = two_workers["masked_lm"]
    assert masked_lm["end_loss"] < masked_lm["start_loss"] - 0.3  # it learned


def test_two_workers_fine_tune_from_the_bundle_into_one_metrics_file(two_worker_run, processes):
    bundle_dir = two_worker_run["output_dir"]
    output_dir = bundle_dir.parent / "finetuned"
    data = os.path.join(REPO, "data")
    settings = {
        "init_checkpoint": bundle_dir,
        "output_dir": output_dir,
        "train_file": os.path.join(data, "valid.txt"),
        "valid_file": os.path.join(data, "test.txt"),
        "test_file": os.path.join(data, "test.txt"),
        "max_seq_length": 32,
        "batch_size": 16,
        "epochs": 1,
    }
    command = [sys.executable, "train_bert_fine_tuning.py", *flags(settings)]
    command += ["--strategy=multi_worker_mirrored", "--cluster_timeout=300"]
    configs = tf_configs(2)
    started = [processes.start(f"finetune{i}", command, configs[i]) for i in range(2)]
    for status, text in (processes.finish(process) for process in started):
        assert status == 0, text[-3000:]
    assert sorted(os.listdir(output_dir)) == ["checkpoints", "logs", "metrics.json", "model"]
    with open(output_dir / "metrics.json", encoding="utf-8") as f:
        assert 0.0 <= json.load(f)["test"]["micro_f1"] <= 1.0


def test_a_worker_whose_peer_never_comes_ends_with_a_clear_error(corpus, tmp_path, processes):
    config = tf_configs(2)[0]
    command = [sys.executable, "train_bert_lm.py", f"--corpus={corpus}"]
    command += [f"--output_dir={tmp_path / 'run'}", "--strategy=multi_worker_mirrored"]
    command += ["--cluster_timeout=3"]
    status, text = processes.finish(processes.start("alone", command, config))
    assert status == 2, text[-3000:]
    assert "worker 0 could not reach every worker of TF_CONFIG" in text
    assert "--cluster_timeout=3 seconds" in text


def test_mirrored_training_on_two_logical_cpu_devices(corpus, tmp_path, processes):
    """(That a step's replicas get batches of one shape, which --static_shapes needs, is
    tested on the input pipeline; here a trace for each shape would cost 25 s of CPU more.)"""
    program = textwrap.dedent(f"""
        import json, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        two = [tf.config.LogicalDeviceConfiguration()] * 2
        tf.config.set_logical_device_configuration(cpu, two)
        from bert_tf import distribution
        from bert_tf.pretraining import PretrainConfig, run_pretraining
        print("replicas", distribution.get_strategy("mirrored").num_replicas_in_sync)
        summary = run_pretraining(PretrainConfig(
            corpus={corpus!r}, output_dir={str(tmp_path / 'run')!r}, strategy="mirrored",
            backbone_overrides={tiny_overrides("transformer")!r},
            task_settings={{"max_predictions_per_seq": 5}}, **{PRETRAIN_SETTINGS!r}))
        print("summary", json.dumps(summary["tasks"]))
        """)
    status, text = processes.finish(processes.start("mirrored", [sys.executable, "-c", program]))
    assert status == 0, text[-3000:]
    assert "replicas 2" in text
    tasks = json.loads(text.split("summary ")[-1].splitlines()[0])
    assert tasks["masked_lm"]["end_loss"] < tasks["masked_lm"]["start_loss"] - 0.3
    assert bundle.read_bundle_config(str(tmp_path / "run"))["training_summary"]["steps"] == 40
