"""Runs one of this project's scripts as a child process for a benchmark, and measures it."""

import os
import subprocess
import sys
import time

#: The repository: scripts are run from here, by path.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(script, args, log_path, threads=0) -> dict:
    """Runs `script` (a path under the repository) with `args`, its output in `log_path`.

    `threads` > 0 caps TensorFlow's (and OpenMP's) thread pools at that many threads.

    Returns:
        dict: `wall_seconds`, and `cpu_seconds` (user + system of that process alone, as the
        operating system counted them).

    Raises:
        RuntimeError: the script failed (with its log's tail).
    """
    env = dict(os.environ)
    if threads:
        env.update(
            TF_NUM_INTRAOP_THREADS=str(threads),
            TF_NUM_INTEROP_THREADS=str(threads),
            OMP_NUM_THREADS=str(threads),
        )
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, script), *args],
            stdout=log,
            stderr=log,
            cwd=ROOT,
            env=env,
        )
        _, status, usage = os.wait4(process.pid, 0)  # the child's own resource usage
    if os.waitstatus_to_exitcode(status):
        with open(log_path, encoding="utf-8") as f:
            raise RuntimeError(f"{script} failed (log {log_path}):\n{f.read()[-3000:]}")
    return {
        "wall_seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
    }
