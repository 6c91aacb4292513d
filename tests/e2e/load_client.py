"""A load client for the serving tests, run as its own process: it sends predictions over
CONNECTIONS connections until the file STOP exists, and writes one JSON line per request to
OUT: the connection, the status (``null`` when no response came), the version and role
that answered, and the error.

``--fresh`` opens a new connection for every request (``Connection: close``), so each
request is one connection the server accepts; otherwise each connection is kept alive and
reused (so one connection's requests reach one worker).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from typing import Any

import httpx

ROW = {"x": 0.3, "n": 2, "c": "a", "t": "red"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("stop")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    lock = threading.Lock()
    with open(args.out, "w", encoding="utf-8") as out:

        def write(line: dict[str, Any]) -> None:
            with lock:
                out.write(json.dumps(line) + "\n")
                out.flush()

        def run(conn: int) -> None:
            limits = httpx.Limits(
                max_connections=1, max_keepalive_connections=0 if args.fresh else 1
            )
            headers = {"Connection": "close"} if args.fresh else {}
            with httpx.Client(limits=limits, timeout=60, headers=headers) as client:
                while not os.path.exists(args.stop):
                    try:
                        r = client.post(args.url, json={"rows": [ROW, ROW]})
                        body = r.json() if r.status_code == 200 else {}
                        ok = r.status_code != 200 or len(body.get("predictions", [])) == 2
                        write({"conn": conn, "status": r.status_code if ok else -1,
                               "version": body.get("version"), "role": body.get("role"),
                               "error": None if ok else r.text[:200]})  # fmt: skip
                    except httpx.HTTPError as exc:
                        write({"conn": conn, "status": None, "version": None, "role": None,
                               "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip

        threads = [threading.Thread(target=run, args=(i,)) for i in range(args.connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


if __name__ == "__main__":
    main()
