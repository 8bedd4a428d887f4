# stdout: subprocess: OSError ENOTSUP
# stdout: multiprocessing.Process: OSError ENOTSUP InterpreterPoolExecutor
# stdout: multiprocessing.Pool: OSError ENOTSUP InterpreterPoolExecutor
# stdout: ThreadPool: RuntimeError ThreadPoolExecutor
# stdout: ProcessPoolExecutor: NotImplementedError InterpreterPoolExecutor
# stdout: users: 0 0 0 0 [0]
# stdout: the owner of /tmp: True
# stdout: still working: 42
# sandbox-only: a process without processes or users
# WASI has no processes: whatever would start one says so, and what to use
# instead, rather than failing on a missing os.pipe. It has no users
# either: the one user is 0, the owner of every file (pytest compares the two
# before it makes a test's tmp_path).
import concurrent.futures
import errno
import multiprocessing
import multiprocessing.pool
import os
import subprocess
import tempfile


def attempt(what, start):
    try:
        start()
    except OSError as exc:
        hint = " InterpreterPoolExecutor" if "InterpreterPoolExecutor" in str(exc) else ""
        print(f"{what}: OSError {errno.errorcode[exc.errno]}{hint}")
    except (RuntimeError, NotImplementedError) as exc:
        hint = next(name for name in ("ThreadPoolExecutor", "InterpreterPoolExecutor") if name in str(exc))
        print(f"{what}: {type(exc).__name__} {hint}")
    else:
        print(what, "started")


attempt("subprocess", lambda: subprocess.run(["true"]))
attempt("multiprocessing.Process", lambda: multiprocessing.Process(target=print).start())
attempt("multiprocessing.Pool", lambda: multiprocessing.Pool(2))
attempt("ThreadPool", lambda: multiprocessing.pool.ThreadPool(2))
attempt("ProcessPoolExecutor", lambda: concurrent.futures.ProcessPoolExecutor(2))

print("users:", os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups())
with tempfile.TemporaryDirectory() as folder:
    print("the owner of /tmp:", os.stat(folder).st_uid == os.getuid())
print("still working:", 6 * 7)
