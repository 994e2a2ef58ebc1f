"""`make test`'s closing line: the plain total over every suite, never hiding a red one."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_test_script():
    spec = importlib.util.spec_from_file_location("strangler_test_script", ROOT / "scripts/test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _junit(tmp_path: Path, name: str, body: str) -> Path:
    test_file = tmp_path / f"test_{name}.py"
    test_file.write_text(body)
    report = tmp_path / f"{name}.xml"
    code = subprocess.call(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:django",
            "-p",
            "no:cacheprovider",
            str(test_file),
            f"--junit-xml={report}",
            "--rootdir",
            str(tmp_path),
            "-c",
            "/dev/null",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    return report, code


def test_tally_sums_passed_failed_and_skipped_over_suites(tmp_path):
    script = _load_test_script()
    tally = script.Tally()
    green, code_green = _junit(tmp_path, "green", "def test_a(): pass\ndef test_b(): pass\n")
    red, code_red = _junit(
        tmp_path,
        "red",
        "import pytest\ndef test_c(): assert False\n"
        "@pytest.mark.skip(reason='x')\ndef test_d(): pass\ndef test_e(): pass\n",
    )
    tally.add_report(green, code_green)
    tally.add_report(red, code_red)
    assert (code_green, code_red) == (0, 1)
    assert tally.line() == "3 passed, 1 failed, 1 skipped"


def test_a_crashed_suite_without_a_report_counts_as_a_failure(tmp_path):
    script = _load_test_script()
    tally = script.Tally()
    tally.add_report(tmp_path / "missing.xml", 2)
    tally.add_report(tmp_path / "also-missing.xml", 5)  # 5: nothing collected, not a failure
    assert tally.line() == "0 passed, 1 failed"


def test_free_port_never_hands_out_a_port_twice(monkeypatch):
    """The kernel may offer a just-closed port again at once; a fleet takes its 7 ports before
    any server binds one, so two of them on one port is a fleet that half starts."""
    from tests.support import processes

    offered = iter([40001, 40001, 8005, 40001, 40002])

    class Offered:
        def __init__(self):
            self.port = next(offered)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def bind(self, address):
            pass

        def getsockname(self):
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(processes, "_handed_out", set())
    monkeypatch.setattr(processes.socket, "socket", Offered)
    assert [processes.free_port(), processes.free_port()] == [40001, 40002]
