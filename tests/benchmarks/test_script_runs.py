"""The benchmarks' child-process runner: its measurements and its failure message."""

import pytest

from benchmarks.script_runs import run_script


def test_a_run_reports_its_wall_and_cpu_seconds(tmp_path):
    script = tmp_path / "busy.py"
    script.write_text("print(sum(i * i for i in range(3_000_000)))\n")
    timing = run_script(str(script), [], str(tmp_path / "busy.log"), threads=1)
    assert timing["cpu_seconds"] > 0 and timing["wall_seconds"] > 0
    assert (tmp_path / "busy.log").read_text().strip().isdigit()


def test_a_failed_run_raises_with_the_tail_of_its_log(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("import sys\nprint('what went wrong')\nsys.exit(3)\n")
    with pytest.raises(RuntimeError, match="what went wrong"):
        run_script(str(script), [], str(tmp_path / "fails.log"))
