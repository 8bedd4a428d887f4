# stdout: /srv/data/report.csv .csv report
# stdout: a/b/c
# stdout: ['x', 'y z']
# stdout: 2026-11-22T10:30:00+00:00 Sunday
# stdout: - one
# stdout: + uno
# stdout: 3 [('b', 2), ('a', 1)]
import collections
import datetime
import difflib
import pathlib
import re
import shlex

path = pathlib.PurePosixPath("/srv/data") / "report.csv"
print(path, path.suffix, path.stem)
print(re.sub(r"\s*/\s*", "/", "a / b/ c"))
print(shlex.split("x 'y z'"))
moment = datetime.datetime(2026, 11, 22, 10, 30, tzinfo=datetime.timezone.utc)
print(moment.isoformat(), moment.strftime("%A"))
for line in difflib.ndiff(["one"], ["uno"]):
    if line[0] in "+-":
        print(line)
counts = collections.Counter("abb")
print(sum(counts.values()), counts.most_common())
