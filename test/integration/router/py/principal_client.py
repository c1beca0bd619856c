"""A python3-autobahn (Twisted) WebSocket client that authenticates and reports how its session ends.

  principal_client.py URL AUTHMETHOD AUTHID SECRET [once]
      AUTHMETHOD ticket or wampcra; prints {"joined": SESSION_ID} once in, then {"left": REASON} when the
      session ends (or {"closed": true} if the connection goes first), and exits. "once": leaves right
      after joining.
"""
import json
import os
import sys

from autobahn.twisted.component import Component, run

url, method, authid, secret = sys.argv[1:5]
once = len(sys.argv) > 5 and sys.argv[5] == "once"
auth = {"ticket": {"authid": authid, "ticket": secret}} if method == "ticket" else {"wampcra": {"authid": authid, "secret": secret}}
comp = Component(
    transports=[{"type": "websocket", "url": url, "serializers": ["json"], "max_retries": 0}],
    realm="app",
    authentication=auth,
)


def out(obj):
    os.write(1, (json.dumps(obj) + "\n").encode())


@comp.on_join
def joined(session, details):
    out({"joined": details.session})
    if once:
        session.leave()


@comp.on_leave
def left(session, details):
    out({"left": details.reason})
    os._exit(0)


@comp.on_disconnect
def gone(session, was_clean=None):
    out({"closed": True})
    os._exit(0)


if __name__ == "__main__":
    run([comp], log_level="error")
