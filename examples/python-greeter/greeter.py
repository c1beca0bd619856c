"""A Bulwark component in Python: Debian's python3-autobahn (asyncio) over RawSocket-CBOR on the one
Unix socket the app container gets.

Bulwark mounts the component's socket directory at /run/wamp and says where the socket is and which
realm to join in the environment (BULWARK_WAMP_SOCKET, BULWARK_WAMP_REALM). The router gives the
session its identity from the socket it came in on: authid = the app's name (`bulwark app add NAME`),
authrole = the role given there. The component needs no credentials and no network.
"""
import asyncio
import os
import platform
import signal

import txaio

txaio.use_asyncio()

from autobahn.asyncio import rawsocket  # noqa: E402
from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402

# autobahn 22.7.1 (Debian 12): the asyncio RawSocket client lacks the transport_details attribute the
# session reads on WELCOME; without it every join fails.
if not hasattr(rawsocket.WampRawSocketClientProtocol, "transport_details"):
    rawsocket.WampRawSocketClientProtocol.transport_details = None

SOCKET = os.environ.get("BULWARK_WAMP_SOCKET", "/run/wamp/router.sock")
REALM = os.environ.get("BULWARK_WAMP_REALM", "realm1")

component = Component(
    transports=[
        {
            "type": "rawsocket",
            "url": "rs://localhost",
            "endpoint": {"type": "unix", "path": SOCKET},
            "serializer": "cbor",
            # Reconnect forever: a router restart costs one re-registration, nothing else.
            "max_retries": -1,
            "initial_retry_delay": 0.2,
            "max_retry_delay": 1.0,
            "retry_delay_growth": 1.5,
        }
    ],
    realm=REALM,
)


@component.on_join
async def joined(session, details):
    # com.example.NAME.hello, NAME being the identity this component's socket gave it.
    prefix = f"com.example.{details.authid}"

    def hello(name="world"):
        return f"Hello, {name}! (from {details.authid}, Python {platform.python_version()})"

    def add(*args):
        if len(args) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in args):
            raise ApplicationError("com.example.error.invalid_argument", "add takes two numbers")
        return args[0] + args[1]

    await session.register(hello, f"{prefix}.hello")
    await session.register(add, f"{prefix}.add")
    print(f"greeter: registered {prefix}.hello and {prefix}.add on {REALM} as {details.authid}/{details.authrole}", flush=True)


async def main():
    # autobahn's own run() helper uses asyncio.coroutine, which Python 3.11 no longer has.
    loop = asyncio.get_running_loop()
    txaio.config.loop = loop
    txaio.start_logging(level="warn")
    # As PID 1 of its container the process gets no default SIGTERM action: stop cleanly on it.
    stopped = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stopped.done() or stopped.set_result(None))
    running = asyncio.ensure_future(component.start(loop=loop))
    await asyncio.wait([running, stopped], return_when=asyncio.FIRST_COMPLETED)
    print("greeter: stopping", flush=True)


if __name__ == "__main__":
    print(f"greeter: connecting to {SOCKET}", flush=True)
    asyncio.run(main())
