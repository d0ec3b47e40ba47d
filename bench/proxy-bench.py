#!/usr/bin/env python3
"""The egress proxy against a direct connection, on loopback, in one run.

    proxy-bench.py HTTP_PORT HOST BYTES ROUNDS CONNS

Starts a sink (reads everything, then answers "ok") and an echo server (one
byte back, then close) on 127.0.0.1, and measures
  - throughput: BYTES sent to the sink, directly and through a CONNECT
    tunnel to HOST (a name the proxy resolves to 127.0.0.1), best of ROUNDS;
  - latency: CONNS connections, each connect + one byte there and back +
    close, directly and through CONNECT (connect, CONNECT, 200, byte, byte),
    median and p90.
Prints the numbers and the ratios."""
import socket
import statistics
import sys
import threading
import time

CHUNK = 1 << 20


def serve(listener, handler):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handler, args=(conn,), daemon=True).start()


def sink(conn):
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with conn:
        while True:
            n = conn.recv_into(view)
            if n == 0:
                break
        conn.sendall(b"ok")


def echo(conn):
    with conn:
        b = conn.recv(1)
        if b:
            conn.sendall(b)


def listen(handler):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(512)
    threading.Thread(target=serve, args=(s, handler), daemon=True).start()
    return s.getsockname()[1]


def via_proxy(proxy_port, host, port):
    s = socket.create_connection(("127.0.0.1", proxy_port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(1024)
        if not d:
            raise SystemExit(f"proxy closed the tunnel to {host}:{port}")
        head += d
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit("proxy refused: " + head.decode(errors="replace").splitlines()[0])
    return s


def direct(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def throughput(make, nbytes):
    data = memoryview(bytearray(CHUNK))
    s = make()
    t0 = time.perf_counter()
    left = nbytes
    while left > 0:
        n = min(left, CHUNK)
        s.sendall(data[:n])
        left -= n
    s.shutdown(socket.SHUT_WR)
    if s.recv(2) != b"ok":
        raise SystemExit("the sink did not answer")
    t = time.perf_counter() - t0
    s.close()
    return nbytes / t


def latency(make, conns):
    times = []
    for _ in range(conns):
        t0 = time.perf_counter()
        s = make()
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise SystemExit("the echo server did not answer")
        s.close()
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def main():
    proxy_port, host = int(sys.argv[1]), sys.argv[2]
    nbytes, rounds, conns = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    sink_port, echo_port = listen(sink), listen(echo)

    # Interleaved, so that the machine's noise hits both alike.
    d_bw, p_bw = [], []
    for _ in range(rounds):
        d_bw.append(throughput(lambda: direct(sink_port), nbytes))
        p_bw.append(throughput(lambda: via_proxy(proxy_port, host, sink_port), nbytes))
    latency(lambda: direct(echo_port), 20)  # warm up
    latency(lambda: via_proxy(proxy_port, host, echo_port), 20)
    d_med, d_p90 = latency(lambda: direct(echo_port), conns)
    p_med, p_p90 = latency(lambda: via_proxy(proxy_port, host, echo_port), conns)

    gb = 1e9
    print(f"throughput, {nbytes / 2**20:.0f} MiB, best of {rounds}:")
    print(f"  direct          {max(d_bw) / gb:8.2f} GB/s   (median {statistics.median(d_bw) / gb:.2f})")
    print(f"  CONNECT tunnel  {max(p_bw) / gb:8.2f} GB/s   (median {statistics.median(p_bw) / gb:.2f})")
    print(f"  tunnel / direct {max(p_bw) / max(d_bw):8.2f}x   (goal: over 1 GB/s through the tunnel)")
    print(f"latency per connection, {conns} connections (connect, 1 byte each way, close):")
    print(f"  direct          {d_med * 1e3:8.3f} ms median, {d_p90 * 1e3:.3f} ms p90")
    print(f"  CONNECT tunnel  {p_med * 1e3:8.3f} ms median, {p_p90 * 1e3:.3f} ms p90")
    print(f"  added by proxy  {(p_med - d_med) * 1e3:8.3f} ms median   ({p_med / d_med:.2f}x direct; goal: under 1 ms added)")


main()
