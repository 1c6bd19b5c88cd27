"""bench/batch/python_pool.py: the Python peer of bench/batch.lua. Sends N updates (PATCH, JSON
body, JSON answer decoded) with urllib.request from a thread pool of CONCURRENCY workers
(urllib opens a connection per request).

    /usr/bin/python3 bench/batch/python_pool.py BASE N CONCURRENCY   -> prints "<seconds> <ok>"
"""
import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def update(base, i):
    uid = "0190c6a2-8f4e-7000-9c1d-%012d" % i
    body = json.dumps({"description": "bench %d" % i}).encode()
    req = urllib.request.Request(
        "%s/api/projects/1/event_definitions/%s/" % (base, uid), data=body, method="PATCH",
        headers={"Authorization": "Bearer phx_bench", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as res:
        return res.status == 200 and json.loads(res.read())["id"] == uid


def main(base, n, concurrency):
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        ok = sum(pool.map(lambda i: update(base, i), range(1, n + 1)))
    print("%.6f %d" % (time.perf_counter() - t0, ok))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
