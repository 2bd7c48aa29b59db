#!/usr/bin/env python3
"""Helpers of bench/flashsale.sh: the gateway's admin API and wallets driven over HTTP on loopback, a
stock sampler and the invariant checks read straight from Redis (a tiny RESP client). Standard library
only, every step bounded in time.

  create-sale   --port P --admin-key K --price N --stock N [--decoy-stock N] [--name S]
      POST /admin/events {kind sale, no queue}, then POST /admin/products for the sale's product and a
      decoy product of the same event (stock 0 by default: every order of it is a 409); prints
      `eventId productId decoyId`.
  charge        --port P --users users.csv --amount N [--threads 8] [--deadline 300]
      POST /wallet/charge {amount} once for every `userId,accessToken` line (keep-alive connections,
      a few threads); prints a JSON summary. Exits 1 unless every answer was 200 with balance = amount.
  sample-stock  --redis-port P --key K --seconds S [--interval-ms 5] --out FILE
      HGET K stock every interval on one connection, for S seconds (or until SIGTERM); writes
      `<unix time> <stock>` to FILE each time the value changes (the first sample too), flushed at once.
  redis-check   --redis-port P --event E --product P
      Reads what one sale left in Redis: the product's stock, every order of the event by status, its
      unpaid holds, the payments for the event's orders by state, and the open (unsettled) payments of
      everybody; prints one JSON object.
  wallets       --redis-port P --users users.csv
      The sum, lowest and highest balance of the users' wallets, as JSON.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import sys
import time

# The HTTP pieces queue.py uses too.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gateway_http import HOST, each_user, read_users, request  # noqa: E402


# --- HTTP ---------------------------------------------------------------------------------------------

def admin_post(conn, key, path, obj):
    status, data = request(conn, "POST", path, {"X-Admin-Key": key, "Content-Type": "application/json"},
                           json.dumps(obj))
    if status != 201:
        sys.exit("POST %s answered %d: %r" % (path, status, data[:300]))
    return json.loads(data)


def create_sale(args):
    conn = http.client.HTTPConnection(HOST, args.port, timeout=10)
    event = admin_post(conn, args.admin_key, "/admin/events", {"name": args.name, "kind": "sale"})
    event_id = event["eventId"]
    product = admin_post(conn, args.admin_key, "/admin/products",
                         {"name": args.name + " item", "price": args.price, "stock": args.stock, "eventId": event_id})
    if product.get("stock") != args.stock or product.get("price") != args.price:
        sys.exit("POST /admin/products answered %r" % product)
    decoy = admin_post(conn, args.admin_key, "/admin/products",
                       {"name": args.name + " decoy", "price": args.price, "stock": args.decoy_stock, "eventId": event_id})
    print(event_id, product["productId"], decoy["productId"])


def charge(args):
    users = read_users(args.users)
    body = json.dumps({"amount": args.amount})

    def send(conn, user, token):
        return request(conn, "POST", "/wallet/charge",
                       {"Authorization": "Bearer " + token, "Content-Type": "application/json"}, body)

    def judge(i, user, status, data):
        if status == 200:
            try:
                reply = json.loads(data)
                return reply.get("userId") == user and reply.get("balance") == args.amount
            except ValueError:
                pass
        return False

    statuses, charged, errors, seconds = each_user(args.port, users, args.threads, args.deadline, send, judge)
    print(json.dumps({"users": len(users), "charged": charged, "statuses": statuses,
                      "seconds": round(seconds, 2), "errors": errors[:20]}))
    sys.exit(0 if charged == len(users) else 1)


# --- RESP ---------------------------------------------------------------------------------------------

class Redis:
    def __init__(self, port, host=HOST):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise IOError("redis closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else self._exact(int(rest)).decode()
        if kind == b"*":
            return None if int(rest) < 0 else [self._reply() for _ in range(int(rest))]
        raise IOError("bad reply %r" % line)

    def pipeline(self, commands):
        out = []
        for cmd in commands:
            out.append(b"*%d\r\n" % len(cmd))
            for a in cmd:
                a = str(a).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return [self._reply() for _ in commands]

    def command(self, *cmd):
        reply = self.pipeline([cmd])[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def scan(self, pattern):
        cursor = "0"
        while True:
            cursor, keys = self.command("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            for k in keys:
                yield k
            if cursor == "0":
                return


def user_tag(user):
    # UserKeys (Sources/Gateway/Identity/UserKeys.swift): FNV-1a over the id's bytes, 16 shards.
    h = 2166136261
    for byte in user.encode():
        h = ((h ^ byte) * 16777619) & 0xffffffff
    return "{u%02d}" % (h % 16)


def sample_stock(args):
    r = Redis(args.redis_port)
    stop = [False]

    def on_term(signum, frame):
        stop[0] = True
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    end = time.time() + args.seconds
    last = object()
    interval = args.interval_ms / 1000.0
    with open(args.out, "w") as out:
        while not stop[0] and time.time() < end:
            value = r.command("HGET", args.key, "stock")
            now = time.time()
            if value != last:
                out.write("%.6f %s\n" % (now, value if value is not None else "nil"))
                out.flush()
                last = value
            time.sleep(interval)


def redis_check(args):
    r = Redis(args.redis_port)
    tag = "{ev:%s}" % args.event
    out = {}
    product = r.command("HGETALL", "%s:product:%s" % (tag, args.product))
    product = dict(zip(product[0::2], product[1::2]))
    out["stock"] = int(product["stock"]) if "stock" in product else None
    out["price"] = int(product["price"]) if "price" in product else None

    # Every order of the event, by status and by product; the paid amount in total.
    keys = [k for k in r.scan(tag + ":order:*")]
    statuses, units, paid_total, paid_users = {}, 0, 0, {}
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        for key, fields in zip(chunk, r.pipeline([["HMGET", k, "status", "record", "user"] for k in chunk])):
            status, record, user = fields
            statuses[status] = statuses.get(status, 0) + 1
            if status == "PAID" and record:
                rec = json.loads(record)
                paid_total += rec.get("totalAmount", 0)
                paid_users[user] = paid_users.get(user, 0) + 1
                for item in rec.get("items", []):
                    if item.get("productId") == args.product:
                        units += item.get("quantity", 0)
    out["orders"] = len(keys)
    out["orders_by_status"] = statuses
    out["paid_units_of_product"] = units
    out["paid_total"] = paid_total
    out["paid_buyers"] = len(paid_users)
    out["max_orders_per_buyer"] = max(paid_users.values()) if paid_users else 0
    out["holds"] = r.command("ZCARD", tag + ":holds")

    # The payments for this event's orders (under the payers' shard tags), and everybody's open ones.
    shards = ["{u%02d}" % i for i in range(16)]
    out["open_payments"] = sum(r.pipeline([["ZCARD", s + ":payments:open"] for s in shards]))
    payment_states, payment_sum = {}, 0
    for s in shards:
        pkeys = list(r.scan(s + ":payment:pay_ord_*"))
        for i in range(0, len(pkeys), 500):
            chunk = pkeys[i:i + 500]
            for state, amount, event in r.pipeline([["HMGET", k, "state", "amount", "eventId"] for k in chunk]):
                if event != args.event:
                    continue
                payment_states[state] = payment_states.get(state, 0) + 1
                if state in ("DEBITED", "CONFIRMED"):
                    payment_sum += int(amount or 0)
    out["payments_by_state"] = payment_states
    out["debited_sum"] = payment_sum
    print(json.dumps(out, sort_keys=True))


def wallets(args):
    r = Redis(args.redis_port)
    users = [u for u, _ in read_users(args.users)]
    balances = []
    for i in range(0, len(users), 1000):
        chunk = users[i:i + 1000]
        for v in r.pipeline([["GET", "%s:wallet:%s" % (user_tag(u), u)] for u in chunk]):
            balances.append(int(v or 0))
    print(json.dumps({"sum": sum(balances), "min": min(balances) if balances else None,
                      "max": max(balances) if balances else None, "wallets": len(balances)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("create-sale")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--admin-key", required=True)
    p.add_argument("--name", default="Bench flash sale")
    p.add_argument("--price", type=int, required=True)
    p.add_argument("--stock", type=int, required=True)
    p.add_argument("--decoy-stock", type=int, default=0)
    p = sub.add_parser("charge")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--amount", type=int, required=True)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--deadline", type=float, default=300)
    p = sub.add_parser("sample-stock")
    p.add_argument("--redis-port", type=int, required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--interval-ms", type=float, default=5)
    p.add_argument("--out", required=True)
    p = sub.add_parser("redis-check")
    p.add_argument("--redis-port", type=int, required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--product", required=True)
    p = sub.add_parser("wallets")
    p.add_argument("--redis-port", type=int, required=True)
    p.add_argument("--users", required=True)
    args = parser.parse_args()
    {"create-sale": create_sale, "charge": charge, "sample-stock": sample_stock,
     "redis-check": redis_check, "wallets": wallets}[args.command](args)


if __name__ == "__main__":
    main()
