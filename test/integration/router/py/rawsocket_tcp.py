"""python3-autobahn (Twisted) as a client over RawSocket-CBOR on TCP, built from autobahn.twisted.rawsocket.

  rawsocket_tcp.py testament HOST PORT   join, leave a testament (com.example.t.gone), print READY, wait to be killed
  rawsocket_tcp.py idle HOST PORT        join, register com.example.py.alive, print READY, serve until killed
  rawsocket_tcp.py rejoin HOST PORT      join, leave, join again on the same connection, print both session IDs, exit

Each line on stdout is one JSON object.
"""
import json
import os
import sys

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint
from autobahn.twisted.rawsocket import WampRawSocketClientFactory
from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.serializer import CBORSerializer
from autobahn.wamp.types import ComponentConfig

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
joins = []


def out(obj):
    # straight to fd 1: Twisted's logging may replace sys.stdout
    os.write(1, (json.dumps(obj) + "\n").encode())


class Client(ApplicationSession):
    @inlineCallbacks
    def onJoin(self, details):
        joins.append(details.session)
        if mode == "testament":
            pub = yield self.call("wamp.session.add_testament", "com.example.t.gone", ["py-gone", details.session], {"why": "killed"})
            out({"ready": True, "session": details.session, "testament": pub})
        elif mode == "idle":
            def alive():
                return {"alive": True, "session": details.session}

            yield self.register(alive, "com.example.py.alive")
            out({"ready": True, "session": details.session})
        elif len(joins) == 1:
            self.leave()
        else:
            # the second session on the same transport works
            count = yield self.call("wamp.session.count")
            out({"joins": joins, "count": count})
            self.leave()

    def onLeave(self, details):
        if mode == "rejoin" and len(joins) == 1:
            self.join(self.config.realm)  # same transport, new session
        else:
            self.disconnect()

    def onDisconnect(self):
        out({"disconnected": True})
        if reactor.running:
            reactor.stop()


factory = WampRawSocketClientFactory(lambda: Client(ComponentConfig(realm="app")), serializer=CBORSerializer())
TCP4ClientEndpoint(reactor, host, port).connect(factory).addErrback(lambda f: (out({"error": str(f.value)}), reactor.stop()))
reactor.run()
