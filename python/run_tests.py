"""Builds the isolate-wasm wheel and runs its tests, each Python in a fresh
virtual environment under target/:

    python3 python/run_tests.py          # with this Python
    python3 python/run_tests.py --all    # with every CPython 3.10+ pyenv has, and this one
    python3 python/run_tests.py --all --bench   # then python/benches/bench.py's figures

The wheel is built once (abi3: one wheel for every CPython from 3.10), by
pip with maturin from PyPI. The tests compile the guest once into
target/py-cache (about a minute, two with the fuel-metering build); then
mypy --strict checks the package's types and stubs. Extra arguments go to
pytest.
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "target"


def run(*command, **kwargs):
    print("+", " ".join(map(str, command)), flush=True)
    subprocess.run(command, check=True, **kwargs)


def interpreters(every):
    """The Pythons to test with: this one, and with `every` each pyenv
    CPython from 3.10 on."""
    found = {f"{sys.version_info.major}.{sys.version_info.minor}": pathlib.Path(sys.executable)}
    if every:
        versions = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv")) / "versions"
        for folder in sorted(versions.glob("3.*")) if versions.is_dir() else []:
            parts = folder.name.split(".")
            python = folder / "bin" / "python3"
            if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) >= 10 and python.exists():
                found.setdefault(f"3.{parts[1]}", python)
    return dict(sorted(found.items(), key=lambda item: tuple(map(int, item[0].split(".")))))


def build_wheel():
    wheels = TARGET / "py-wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, ROOT / "python")
    (wheel,) = wheels.glob("isolate_wasm-*.whl")
    return wheel


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="also every pyenv CPython 3.10 and newer")
    parser.add_argument("--bench", action="store_true", help="then run benches/bench.py with the newest Python tested")
    args, pytest_args = parser.parse_known_args()
    if sys.version_info < (3, 10):
        sys.exit("run_tests.py needs Python 3.10 or newer")
    wheel = build_wheel()
    env = dict(os.environ, ISOLATE_WASM_CACHE_DIR=str(TARGET / "py-cache"))
    tested = []
    for version, python in interpreters(args.all).items():
        home = TARGET / "py-test" / version
        shutil.rmtree(home, ignore_errors=True)
        run(python, "-m", "venv", home)
        bin_dir = home / ("Scripts" if os.name == "nt" else "bin")
        # numpy, for the tests of arrays crossing (the package needs none).
        run(bin_dir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel, "pytest", "numpy")
        # From the tests' folder, so that `import isolate_wasm` is the
        # installed wheel, never the sources beside them.
        run(bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args, cwd=ROOT / "python" / "tests", env=env)
        tested.append(version)
    # The package's types (its annotations and the extension's stubs),
    # checked strictly once, with this Python.
    checker = TARGET / "py-test" / "mypy"
    if not (checker / "bin" / "mypy").exists():
        run(sys.executable, "-m", "venv", checker)
        run(checker / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", "mypy")
    run(checker / "bin" / "mypy", "--strict", "isolate_wasm", cwd=ROOT / "python")
    print(f"isolate-wasm's tests passed on CPython {', '.join(tested)}")
    if args.bench:
        newest = TARGET / "py-test" / tested[-1] / ("Scripts" if os.name == "nt" else "bin") / "python"
        run(newest, ROOT / "python" / "benches" / "bench.py", env=env)


if __name__ == "__main__":
    main()
