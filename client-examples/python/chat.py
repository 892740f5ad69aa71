"""Two users chat on /ws with python-socketio: alice opens a conversation with bob and
sends a message; bob receives it and acks it (by returning from the handler), and alice
gets the delivery receipt. Exits 0 on success, 1 on failure or timeout, 2 on bad settings.

    SWITCHYARD_URL=http://localhost:3000 ALICE_TOKEN=... BOB_TOKEN=... python chat.py
"""

import base64
import json
import os
import sys
import threading
import uuid

import socketio

URL = os.environ.get("SWITCHYARD_URL", "http://localhost:3000").rstrip("/")
WAIT_S = float(os.environ.get("SWITCHYARD_WAIT_MS", "5000")) / 1000
TOTAL_S = float(os.environ.get("SWITCHYARD_EXAMPLE_TIMEOUT_MS", "20000")) / 1000
NS = "/ws"
_print_lock = threading.Lock()
# "websocket", "polling", or both (the default: long-polling first, then the upgrade).
TRANSPORTS = os.environ.get("SWITCHYARD_TRANSPORTS", "polling,websocket").split(",")


def say(line):
    """Prints one whole line: handlers run on other threads, and lines must not interleave."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def env(name):
    value = os.environ.get(name)
    if not value:
        print(f"{name} is not set; see client-examples/README.md for how to mint tokens", file=sys.stderr)
        sys.exit(2)
    return value


def subject_of(token):
    """The token's `sub`, read without verifying it (the server verifies tokens)."""
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))["sub"]


def request(client, event, payload):
    """Emits with an ack and returns it; raises unless it is {ok: true, ...}."""
    ack = client.call(event, payload, namespace=NS, timeout=WAIT_S)
    if not isinstance(ack, dict) or not ack.get("ok"):
        raise RuntimeError(f"{event} failed: {ack}")
    return ack


def main():
    alice_token, bob_token = env("ALICE_TOKEN"), env("BOB_TOKEN")
    alice_id, bob_id = subject_of(alice_token), subject_of(bob_token)

    received = threading.Event()
    delivered = threading.Event()
    got = {}

    bob = socketio.Client(reconnection=False)

    # What a handler returns is sent as the ack: it tells the sender "delivered".
    @bob.on("message:new", namespace=NS)
    def on_message_new(data):
        message = data["message"]
        say(f"{bob_id} received: {message['senderId']}: {message['content']}")
        got["message"] = message
        received.set()
        return {}

    alice = socketio.Client(reconnection=False)

    # Room events carry one more argument, the offset of connection-state recovery
    # (socket.io 4.6+ clients resume from it; python-socketio hands it over): `*_`.
    @alice.on("message:delivered", namespace=NS)
    def on_delivered(receipt, *_):
        got["receipt"] = receipt
        delivered.set()

    clients = [alice, bob]
    for name, client in (("alice", alice), ("bob", bob)):
        # A refused connection says why: invalid_token, token_expired, ... (PROTOCOL.md §1).
        client.on("connect_error", lambda data, name=name: print(
            f"{name}: connect_error on {NS}: {data.get('message') if isinstance(data, dict) else data}",
            file=sys.stderr, flush=True), namespace=NS)
    try:
        for client, token in ((alice, alice_token), (bob, bob_token)):
            client.connect(URL, namespaces=[NS], auth={"token": token}, transports=TRANSPORTS, wait_timeout=WAIT_S)
        say(f"connected: {alice_id} and {bob_id} ({alice.transport()})")

        conversation = request(alice, "conversation:create", {"participantIds": [bob_id]})["conversation"]
        say(f"conversation {conversation['id']} with {', '.join(conversation['participantIds'])}")

        sent = request(alice, "message:send", {
            "conversationId": conversation["id"],
            "clientMsgId": str(uuid.uuid4()),
            "content": "hello from python",
        })["message"]
        say(f"{alice_id} sent seq {sent['seq']}")

        if not received.wait(WAIT_S):
            raise RuntimeError("bob did not receive message:new")
        if got["message"]["id"] != sent["id"]:
            raise RuntimeError(f"bob received {got['message']['id']}, alice sent {sent['id']}")
        if not delivered.wait(WAIT_S):
            raise RuntimeError("alice got no message:delivered")
        receipt = got["receipt"]
        say(f"{alice_id} sees: delivered to {receipt['userId']} (seq {receipt['seq']})")
    finally:
        for client in clients:
            client.disconnect()
    say("OK")


if __name__ == "__main__":
    # The whole run is bounded: a hung connection or wait ends the process non-zero.
    watchdog = threading.Timer(TOTAL_S, lambda: (print(f"FAILED: not done within {TOTAL_S:g} s", file=sys.stderr, flush=True), os._exit(1)))
    watchdog.daemon = True
    watchdog.start()
    try:
        main()
    except Exception as err:  # noqa: BLE001 - an example reports any failure the same way
        print(f"FAILED: {err}", file=sys.stderr, flush=True)
        os._exit(1)
    watchdog.cancel()
    sys.exit(0)
