# stdout: héllo wörld — ☃ 🐍
# stdout: 1 4 2
# stdout: ΣΊΣΥΦΟΣ
# stdout: utf-8 utf-8
import sys

print("héllo wörld — ☃ 🐍")
print(len("🐍"), len("🐍".encode()), len("é".encode()))
print("σίσυφος".upper())
print(sys.stdout.encoding, sys.getfilesystemencoding())
