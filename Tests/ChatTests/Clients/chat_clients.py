#!/usr/bin/env python3
"""Independent WebSocket clients for the Chat example, on Python's `websockets` library.

Each scenario drives a running `chat` server (or two sharing a PostgreSQL database) the way
browsers would, checks what every client received, prints one JSON line of figures and exits
0, or prints what went wrong and exits 1. ChatTests runs them; you can too:

    python3 chat_clients.py load --url http://127.0.0.1:8787
    python3 chat_clients.py hibernation --url http://127.0.0.1:8787
    python3 chat_clients.py close-codes --url http://127.0.0.1:8787 --max-message-bytes 65536
    python3 chat_clients.py shared --url http://127.0.0.1:8787 --url http://127.0.0.1:8788
"""

import argparse
import asyncio
import json
import random
import sys
import time
import urllib.error
import urllib.request

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def http_get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def stats(base):
    status, body = http_get(base + "/_stats")
    check(status == 200, f"GET /_stats answered {status}")
    return json.loads(body)


class Member:
    """One chat member: a socket, and every event it received, in order."""

    def __init__(self, base, room, name):
        self.url = base.replace("http://", "ws://", 1) + f"/rooms/{room}/websocket?name={name}"
        self.base, self.room, self.name = base, room, name
        self.events, self.pongs, self.history = [], 0, None
        self.changed = asyncio.Event()
        self.socket, self.reader = None, None

    async def join(self):
        self.socket = await connect(self.url, max_size=None, ping_interval=None, open_timeout=300, close_timeout=10)
        first = json.loads(await self.socket.recv())
        check(first["type"] == "history", f"{self.name}: the first event is {first['type']}, not history")
        self.history = first["messages"]
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        try:
            async for frame in self.socket:
                if frame == "pong":
                    self.pongs += 1
                else:
                    self.events.append(json.loads(frame))
                self.changed.set()
        except ConnectionClosed:
            pass
        self.changed.set()

    def messages(self):
        return [e["message"] for e in self.events if e["type"] == "message"]

    def sees_present(self, count):
        return any(e["type"] == "join" and len(e["present"]) == count for e in self.events)

    async def send(self, text):
        await self.socket.send(json.dumps({"text": text}))

    async def wait_for(self, predicate, what, timeout=600):
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            check(remaining > 0, f"{self.name}: timed out waiting for {what}")
            self.changed.clear()
            if predicate():
                break
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def leave(self, code=1000, reason=""):
        await self.socket.close(code, reason)
        await self.reader


async def join_all(members, concurrency=100):
    gate = asyncio.Semaphore(concurrency)

    async def one(member):
        async with gate:
            await member.join()

    await asyncio.gather(*(one(m) for m in members))


def check_room_delivery(members, expected):
    """Every member received each expected (name, text) exactly once, numbered consecutively, in
    one order the whole room agrees on, each sender's messages in the order it sent them."""
    reference = None
    for member in members:
        got = member.messages()
        pairs = [(m["name"], m["text"]) for m in got]
        check(len(pairs) == len(set(pairs)), f"{member.name} received a message twice")
        check(set(pairs) == set(expected), f"{member.name} received {len(set(pairs))} distinct messages, expected {len(expected)}")
        seqs = [m["seq"] for m in got]
        check(seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{member.name}: sequence numbers not consecutive and increasing")
        if reference is None:
            reference = pairs
        check(pairs == reference, f"{member.name} saw the room's messages in another order than {members[0].name}")
    by_sender = {}
    for name, text in reference:
        by_sender.setdefault(name, []).append(int(text.rsplit(" ", 1)[1]))
    for name, numbers in by_sender.items():
        check(numbers == sorted(numbers), f"{name}'s messages were delivered out of the order it sent them")


async def load(args):
    """`rooms` rooms of `per_room` members each; every member sends `messages` messages."""
    rooms = [f"load-{random.randrange(1 << 30):x}-{r}" for r in range(args.rooms)]
    members = {room: [Member(args.url[0], room, f"m{i}") for i in range(args.per_room)] for room in rooms}
    everyone = [m for room in rooms for m in members[room]]
    started = time.monotonic()
    await join_all(everyone)
    joined = time.monotonic()
    for member in everyone:
        await member.wait_for(lambda m=member: m.sees_present(args.per_room), "everyone's join")
    total = args.per_room * args.messages

    async def talk(member):
        for n in range(args.messages):
            await member.send(f"{member.name} says {n}")
            await asyncio.sleep(random.random() * 0.01)

    await asyncio.gather(*(talk(m) for m in everyone))
    for member in everyone:
        await member.wait_for(lambda m=member: len(m.messages()) >= total, f"{total} messages")
    delivered = time.monotonic()
    await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive now
    for room in rooms:
        expected = [(m.name, f"{m.name} says {n}") for m in members[room] for n in range(args.messages)]
        check_room_delivery(members[room], expected)
    await asyncio.gather(*(m.leave() for m in everyone))
    return {
        "sockets": len(everyone),
        "rooms": len(rooms),
        "messages": total * len(rooms),
        "deliveries": total * len(everyone),
        "join_s": round(joined - started, 2),
        "deliver_s": round(delivered - joined, 2),
    }


async def wait_stats(base, predicate, what, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        current = stats(base)
        if predicate(current):
            return current
        check(time.monotonic() < deadline, f"timed out waiting for {what}; stats {current}")
        await asyncio.sleep(0.1)


async def hibernation(args):
    """100 sockets open while their room is evicted; the next message wakes it, its sockets'
    attachments (the members' names) intact; a ping is answered without waking it."""
    base, room = args.url[0], f"hib-{random.randrange(1 << 30):x}"
    baseline = await wait_stats(base, lambda s: s["liveRooms"] == 0 and s["openSockets"] == 0, "an idle server")
    members = [Member(base, room, f"h{i}") for i in range(args.sockets)]
    await join_all(members)
    await members[0].send("before 0")
    for member in members:
        await member.wait_for(lambda m=member: len(m.messages()) == 1, "the first message")
    asleep = await wait_stats(
        base, lambda s: s["liveRooms"] == 0 and s["openSockets"] == len(members), "the room to hibernate with its sockets open")
    check(all(m.socket.close_code is None for m in members), "a socket closed while its room hibernated")
    # A ping is answered by the runtime: the room stays asleep.
    await members[3].socket.send("ping")
    await members[3].wait_for(lambda: members[3].pongs == 1, "pong")
    after_ping = stats(base)
    check(after_ping["roomsConstructed"] == asleep["roomsConstructed"] and after_ping["liveRooms"] == 0, f"the ping woke the room: {after_ping}")
    # A message wakes it: built again, the sender's name read from its socket's attachment.
    sender = members[len(members) // 2]
    await sender.send("after 1")
    for member in members:
        await member.wait_for(lambda m=member: len(m.messages()) == 2, "the message after hibernation")
    for member in members:
        first, second = member.messages()
        check(second["name"] == sender.name, f"{member.name} saw the message from {second['name']}, not {sender.name}: attachment lost")
        check(second["seq"] == first["seq"] + 1, "the message after hibernation is not numbered after the one before")
    awake = stats(base)
    check(awake["roomsConstructed"] == asleep["roomsConstructed"] + 1, f"expected one rebuild, stats {asleep} -> {awake}")
    # A member joining later gets both messages from storage.
    late = Member(base, room, "late")
    await late.join()
    check([m["text"] for m in late.history] == ["before 0", "after 1"], f"history replayed {late.history}")
    await asyncio.gather(*(m.leave() for m in members + [late]))
    return {"sockets": len(members), "constructed_before": asleep["roomsConstructed"] - baseline["roomsConstructed"], "rebuilt": 1}


async def close_codes(args):
    """The codes each side sees when a client closes, sends too much, or breaks the rules."""
    base, room = args.url[0], f"codes-{random.randrange(1 << 30):x}"
    results = {}
    a, b, c = Member(base, room, "a"), Member(base, room, "b"), Member(base, room, "c")
    await join_all([a, b, c])
    # A client's close code is echoed by the server; the others see it leave.
    await c.leave(4000, "bye")
    check(c.socket.protocol.close_rcvd is not None and c.socket.protocol.close_rcvd.code == 4000, f"the server answered close 4000 with {c.socket.protocol.close_rcvd}")
    await a.wait_for(lambda: any(e["type"] == "leave" and e["name"] == "c" for e in a.events), "c's leave")
    results["client_close"] = 4000
    # A message over the limit closes that socket with 1009, and only that one.
    await b.socket.send("x" * (args.max_message_bytes + 1))
    await b.reader
    check(b.socket.protocol.close_rcvd is not None and b.socket.protocol.close_rcvd.code == 1009, f"an oversized message was closed with {b.socket.protocol.close_rcvd}")
    results["oversized"] = 1009
    await a.wait_for(lambda: any(e["type"] == "leave" and e["name"] == "b" for e in a.events), "b's leave")
    await a.send("still here 0")
    await a.wait_for(lambda: len(a.messages()) == 1, "a's own message")
    # A text longer than the room accepts is refused with an error event; the socket stays open.
    await a.send("y" * 4001)
    await a.wait_for(lambda: any(e["type"] == "error" for e in a.events), "an error event")
    check(a.socket.close_code is None, "a long text closed the socket")
    # Not JSON: an error event, the socket stays open.
    await a.socket.send("not json")
    await a.wait_for(lambda: sum(e["type"] == "error" for e in a.events) == 2, "a second error event")
    results["app_errors"] = 2
    await a.leave()
    results["normal"] = a.socket.protocol.close_rcvd.code
    check(results["normal"] == 1000, f"a normal close was answered with {results['normal']}")
    # Refused upgrades: a bad name (400), no upgrade (426), a malformed upgrade (400).
    try:
        await connect(base.replace("http://", "ws://") + f"/rooms/{room}/websocket?name=bad%20name", open_timeout=30)
        raise Failure("a bad name was accepted")
    except InvalidStatus as error:
        check(error.response.status_code == 400, f"a bad name was refused with {error.response.status_code}")
    status, _ = http_get(base + f"/rooms/{room}/websocket?name=plain")
    check(status == 426, f"a plain GET of the socket path answered {status}")
    status, _ = http_get(base + f"/rooms/{room}/websocket?name=x", {"Connection": "Upgrade", "Upgrade": "websocket"})
    check(status == 400, f"an upgrade without Sec-WebSocket-Key answered {status}")
    results["refused"] = [400, 426, 400]
    # Past the sockets-per-room limit: 503.
    if args.max_sockets:
        crowd = [Member(base, room + "-full", f"p{i}") for i in range(args.max_sockets)]
        await join_all(crowd)
        try:
            await connect(base.replace("http://", "ws://") + f"/rooms/{room}-full/websocket?name=extra", open_timeout=30)
            raise Failure("a socket past the limit was accepted")
        except InvalidStatus as error:
            check(error.response.status_code == 503, f"a socket past the limit was refused with {error.response.status_code}")
        await asyncio.gather(*(m.leave() for m in crowd))
        results["too_many"] = 503
    return results


async def shared(args):
    """Members connected to two processes share one room: every message reaches every member of
    both, exactly once and in one order."""
    check(len(args.url) == 2, "shared needs two --url")
    room = f"shared-{random.randrange(1 << 30):x}"
    members = [Member(args.url[i % 2], room, f"s{i}") for i in range(args.per_room)]
    # The first member makes one process the room's owner; the other process proxies to it.
    await members[0].join()
    await join_all(members[1:])
    for member in members:
        await member.wait_for(lambda m=member: m.sees_present(len(members)), "everyone's join")
    # The owner holds every socket of the room; the other process holds none, it proxies.
    open_sockets = [stats(url)["openSockets"] for url in args.url]
    check(open_sockets[0] == len(members) and open_sockets[1] == 0,
          f"open sockets per process {open_sockets}: the owner should hold all {len(members)}")
    proxied = sum(1 for m in members if m.base == args.url[1])

    async def talk(member):
        for n in range(args.messages):
            await member.send(f"{member.name} says {n}")

    await asyncio.gather(*(talk(m) for m in members))
    total = len(members) * args.messages
    for member in members:
        await member.wait_for(lambda m=member: len(m.messages()) >= total, f"{total} messages")
    await asyncio.sleep(0.5)
    check_room_delivery(members, [(m.name, f"{m.name} says {n}") for m in members for n in range(args.messages)])
    await asyncio.gather(*(m.leave() for m in members))
    return {"sockets": len(members), "processes": 2, "proxied": proxied, "messages": total, "deliveries": total * len(members)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=["load", "hibernation", "close-codes", "shared"])
    parser.add_argument("--url", action="append", required=True, help="a chat server (twice for shared)")
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--per-room", type=int, default=100)
    parser.add_argument("--messages", type=int, default=5, help="messages each member sends")
    parser.add_argument("--sockets", type=int, default=100, help="hibernation: sockets in the room")
    parser.add_argument("--max-message-bytes", type=int, default=1 << 20)
    parser.add_argument("--max-sockets", type=int, default=0, help="close-codes: the server's sockets-per-room limit")
    args = parser.parse_args()
    scenario = {"load": load, "hibernation": hibernation, "close-codes": close_codes, "shared": shared}[args.scenario]
    try:
        figures = asyncio.run(scenario(args))
    except Failure as failure:
        print(f"FAILED {args.scenario}: {failure}")
        sys.exit(1)
    print(json.dumps({"scenario": args.scenario, **figures}))


if __name__ == "__main__":
    main()
