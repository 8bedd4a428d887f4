# stdout: ok
# Every commonly used pure-Python stdlib module imports in the sandbox.
import importlib

MODULES = """
abc argparse ast asyncio base64 bisect calendar cmath codecs collections
colorsys compileall concurrent.futures configparser contextlib copy csv
dataclasses datetime decimal difflib dis email email.mime.text enum
fnmatch fractions functools getopt gettext glob graphlib gzip hashlib heapq
hmac html html.parser http.client importlib.resources inspect io ipaddress
itertools json keyword linecache locale logging math mimetypes
numbers operator optparse pathlib pickle pkgutil platform pprint
queue quopri random re reprlib sched secrets shlex shutil sqlite3
statistics string stringprep struct tabnanny tarfile tempfile textwrap
threading time timeit tokenize tomllib trace traceback types typing
unicodedata unittest urllib.parse uuid warnings weakref wsgiref xml.dom.minidom
xml.etree.ElementTree zipfile zlib zoneinfo
""".split()

failed = []
for name in MODULES:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\n".join(failed) or "ok")
