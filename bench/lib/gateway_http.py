"""HTTP to the gateway on loopback, shared by the bench helpers (bench/poll/queue.py,
bench/flashsale/flashsale.py): one request on a keep-alive connection, the users of a users.csv, and one
request per user spread over a few keep-alive connections. Standard library only.
"""
import http.client
import threading
import time

HOST = "127.0.0.1"


def request(conn, method, path, headers, body=None):
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def read_users(path):
    """The (userId, accessToken) pairs of a users.csv (`floodgate seed users`), in its order."""
    users = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                user, token = line.split(",", 1)
                users.append((user, token))
    return users


def each_user(port, users, threads, deadline, send, judge):
    """send(conn, user, token) -> (status, body) once for every user, on THREADS keep-alive connections
    (user i on connection i % THREADS), for DEADLINE seconds at most; judge(i, user, status, body) says
    whether the answer is the one wanted (it may keep what it needs of it).

    Returns (statuses: count by HTTP status, good: answers judged right, errors: every connection error,
    the first 20 wrong answers and "deadline reached", seconds taken). A connection error is retried on a
    new connection with the next user, not with the same one.
    """
    statuses = {}
    errors = []
    good = [0]
    lock = threading.Lock()
    stop_at = time.time() + deadline

    def work(start):
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        for i in range(start, len(users), threads):
            if time.time() > stop_at:
                with lock:
                    errors.append("deadline reached")
                return
            user, token = users[i]
            try:
                status, data = send(conn, user, token)
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
                with lock:
                    errors.append("%s: %r" % (user, error))
                continue
            ok = judge(i, user, status, data)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if ok:
                    good[0] += 1
                elif len(errors) < 20:
                    errors.append("%s: %d %r" % (user, status, data[:200]))
        conn.close()

    started = time.time()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return statuses, good[0], errors, time.time() - started
