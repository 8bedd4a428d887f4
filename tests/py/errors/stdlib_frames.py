# stdout: JSONDecodeError Expecting value: line 1 column 1 (char 0)
# stdout: every frame has a file and a line number: True
# stdout: the stdlib's frames show their source: False
# sandbox-only: the guest's stdlib is bytecode only (a zip of .pyc), so its frames in a traceback name the file and line but show no source line; the script's own frames do
import json
import traceback

try:
    json.loads("not json")
except json.JSONDecodeError as exc:
    frames = traceback.extract_tb(exc.__traceback__)
    print(type(exc).__name__, exc)
    print("every frame has a file and a line number:", all(frame.filename and frame.lineno for frame in frames))
    print("the stdlib's frames show their source:", any(frame.line for frame in frames if "json" in frame.filename))
