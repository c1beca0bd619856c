"""Event retention seen by python3-autobahn (Twisted flavour), RawSocket + CBOR on a Unix socket.

  retained.py SOCKET TOPIC   subscribe TOPIC with get_retained and TOPIC without it (a second
                             subscription: a prefix on the same topic), wait a moment, print one JSON
                             line with what each got, exit
"""
import json
import os
import sys

from autobahn.twisted.component import Component, run
from twisted.internet import reactor
from twisted.internet.task import deferLater
from autobahn.wamp.types import SubscribeOptions

path, topic = sys.argv[1], sys.argv[2]
comp = Component(
    transports=[{"type": "rawsocket", "url": "rs://localhost", "endpoint": {"type": "unix", "path": path}, "serializer": "cbor"}],
    realm="app",
    authentication={},
)


def out(obj):
    # straight to fd 1: Twisted's logging replaces sys.stdout
    os.write(1, (json.dumps(obj) + "\n").encode())


@comp.on_join
async def joined(session, details):
    got, plain = [], []

    def on_retained(*args, details=None):
        got.append({"args": list(args), "retained": details.retained, "publication": details.publication})

    def on_plain(*args, details=None):
        plain.append(list(args))

    # without get_retained first: it must get nothing
    await session.subscribe(on_plain, topic, SubscribeOptions(match="prefix", details_arg="details"))
    await session.subscribe(on_retained, topic, SubscribeOptions(get_retained=True, details_arg="details"))
    for _ in range(40):
        if got:
            break
        await deferLater(reactor, 0.05, lambda: None)
    await deferLater(reactor, 0.3, lambda: None)
    out({"authid": details.authid, "retained": got, "plain": plain})
    await session.leave()
    os._exit(0)


if __name__ == "__main__":
    run([comp], log_level=os.environ.get("PYLOG", "warn"))
