#!/usr/bin/env python3
"""Helpers of bench/poll.sh: the gateway's waiting queue driven over HTTP on loopback, and the RESP
stream that fills a queue straight through Redis. Standard library only, bounded in time.

  create-event  --port P --admin-key K [--name N]
      POST /admin/events with a queue that admits nobody (maxActive 0); prints the eventId.
  enter         --port P --event E --users users.csv --out pairs.txt [--threads 8] [--deadline 300]
      POST /events/E/queue for every `userId,accessToken` line (keep-alive connections, a few threads);
      writes `accessToken queueToken` lines in the order of users.csv; prints a JSON summary.
      Exits 1 unless every user got 201 WAITING.
  poll          --port P --event E --pairs pairs.txt [--sample 200] [--body-of N]
      GET /events/E/queue for a random sample of the pairs (pair N first when --body-of is given) and
      checks 200 WAITING; prints a JSON summary, with pair N's raw body in base64 when asked.
      Exits 1 unless every answer was 200 WAITING.
  resp-enter    --sha SHA --event E --count N [--seed S]
      Writes to stdout, in Redis's protocol, N `EVALSHA SHA 13 <queue keys> enter E usr_<24 hex>`
      commands (the gateway's keys and arguments for an enter; users are new random ids), for
      `redis-cli --pipe`.
"""
import argparse
import base64
import http.client
import json
import os
import random
import sys

# The HTTP pieces flashsale.py uses too.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gateway_http import HOST, each_user, read_users, request  # noqa: E402


def create_event(args):
    conn = http.client.HTTPConnection(HOST, args.port, timeout=10)
    body = json.dumps({"name": args.name, "kind": "sale",
                       "queue": {"enabled": True, "maxActive": 0, "activeTtlSeconds": 600}})
    status, data = request(conn, "POST", "/admin/events", {"X-Admin-Key": args.admin_key,
                                                           "Content-Type": "application/json"}, body)
    if status != 201:
        sys.exit("POST /admin/events answered %d: %r" % (status, data[:300]))
    print(json.loads(data)["eventId"])


def enter(args):
    users = read_users(args.users)
    results = [None] * len(users)
    path = "/events/%s/queue" % args.event

    def send(conn, user, token):
        return request(conn, "POST", path, {"Authorization": "Bearer " + token})

    def judge(i, user, status, data):
        if status == 201:
            reply = json.loads(data)
            if reply.get("status") == "WAITING":
                results[i] = (users[i][1], reply["queueToken"], reply["position"])
                return True
        return False

    statuses, _, errors, seconds = each_user(args.port, users, args.threads, args.deadline, send, judge)
    ok = [r for r in results if r is not None]
    with open(args.out, "w") as f:
        for token, queue_token, _ in ok:
            f.write("%s %s\n" % (token, queue_token))
    positions = sorted(r[2] for r in ok)
    print(json.dumps({"users": len(users), "waiting": len(ok), "statuses": statuses,
                      "positions_distinct": len(set(positions)),
                      "position_min": positions[0] if positions else None,
                      "position_max": positions[-1] if positions else None,
                      "seconds": round(seconds, 2), "errors": errors[:20]}))
    sys.exit(0 if len(ok) == len(users) and len(set(positions)) == len(users) else 1)


def poll(args):
    pairs = []
    with open(args.pairs) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                pairs.append(parts)
    rng = random.Random(7)
    sample = rng.sample(range(len(pairs)), min(args.sample, len(pairs)))
    if args.body_of is not None:
        sample = [args.body_of] + [i for i in sample if i != args.body_of]
    conn = http.client.HTTPConnection(HOST, args.port, timeout=10)
    path = "/events/%s/queue" % args.event
    statuses, kinds, bad = {}, {}, []
    body = None
    for i in sample:
        token, queue_token = pairs[i]
        status, data = request(conn, "GET", path, {"Authorization": "Bearer " + token, "X-Queue-Token": queue_token})
        statuses[status] = statuses.get(status, 0) + 1
        if i == args.body_of and body is None:
            body = data
        try:
            reply = json.loads(data)
        except ValueError:
            reply = {}
        kinds[reply.get("status", "?")] = kinds.get(reply.get("status", "?"), 0) + 1
        if status != 200 or reply.get("status") != "WAITING":
            if len(bad) < 10:
                bad.append("%d: %d %r" % (i, status, data[:200]))
    out = {"polled": len(sample), "statuses": statuses, "kinds": kinds, "bad": bad}
    if body is not None:
        out["body_b64"] = base64.b64encode(body).decode()
    print(json.dumps(out))
    sys.exit(0 if not bad else 1)


def resp_enter(args):
    tag = "{ev:%s}" % args.event
    # EventKeys.queueScriptKeys, in its order.
    keys = ["%s:queue:conf" % tag, "%s:queue:state" % tag, "%s:queue:wait" % tag, "%s:queue:active" % tag,
            "%s:queue:admitted" % tag, "%s:outbox" % tag, "%s:queue:rate" % tag] + \
           ["%s:queue:seen:%d" % (tag, i) for i in range(6)]
    head = [b"EVALSHA", args.sha.encode(), str(len(keys)).encode()] + [k.encode() for k in keys] + \
           [b"enter", args.event.encode()]
    # Every command is the same but for the last argument, a 28-byte user id.
    prefix = b"*%d\r\n" % (len(head) + 1) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in head) + b"$28\r\nusr_"
    out = sys.stdout.buffer
    rng = random.Random(args.seed) if args.seed is not None else None
    chunk = 10_000
    done = 0
    while done < args.count:
        n = min(chunk, args.count - done)
        raw = (rng.randbytes(12 * n) if rng else os.urandom(12 * n)).hex().encode()
        out.write(b"".join(prefix + raw[24 * i:24 * i + 24] + b"\r\n" for i in range(n)))
        done += n
    out.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("create-event")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--admin-key", required=True)
    p.add_argument("--name", default="Bench")
    p = sub.add_parser("enter")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--deadline", type=float, default=300)
    p = sub.add_parser("poll")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--pairs", required=True)
    p.add_argument("--sample", type=int, default=200)
    p.add_argument("--body-of", type=int)
    p = sub.add_parser("resp-enter")
    p.add_argument("--sha", required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed", type=int)
    args = parser.parse_args()
    {"create-event": create_event, "enter": enter, "poll": poll, "resp-enter": resp_enter}[args.command](args)


if __name__ == "__main__":
    main()
