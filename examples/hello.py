# A first script for the sandbox: run it with `cargo run --release -- run examples/hello.py`.
import json
import platform
import sys

print(f"Hello from CPython {platform.python_version()} on {sys.platform}, sealed in WebAssembly!")
print(json.dumps({"argv": sys.argv, "sum": sum(range(10))}))
