"""A backend component the way Bulwark apps connect: python3-autobahn, RawSocket + CBOR on a Unix socket.

  component.py callee SOCKET   register procedures, subscribe, print READY, serve until killed
  component.py caller SOCKET   call, cancel (killnowait), time out; print one JSON line of results, exit
"""
import json
import os
import sys

# Twisted flavour: Debian's 22.7.1 asyncio RawSocket client lacks transport_details and its
# asyncio run() needs asyncio.coroutine (gone in Python 3.11)
from autobahn.twisted.component import Component, run
from twisted.internet import reactor
from twisted.internet.defer import CancelledError
from twisted.internet.task import deferLater
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, PublishOptions, RegisterOptions, SubscribeOptions

mode, path = sys.argv[1], sys.argv[2]
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
    if mode == "callee":
        async def add(a, b):
            return a + b

        async def progress(n, details=None):
            for i in range(n):
                if details.progress:
                    details.progress(i)
            return "done"

        async def slow(details=None):
            try:
                await deferLater(reactor, 10, lambda: None)
                return "finished"
            except CancelledError:
                session.publish("com.example.py.interrupted", "interrupted")
                raise

        async def whoami(details=None):
            return {"caller": details.caller, "caller_authid": details.caller_authid}

        def on_event(msg, details=None):
            session.publish("com.example.py.echoed", msg, details.publisher, details.publisher_authid,
                            options=PublishOptions(exclude_me=True))

        await session.register(add, "com.example.py.add")
        await session.register(progress, "com.example.py.progress", RegisterOptions(details_arg="details"))
        await session.register(slow, "com.example.py.slow", RegisterOptions(details_arg="details"))
        await session.register(whoami, "com.example.py.whoami", RegisterOptions(details_arg="details"))
        await session.subscribe(on_event, "com.example.py.", SubscribeOptions(match="prefix", details_arg="details"))
        out({"ready": True, "session": details.session, "authid": details.authid, "authrole": details.authrole})
    else:
        res = {"authid": details.authid}
        res["add"] = await session.call("com.example.py.add", 2, 3)
        # cancel (default mode killnowait): INTERRUPT to the callee, ERROR canceled to us at once.
        # Twisted fails the Deferred locally on cancel(); the callee's interruption proves the router's part.
        interrupted = []
        await session.subscribe(lambda *a: interrupted.append(a), "com.example.py.interrupted")
        fut = session.call("com.example.py.slow")
        await deferLater(reactor, 0.2, lambda: None)
        fut.cancel()
        try:
            await fut
            res["cancel"] = "completed"
        except ApplicationError as e:
            res["cancel"] = e.error
        except CancelledError:
            res["cancel"] = "cancelled-locally"
        for _ in range(50):
            if interrupted:
                break
            await deferLater(reactor, 0.05, lambda: None)
        res["interrupted"] = len(interrupted)
        try:
            await session.call("com.example.py.slow", options=CallOptions(timeout=200))
            res["timeout"] = "completed"
        except ApplicationError as e:
            res["timeout"] = e.error
        # the session is still fine after both
        res["after"] = await session.call("com.example.py.add", 1, 1)
        out(res)
        await session.leave()
        os._exit(0)


if __name__ == "__main__":
    run([comp], log_level=os.environ.get("PYLOG", "warn"))
