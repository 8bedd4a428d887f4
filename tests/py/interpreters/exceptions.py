# sandbox-only: the interpreters module
# stdout: RunFailedError RuntimeError True
# stdout: ChannelNotFoundError ChannelError True
# stdout: ChannelEmptyError ChannelError True
# stdout: ChannelNotEmptyError ChannelError True
# stdout: NotReceivedError ChannelError True
# stdout: ChannelClosedError ChannelError True
# stdout: ChannelReleasedError ChannelClosedError True
# stdout: ChannelError Exception True
import interpreters as i

for name, base in [
    ("RunFailedError", RuntimeError),
    ("ChannelNotFoundError", i.ChannelError),
    ("ChannelEmptyError", i.ChannelError),
    ("ChannelNotEmptyError", i.ChannelError),
    ("NotReceivedError", i.ChannelError),
    ("ChannelClosedError", i.ChannelError),
    ("ChannelReleasedError", i.ChannelClosedError),
    ("ChannelError", Exception),
]:
    print(name, base.__name__, issubclass(getattr(i, name), base))
