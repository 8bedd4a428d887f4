# stdout: JSONDecodeError Expecting value: line 1 column 1 (char 0) True
import json
import traceback

try:
    json.loads("not json")
except json.JSONDecodeError as exc:
    frames = traceback.extract_tb(exc.__traceback__)
    print(type(exc).__name__, exc, all(frame.line for frame in frames))
