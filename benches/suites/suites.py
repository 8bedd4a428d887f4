"""Real test suites, in the sandbox beside a native CPython.

Run by `cargo bench --bench suites` (benches/suites.rs), which passes the
isolate binary it built; by hand:

    python3.13 benches/suites/suites.py --isolate target/release/isolate

It downloads (explicitly, into target/suites/) five popular pure-Python
packages' sdists, which hold their test suites, and the wheels of pytest and
of what the suites import; then, for each package, runs

    isolate run --dir PROJECT:/proj --workdir /proj --path SITE -m pytest -q

with pytest's defaults (`-rfEsxX` only reports why tests failed, skipped
or xfailed),
and the same pytest under this native CPython. It prints one table (tests
passed, failed, skipped; wall time) and every test whose outcome differs,
and keeps both outputs under target/suites/logs/.
"""

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile

# The host's time zone database, which the native run reads.
ZONEINFO = "/usr/share/zoneinfo"

# The suites: (sdist, version, folder of the package's sources inside the
# sdist when it is not the top, host folders the native run reads that the
# sandbox is granted read-only).
PACKAGES = [
    ("more-itertools", "11.2.1", None, []),
    ("attrs", "26.1.0", "src", []),
    ("python-dateutil", "4.0.0", "src", [ZONEINFO]),
    ("toolz", "1.2.0", None, []),
    ("packaging", "26.4", "src", []),
]

# pytest and what the suites import, as pure-Python wheels: the same files
# for both runs.
WHEELS = [
    ("pytest", "9.2.0"),
    ("pluggy", "1.7.0"),
    ("iniconfig", "2.3.1"),
    ("packaging", "26.4"),
    ("pygments", "2.21.0"),
    ("hypothesis", "6.155.7"),
    ("sortedcontainers", "2.4.0"),
    ("attrs", "26.1.0"),
    ("python-dateutil", "4.0.0"),
    ("freezegun", None),
    ("pretend", "1.0.9"),
    ("tomli-w", None),
    ("typing-extensions", None),
    ("tzdata", None),
    ("cloudpickle", None),
    ("pympler", None),
    # python-dateutil's conftest marks tests with pytest-cov's `no_cover`.
    ("pytest-cov", None),
    ("coverage", None),
]

SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected|warnings?)")
OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS)\s+(\S+)(?:\s+-\s+(.*))?$")
# `SKIPPED [count] file:line: reason`: skips are reported by where they are.
SKIP = re.compile(r"^SKIPPED \[\d+\] (\S+?): (.*)$")


def pip(*args):
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True)


def pinned(name, version):
    return f"{name}=={version}" if version else name


def fetch(work):
    """The sdists and wheels, downloaded once into `work`."""
    sdists, wheels = work / "sdists", work / "wheels"
    for folder in (sdists, wheels):
        folder.mkdir(parents=True, exist_ok=True)
    for name, version, _, _ in PACKAGES:
        if not list(sdists.glob(f"{name.replace('-', '_')}-{version}.tar.gz")):
            pip("download", "--no-deps", "--no-binary", ":all:", "-d", str(sdists), pinned(name, version))
    wanted = [pinned(name, version) for name, version in WHEELS]
    marker = wheels / ".fetched"
    if not marker.exists() or marker.read_text() != "\n".join(wanted):
        pip(
            "download", "--no-deps", "--only-binary", ":all:", "--implementation", "py",
            "--python-version", "3.13", "--abi", "none", "--platform", "any", "-d", str(wheels), *wanted,
        )
        marker.write_text("\n".join(wanted))
    site = work / "site"
    if site.exists():
        shutil.rmtree(site)
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    return sdists, site


def unpack(sdist, into):
    """A fresh copy of the project in `sdist` under `into`."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(into, filter="data")
    (project,) = into.iterdir()
    return project


def outcome(output, seconds):
    counts = {}
    lines = output.strip().splitlines()
    for line in reversed(lines):
        if " in " in line and SUMMARY.search(line):
            for number, kind in SUMMARY.findall(line):
                counts[kind.rstrip("s") if kind.startswith(("error", "warning")) else kind] = int(number)
            break
    tests = {}
    for line in lines:
        found = OUTCOME.match(line)
        if found:
            tests[found[2]] = (found[1], found[3] or "")
        skipped = SKIP.match(line)
        if skipped:
            tests[skipped[1]] = ("SKIPPED", skipped[2])
    return {"counts": counts, "tests": tests, "seconds": seconds}


def run(command, cwd, env, log):
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log.write_text(f"$ {' '.join(map(str, command))}\n(exit {done.returncode})\n{done.stdout}\n{done.stderr}")
    return outcome(done.stdout, seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--isolate", required=True, help="the isolate binary")
    parser.add_argument("--work", default="target/suites", help="where downloads and copies go")
    parser.add_argument("--only", action="append", help="run only this package (repeatable)")
    args = parser.parse_args()
    work = pathlib.Path(args.work).resolve()
    isolate = str(pathlib.Path(args.isolate).resolve())
    sdists, site = fetch(work)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    report = "-rfEsxX"
    rows, differences = [], []
    for name, version, sources, host_folders in PACKAGES:
        if args.only and name not in args.only:
            continue
        (sdist,) = sdists.glob(f"{name.replace('-', '_')}-{version}.tar.gz")
        native_project = unpack(sdist, work / "native" / name)
        sandbox_project = unpack(sdist, work / "sandbox" / name)

        path = [str(native_project / sources)] if sources else []
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([*path, str(site)]))
        env.pop("PYTHONSTARTUP", None)
        native = run(
            [sys.executable, "-m", "pytest", "-q", report], native_project, env, logs / f"{name}-native.txt"
        )

        grants = ["--path", str(sandbox_project / sources)] if sources else []
        for folder in host_folders:
            if os.path.isdir(folder):
                grants += ["--dir", f"{folder}:{folder}:ro"]
        command = [
            isolate, "run", "--dir", f"{sandbox_project}:/proj", "--workdir", "/proj", *grants,
            "--path", str(site), "-m", "pytest", "-q", report,
        ]
        sandbox = run(command, sandbox_project, dict(os.environ), logs / f"{name}-sandbox.txt")
        rows.append((f"{name} {version}", native, sandbox))
        for test in sorted(set(native["tests"]) | set(sandbox["tests"])):
            here, there = native["tests"].get(test, ("PASSED", "")), sandbox["tests"].get(test, ("PASSED", ""))
            if here[0] != there[0]:
                differences.append((name, test, here, there))

    def counts(result):
        c = result["counts"]
        extra = "".join(f", {c[k]} {k}" for k in ("error", "xfailed", "xpassed") if c.get(k))
        return f"{c.get('passed', 0)} passed, {c.get('failed', 0)} failed, {c.get('skipped', 0)} skipped{extra}"

    print(f"\n{'package':<24} {'native CPython ' + sys.version.split()[0]:<48} {'isolate':<48} {'wall time, native / isolate'}")
    for package, native, sandbox in rows:
        ratio = sandbox["seconds"] / native["seconds"]
        times = f"{native['seconds']:.1f} s / {sandbox['seconds']:.1f} s ({ratio:.2f}x)"
        print(f"{package:<24} {counts(native):<48} {counts(sandbox):<48} {times}")
    if differences:
        print("\nTests whose outcome differs (native -> isolate):")
        for name, test, here, there in differences:
            why = there[1] or here[1]
            print(f"  {name}: {test}: {here[0]} -> {there[0]}{': ' + why[:160] if why else ''}")
    print(f"\nOutputs: {logs}")


if __name__ == "__main__":
    main()
