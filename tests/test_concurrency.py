"""The local stack stays exact under concurrent clients (moto alone is not safe under concurrent writes)."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from test_serve import FIREFOX, start_serve, stop, wait_for

CLIENTS = 20
REQUESTS_PER_CLIENT = 15


def test_twenty_concurrent_clients_add_up_exactly():
    process, url = start_serve()
    try:
        now = time.time()

        def client(n: int) -> int:
            session = requests.Session()
            sent = 0
            for i in range(REQUESTS_PER_CLIENT):
                events = [{"event_type": "page_view" if j == 0 else "click", "session_id": f"c{n}-{i}",
                           "timestamp": now - 60 + i + j * 0.5, "page_url": f"https://shop.example.com/p{j}"}
                          for j in range(1 + (i % 3))]
                response = session.post(f"{url}/api/events", data=json.dumps({"events": events}),
                                        headers={"User-Agent": FIREFOX, "Content-Type": "text/plain"}, timeout=30)
                assert response.status_code == 200, response.text
                assert response.json()["data"]["accepted"] == len(events)
                sent += len(events)
            return sent

        with ThreadPoolExecutor(CLIENTS) as pool:
            total = sum(pool.map(client, range(CLIENTS)))

        def totals():
            data = requests.get(f"{url}/api/stats?period=1h", timeout=30).json()["data"]["totals"]
            return data if data["events"] >= total else None

        got = wait_for(totals, timeout=60)
        assert got is not None, "the rollups never caught up"
        assert got["events"] == total
        assert got["sessions"] == CLIENTS * REQUESTS_PER_CLIENT
        assert got["page_views"] == CLIENTS * REQUESTS_PER_CLIENT
        time.sleep(1.5)  # nothing is counted twice once the stream is drained
        assert requests.get(f"{url}/api/stats?period=1h", timeout=30).json()["data"]["totals"]["events"] == total
    finally:
        stop(process)
