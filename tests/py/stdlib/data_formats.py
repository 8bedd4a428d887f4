# stdout: ['name', 'qty']
# stdout: ['apple', '3']
# stdout: Point(x=1, y=2) 3
# stdout: {'tool': {'name': 'isolate', 'fast': True}}
# stdout: aGVsbG8= 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
# stdout: b'\x01\x00\x00\x00\x02\x00'
import base64
import csv
import dataclasses
import hashlib
import io
import struct
import tomllib


for row in csv.reader(io.StringIO("name,qty\napple,3\n")):
    print(row)


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int

    def total(self):
        return self.x + self.y


p = Point(1, 2)
print(p, p.total())
print(tomllib.loads('[tool]\nname = "isolate"\nfast = true\n'))
print(base64.b64encode(b"hello").decode(), hashlib.sha256(b"hello").hexdigest())
print(struct.pack("<ih", 1, 2))
