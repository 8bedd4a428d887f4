"""Checks tests/py's expectations against a native CPython.

The headers of tests/py/**/*.py say what CPython prints; this runs each
script with a real CPython and reports where it disagrees, so expectations
are checked against the reference rather than against isolate itself.

    python3.14 tests/check_expectations.py      (3.13 agrees on most scripts)
"""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).parent / "py"
failures = checked = skipped = 0
for script in sorted(ROOT.rglob("*.py")):
    absolute = script.resolve()
    args, exit_code, stdout, stderr = [], 0, "", ""
    for line in script.read_text().splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].partition(":")
        if not sep:
            continue
        value = value[1:] if value.startswith(" ") else value
        key = key.strip()
        if key == "sandbox-only":
            break
        if key == "args":
            args = value.split()
        elif key == "exit":
            exit_code = int(value)
        elif key == "stdout":
            stdout += value + "\n"
        elif key == "stderr":
            stderr += value.replace("{script}", str(absolute)) + "\n"
    if "# sandbox-only:" in script.read_text():
        skipped += 1
        continue
    checked += 1
    result = subprocess.run(
        [sys.executable, "-I", str(absolute), *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env={},
        text=True,
    )
    if (result.returncode, result.stdout, result.stderr) != (exit_code, stdout, stderr):
        failures += 1
        print(f"{script}: exit {result.returncode} (expected {exit_code})")
        print(f"  stdout {result.stdout!r}\n  expected {stdout!r}")
        print(f"  stderr {result.stderr!r}\n  expected {stderr!r}")
print(f"{failures} of {checked} scripts disagree with {sys.version.split()[0]} ({skipped} sandbox-only skipped)")
