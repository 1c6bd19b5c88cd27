"""bench/list/http_client.py: a peer of bench/list.lua. Lists every definition with Python's
standard library, following `next`, and json.loads each page, into one list. urllib.request
closes the connection after every request, so this uses http.client with one kept-alive
connection.

    /usr/bin/python3 bench/list/http_client.py FIRST_PAGE_URL   -> prints "<seconds> <definitions>"
"""
import http.client
import json
import sys
import time
from urllib.parse import urlsplit


def main(url):
    headers = {"Authorization": "Bearer phx_bench", "Accept": "application/json"}
    first = urlsplit(url)
    definitions = []
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(first.hostname, first.port)
    while url:
        parts = urlsplit(url)
        assert parts.netloc == first.netloc, "next link on another host: " + url
        conn.request("GET", parts.path + "?" + parts.query, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, "GET %s: %d" % (url, resp.status)
        page = json.loads(body)
        definitions.extend(page["results"])
        url = page["next"]
    elapsed = time.perf_counter() - t0
    conn.close()
    print("%.6f %d" % (elapsed, len(definitions)))


if __name__ == "__main__":
    main(sys.argv[1])
