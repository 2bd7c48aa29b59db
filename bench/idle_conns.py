#!/usr/bin/env python3
"""Hold many idle keep-alive HTTP connections open against one server (bench/http.sh's idle test).

Opens --count TCP connections to 127.0.0.1:--port, sends one `GET --path` on each, reads the whole
response (so the server has done real work on every connection), and keeps every socket open. Then:

  1. writes a JSON line to --ready-file: {"opened", "failed", "errors", "seconds"};
  2. waits until --release-file exists (bench/http.sh creates it after reading the server's memory), or
     until --deadline seconds after start, whichever comes first;
  3. prints {"opened", "still_open", ...} on stdout (connections the server had not closed by then), closes
     everything and exits 0 (1 if nothing could be opened).

Loopback only, standard library only, bounded in time.
"""
import argparse
import asyncio
import json
import os
import resource
import sys
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/health")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200, help="connections being opened at once")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per connect / response")
    parser.add_argument("--deadline", type=float, default=180.0, help="seconds before giving up entirely")
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--release-file", required=True)
    return parser.parse_args()


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = hard if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


async def read_response(reader, timeout):
    """Reads one HTTP/1.1 response with a Content-Length body; returns the status code."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await asyncio.wait_for(reader.readexactly(length), timeout)
    return status


async def open_one(args, gate, request, held, errors):
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", args.port), args.timeout)
        except (OSError, asyncio.TimeoutError) as error:
            errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
            return
        try:
            writer.write(request)
            await writer.drain()
            status = await read_response(reader, args.timeout)
            if status != 200:
                raise ValueError(f"status {status}")
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
            key = str(error) if isinstance(error, ValueError) else type(error).__name__
            errors[key] = errors.get(key, 0) + 1
            writer.close()
            return
        held.append((reader, writer))


async def main():
    args = parse_args()
    started = time.monotonic()
    limit = raise_fd_limit(args.count + 100)
    if limit < args.count + 100:
        print(f"warning: open-files limit {limit} is below {args.count + 100}", file=sys.stderr)

    request = f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n\r\n".encode()
    gate = asyncio.Semaphore(args.concurrency)
    held, errors = [], {}
    tasks = [asyncio.create_task(open_one(args, gate, request, held, errors)) for _ in range(args.count)]
    remaining = max(1.0, args.deadline - (time.monotonic() - started))
    done, pending = await asyncio.wait(tasks, timeout=remaining)
    for task in pending:
        task.cancel()
    if pending:
        errors["deadline"] = len(pending)

    ready = {
        "opened": len(held),
        "failed": args.count - len(held),
        "errors": errors,
        "seconds": round(time.monotonic() - started, 2),
    }
    with open(args.ready_file + ".tmp", "w") as file:
        json.dump(ready, file)
    os.replace(args.ready_file + ".tmp", args.ready_file)  # appears whole, never half-written

    while not os.path.exists(args.release_file) and time.monotonic() - started < args.deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0)  # let any pending EOFs be delivered
    still_open = sum(1 for reader, writer in held if not reader.at_eof() and not writer.is_closing())

    for _, writer in held:
        writer.close()
    print(json.dumps({**ready, "still_open": still_open}))
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
