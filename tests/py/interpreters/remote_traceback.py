# sandbox-only: the interpreters module
# stdout: RunFailedError: RuntimeError: wrapped
# stdout: RemoteException RuntimeError 'wrapped' 1
# stdout: Traceback (most recent call last):
# stdout:   File "<string>", line 2, in <module>
# stdout:     {}['k']
# stdout:     ~~^^^^^
# stdout: KeyError: 'k'
# stdout: 
# stdout: The above exception was the direct cause of the following exception:
# stdout: 
# stdout: Traceback (most recent call last):
# stdout:   File "<string>", line 4, in <module>
# stdout:     raise RuntimeError('wrapped') from e
# stdout: RuntimeError: wrapped
import interpreters

try:
    interpreters.create().run("try:\n    {}['k']\nexcept KeyError as e:\n    raise RuntimeError('wrapped') from e")
except interpreters.RunFailedError as exc:
    remote = exc.__cause__
    print(f"{type(exc).__name__}: {exc}")
    print(type(remote).__name__, remote.type_name, repr(remote.message), remote.interpreter_id)
    print(remote.traceback, end="")
