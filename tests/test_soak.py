"""Under load: 8 clients ask through the HTTP API (a real `python -m qa serve` process on loopback) while syncs
add and remove a document 20 times. Every question is answered from a complete generation, and the server's open
files and memory stay bounded. The figures are printed (`pytest -s tests/test_soak.py` shows them)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from qa import Embedder, Settings, sync
from tests.conftest import REPO, SEED_QUESTION

CLIENTS, SYNCS = 8, 20
SUSPECT = "Kataeb Sayyid al-Shuhada is the key suspect"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_usage(pid: int) -> tuple[int, float]:
    """(open file descriptors, resident MB) of a process."""
    rss = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS"))
    return len(os.listdir(f"/proc/{pid}/fd")), int(rss.split()[1]) / 1024


def test_eight_readers_answer_through_twenty_syncs(fresh_settings: Settings, embedder: Embedder) -> None:
    sync(fresh_settings, embedder)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "qa", "serve", "--index", str(fresh_settings.index_dir), "--corpus",
         str(fresh_settings.corpus_dir), "--port", str(port)],
        cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/ask?" + urllib.parse.urlencode({"q": SEED_QUESTION, "k": 3})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url, timeout=30):
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the API server did not start"
                time.sleep(0.3)
        warm_files, warm_mb = server_usage(server.pid)
        answered, failures, peaks = [0], [], [(warm_files, warm_mb)]
        done = threading.Event()
        guard = threading.Lock()

        def client() -> None:
            while not done.is_set():
                try:
                    with urllib.request.urlopen(url, timeout=60) as response:
                        body = json.loads(response.read())
                    ok = SUSPECT in body["answer"] and len(body["hits"]) == 3
                    problem = "" if ok else f"incomplete answer: {body['answer'][:80]!r}, {len(body['hits'])} hits"
                except OSError as error:
                    problem = f"request failed: {error}"
                with guard:
                    answered[0] += not problem
                    if problem:
                        failures.append(problem)

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        extra = fresh_settings.corpus_dir / "mosul.txt"
        for number in range(SYNCS):
            if number % 2 == 0:
                extra.write_text(f"Crews in Mosul rebuilt the al-Nuri mosque after the war (report {number}).")
            else:
                extra.unlink()
            sync(fresh_settings, embedder)
            wait_until = time.monotonic() + 60  # let each generation serve a round of questions before the next
            while answered[0] + len(failures) < (number + 1) * CLIENTS and time.monotonic() < wait_until:
                time.sleep(0.05)
            peaks.append(server_usage(server.pid))
        done.set()
        for thread in threads:
            thread.join(timeout=120)
        files, mb = server_usage(server.pid)
        peaks.append((files, mb))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"\nsoak: {answered[0]} questions answered, {len(failures)} failed, through {SYNCS} syncs with {CLIENTS} "
          f"clients; server open files {warm_files} warm -> {max(p[0] for p in peaks)} peak -> {files} at the end; "
          f"resident memory {warm_mb:.0f} MB warm -> {max(p[1] for p in peaks[: SYNCS // 2 + 1]):.0f} MB peak in the "
          f"first {SYNCS // 2} syncs -> {max(p[1] for p in peaks):.0f} MB peak in all -> {mb:.0f} MB at the end")
    assert not failures, failures[:5]
    assert answered[0] >= SYNCS * CLIENTS
    assert files <= warm_files + 16, "the server keeps files of old generations open"
    first, second = max(p[1] for p in peaks[: SYNCS // 2 + 1]), max(p[1] for p in peaks[SYNCS // 2 + 1:])
    assert second < first + 100, (f"the server's memory keeps growing: {first:.0f} MB after {SYNCS // 2} syncs, "
                                  f"{second:.0f} MB after {SYNCS}")
