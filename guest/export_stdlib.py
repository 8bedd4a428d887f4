"""Build-time helper: copies out the standard library of the embedded CPython.

componentize-py mounts the stdlib of the interpreter it embeds at `/python`
and the app folder at `/0` (writable) while it runs the app's top level. This
app does its work right there: it copies the stdlib to `/0/stdlib` and
byte-compiles it with the embedded interpreter itself, so the `.pyc` files are
3.14 bytecode whatever python3 the build machine has. Unchecked-hash pycs are
never compared against the sources' mtimes, which the host does not keep.

The component this produces is thrown away; only `/0/stdlib` is kept.
"""

import compileall
import platform
import py_compile
import shutil

import wit_world

# Tests, GUIs and bundled installers: large, and of no use in a sandbox.
SKIPPED = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "__pycache__"}


def _ignore(folder, names):
    return [name for name in names if name in SKIPPED or name.endswith(".pyc")]


shutil.copytree("/python", "/0/stdlib", ignore=_ignore)
# The exact version, for `isolate --version`.
with open("/0/python-version.txt", "w") as out:
    out.write(platform.python_version())
if not compileall.compile_dir(
    "/0/stdlib",
    quiet=1,
    workers=1,
    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
):
    raise SystemExit("byte-compiling the stdlib failed")


class WitWorld(wit_world.WitWorld):
    def init(self, config):
        raise NotImplementedError

    def run(self, source, filename):
        raise NotImplementedError
