"""examples/python/: run as a user runs them, printing what they say."""

import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python"


def run(name):
    done = subprocess.run([sys.executable, EXAMPLES / name], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_code_tool():
    out = run("code_tool.py")
    assert "6 words\nvalue: [('the', 2), ('cat', 1)]" in out
    assert "value: 2.5" in out
    assert "NameError: name 'words' is not defined" in out
    assert "FileNotFoundError" in out
    assert "time limit of 2s exceeded" in out


def test_environment():
    out = run("environment.py")
    assert "8 jobs, each in a fork of it" in out
    assert "cannot be sent to a worker" in out
    assert "the same results: True" in out
