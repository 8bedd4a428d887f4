# stdout: {"b": [1, 2.5, null, true], "a": "\u00e9"}
# stdout: {'b': [1, 2.5, None, True], 'a': 'é'}
import json

text = json.dumps({"b": [1, 2.5, None, True], "a": "é"})
print(text)
print(json.loads(text))
