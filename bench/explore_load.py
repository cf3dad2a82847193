"""The latent explorer under load and abuse: concurrent /render clients, then fuzzed requests.

    python bench/explore_load.py                      # the shipped maxout_cgan/fashion_mnist
    python bench/explore_load.py --export_dir=export/maxout_cgan --clients=32 --requests=200 --fuzz=10000

Starts `python -m gan_zoo explore` as its own process (so its RSS is its own), then:
1. load: --clients threads, each sending --requests POST /render of random noise and label
   over one keep-alive connection; every answer must be a 200 PNG. Prints p50 / p99 latency,
   requests per second and the errors.
2. fuzz: --fuzz raw requests (random paths, query strings, methods, headers, bodies: huge,
   negative, NaN, wrong counts, unicode, deep nesting, lying Content-Lengths, oversized
   headers), each on a fresh socket; each must get a 4xx (or a 200 for a valid GET) or be
   closed within --answer_within seconds. Then clients that send half a request and stall,
   which must be closed by the server's timeout. The server's RSS before and after.
The fuzz cases are also what tests/test_explore.py sends (fewer of them).
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- one raw request ---------------------------------------------------------------------------
def send_raw(address, data, timeout=10.0, half_close=True):
    """Send `data` on a fresh connection; (HTTP status or "closed" or "timeout", seconds)."""
    start = time.perf_counter()
    reply = b""
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            try:  # the server may answer (414, 431, 413) and close before all of it is sent
                sock.sendall(data)
                if half_close:
                    sock.shutdown(socket.SHUT_WR)  # a lying Content-Length meets the end of input
            except OSError:
                pass
            while b"\r\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except socket.timeout:
        return "timeout", time.perf_counter() - start
    except ConnectionResetError:
        pass  # read what came before the reset
    elapsed = time.perf_counter() - start
    words = reply.split(b"\r\n", 1)[0].split()
    if len(words) >= 2 and words[0].startswith(b"HTTP/") and words[1].isdigit():
        return int(words[1]), elapsed
    return "closed", elapsed


def acceptable(outcome, valid_get):
    """A fuzzed request may get a 4xx or be closed; a 200 only if it was a valid GET."""
    return outcome == "closed" or (isinstance(outcome, int) and (400 <= outcome < 500 or
                                                                 (outcome == 200 and valid_get)))


# --- fuzzed requests ---------------------------------------------------------------------------
def _junk_text(rng, n):
    alphabet = "abc/._-%?&=#~ \t\\'\"<>{}[]ñ€漢😀\u0000\u202e"
    return "".join(rng.choice(alphabet) for _ in range(n))


def _bad_value(rng, as_noise=False):
    """A value no noise entry (|v| <= 10, a number) and no label (an int in range) may take."""
    choices = [float("nan"), float("inf"), -1e308, 1e308, 2**63, -(2**63), "7", None, True, [],
               {}, "ñ😀", [1, [2]], 10.000001, -10.000001]
    return rng.choice(choices if as_noise else choices + [-1, 3.5])


def _bad_body(rng, noise_dim, num_classes):
    kind = rng.randrange(9)
    noise = [rng.gauss(0, 1) for _ in range(noise_dim)]
    if kind == 0:  # wrong count
        noise = noise[:rng.randrange(noise_dim)] if rng.random() < 0.5 else noise * rng.randint(2, 50)
        return json.dumps({"noise": noise, "label": 0})
    if kind == 1:  # a bad value somewhere in the noise
        noise[rng.randrange(noise_dim)] = _bad_value(rng, as_noise=True)
        return json.dumps({"noise": noise, "label": 0})
    if kind == 2:  # a bad label
        return json.dumps({"noise": noise, "label": _bad_value(rng) if rng.random() < 0.7
                           else rng.choice([num_classes, -1, 10**9])})
    if kind == 3:  # unknown fields, unicode keys
        return json.dumps({"noise": noise, "label": 0, _junk_text(rng, 5): _junk_text(rng, 5)})
    if kind == 4:  # deep nesting
        depth = rng.choice([100, 5000, 20000])
        return "[" * depth + "]" * depth
    if kind == 5:  # not JSON, or not an object
        return rng.choice(["", "{", "null", "[]", "\"noise\"", "{\"noise\": NaN}", "{'a': 1}",
                           _junk_text(rng, rng.randrange(1, 200))])
    if kind == 6:  # invalid UTF-8
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 7:  # huge numbers as text
        return "{\"noise\": [" + ",".join(["1e999999"] * noise_dim) + "], \"label\": 0}"
    return json.dumps({"noise": noise})  # label missing


def fuzz_case(rng, noise_dim=100, num_classes=10):
    """(raw request bytes, whether it is a valid GET that may be answered 200)."""
    kind = rng.randrange(8)
    if kind == 0:  # random path, maybe with a query string
        path = "/" + _junk_text(rng, rng.randrange(0, 60))
        words = f"GET {path} HTTP/1.1".encode("utf-8", "surrogatepass").decode("iso-8859-1").split()
        target = "/" + words[1].lstrip("/") if words[1].startswith("//") else words[1]  # as http.server
        routed = target.split("?", 1)[0].split("#", 1)[0]  # junk can still name a page: "/?x"
        valid = len(words) == 3 and routed in ("/", "/info")  # as the server splits the line
        return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode("utf-8", "surrogatepass"), valid
    if kind == 1:  # real pages with query strings: valid
        path = rng.choice(["/", "/info"]) + "?" + "&".join(
            f"{_junk_text(rng, 3)}={_junk_text(rng, 3)}" for _ in range(rng.randrange(1, 5)))
        path = path.replace(" ", "%20").replace("\t", "%09").replace("#", "%23")
        return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), True
    if kind == 2:  # methods
        method = rng.choice(["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "FOO",
                             "get", "G\x01T", "POST\x00"])
        return f"{method} /render HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode(), False
    if kind == 3:  # oversized header line, or too many headers
        if rng.random() < 0.5:
            headers = f"X-Big: {'a' * rng.choice([70000, 200000])}\r\n"
        else:
            headers = "".join(f"X-{i}: {i}\r\n" for i in range(rng.choice([150, 1000])))
        return f"GET /info HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode(), False
    if kind == 4:  # lying or bad Content-Length
        body = json.dumps({"noise": [0.0] * noise_dim, "label": 1}).encode()
        length = rng.choice([str(len(body) + rng.randint(1, 5000)), "-5", "abc", "", "1e3",
                             str(10**12), str(len(body) // 2)])
        return b"POST /render HTTP/1.1\r\nHost: x\r\nContent-Length: " + length.encode() + b"\r\n\r\n" + body, False
    if kind == 5:  # a request line that is too long, or garbage
        return rng.choice([b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
                           bytes(rng.randrange(256) for _ in range(rng.randrange(1, 500))) + b"\r\n\r\n",
                           b"\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"POST /render HTTP/1.1\r\n"]), False
    body = _bad_body(rng, noise_dim, num_classes)  # 6, 7: bad bodies for /render and /translate
    body = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    path = "/render" if kind == 6 else rng.choice(["/render", "/translate"])
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body, False


def fuzz(address, count, seed=0, answer_within=5.0, **shape):
    """Send `count` fuzz cases; ({outcome: n}, [the unacceptable ones], slowest seconds)."""
    rng = random.Random(seed)
    outcomes, bad, slowest = {}, [], 0.0
    for _ in range(count):
        data, valid_get = fuzz_case(rng, **shape)
        outcome, seconds = send_raw(address, data, timeout=answer_within)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        slowest = max(slowest, seconds)
        if not acceptable(outcome, valid_get):
            bad.append((outcome, data[:120]))
    return outcomes, bad, slowest


def stalled_clients(address, count, half=b"POST /render HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"noi"):
    """Open `count` connections that send half a request and wait; returns the sockets."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(address, timeout=60)
        sock.sendall(half)
        socks.append(sock)
    return socks


def closed_within(sock, seconds):
    """Whether the server closes (or answers) `sock` within `seconds`."""
    sock.settimeout(seconds)
    try:
        sock.recv(4096)
        return True
    except socket.timeout:
        return False
    except OSError:
        return True


# --- load ------------------------------------------------------------------------------------
def load(address, clients, requests, noise_dim=100, num_classes=10):
    """(latencies in seconds, errors, wall seconds) of `clients` threads x `requests` renders."""
    import http.client
    latencies, errors = [], []

    def client(i):
        rng = np.random.default_rng(i)
        connection = http.client.HTTPConnection(*address, timeout=60)
        for _ in range(requests):
            body = json.dumps({"noise": rng.normal(size=noise_dim).clip(-5, 5).tolist(),
                               "label": int(rng.integers(num_classes))})
            start = time.perf_counter()
            try:
                connection.request("POST", "/render", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                data = response.read()
                if response.status != 200 or not data.startswith(b"\x89PNG"):
                    errors.append(response.status)
            except Exception as e:  # a dropped connection is an error to report, not to hide
                errors.append(type(e).__name__)
                connection = http.client.HTTPConnection(*address, timeout=60)
            latencies.append(time.perf_counter() - start)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - start


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export_dir", default="")
    parser.add_argument("--pretrained", default="maxout_cgan/fashion_mnist")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--fuzz", type=int, default=10000)
    parser.add_argument("--stalled", type=int, default=20)
    parser.add_argument("--answer_within", type=float, default=5.0)
    args = parser.parse_args()
    which = [f"--export_dir={args.export_dir}"] if args.export_dir else [f"--pretrained={args.pretrained}"]
    server = subprocess.Popen([sys.executable, "-m", "gan_zoo.serving.explore", *which, "--port=0"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2"))
    try:
        line = server.stdout.readline()
        host, port = line.split("http://")[1].split("/")[0].split(":")
        address = (host, int(port))
        with open("/proc/cpuinfo") as fh:
            flags = sorted({f for f in fh.read().split() if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")})
        print(f"machine: {os.cpu_count()} cores, ISA {' '.join(flags)}; server RSS at start "
              f"{rss_mib(server.pid):.0f} MiB")
        load(address, 2, 5)  # warm-up
        before = rss_mib(server.pid)
        latencies, errors, wall = load(address, args.clients, args.requests)
        ms = np.percentile(latencies, [50, 99]) * 1000
        print(f"load: {args.clients} clients x {args.requests} POST /render: {len(latencies)} "
              f"answered, {len(errors)} errors {sorted(set(map(str, errors)))[:5]}, p50 {ms[0]:.1f} ms, "
              f"p99 {ms[1]:.1f} ms, {len(latencies) / wall:.0f} requests/s; RSS {before:.0f} -> "
              f"{rss_mib(server.pid):.0f} MiB")
        before = rss_mib(server.pid)
        start = time.perf_counter()
        outcomes, bad, slowest = fuzz(address, args.fuzz, answer_within=args.answer_within)
        print(f"fuzz: {args.fuzz} requests in {time.perf_counter() - start:.0f} s: "
              f"{dict(sorted(outcomes.items(), key=str))}; {len(bad)} not a 4xx or a close "
              f"{bad[:3]}; slowest answer {slowest:.2f} s; RSS {before:.0f} -> {rss_mib(server.pid):.0f} MiB")
        socks = stalled_clients(address, args.stalled)
        start = time.perf_counter()
        closed = sum(closed_within(s, 30) for s in socks)
        print(f"stalled: {args.stalled} clients sending half a request: {closed} closed by the "
              f"server within {time.perf_counter() - start:.1f} s")
        alive = load(address, 1, 3)[1] == [] and server.poll() is None
        print(f"server still up and rendering after all of it: {alive}; RSS {rss_mib(server.pid):.0f} MiB")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
