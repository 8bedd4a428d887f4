# A first script for the sandbox: run it with `cargo run --release -- run examples/hello.py`.
# stdout: Hello from CPython 3.15.0 on wasi, sealed in WebAssembly!
# stdout: {"argv": ["examples/hello.py"], "sum": 45}
import json
import platform
import sys

print(f"Hello from CPython {platform.python_version()} on {sys.platform}, sealed in WebAssembly!")
print(json.dumps({"argv": sys.argv, "sum": sum(range(10))}))
