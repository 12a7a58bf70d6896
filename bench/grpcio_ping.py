"""Reference Ping client on gRPC's C core (Python grpcio), the yardstick for our client's noise floor (P3).

Sends inference.v1.InferenceService/Ping probes on the same schedule as `rtinfer ping` (one probe every
--interval-ms; a probe is never sent before its scheduled time; with RTT < interval they run one at a time),
times each call with time.perf_counter_ns() right around the blocking call, and prints one JSON object with
the RTT percentiles (nearest rank, as our HDR histogram reports them) and the raw RTTs on request.

Nothing is generated: the request is encoded by hand (test/helpers/proto_wire.py) from the field numbers in
proto/inference/v1/inference.proto, so the request bytes equal what our client sends for the same payload
(seq, payload, response_bytes, client_send_unix_nanos), and grpcio's generic unary_unary carries them.

Usage: grpcio_ping.py TARGET [--count N] [--interval-ms MS] [--payload-bytes B] [--response-bytes B]
                             [--warmup N] [--raw]
Needs Debian's python3-grpcio (run with /usr/bin/python3).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import grpc

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "helpers"))
from proto_wire import field_bytes, field_varint  # noqa: E402


def ping_request(seq, payload, response_bytes, client_send_unix_nanos):
    msg = b""
    if seq:
        msg += field_varint(1, seq)
    if payload:
        msg += field_bytes(2, payload)
    if response_bytes:
        msg += field_varint(3, response_bytes)
    if client_send_unix_nanos:
        msg += field_varint(5, client_send_unix_nanos)
    return msg


def percentile(sorted_ns, p):
    """Nearest rank: the smallest value with at least p % of the samples at or below it."""
    if not sorted_ns:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_ns)))
    return sorted_ns[rank - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("target")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--interval-ms", type=float, default=1.0)
    ap.add_argument("--payload-bytes", type=int, default=0)
    ap.add_argument("--response-bytes", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=200, help="unrecorded probes first")
    ap.add_argument("--raw", action="store_true", help="include every RTT (ns) in the output")
    a = ap.parse_args()

    channel = grpc.insecure_channel(a.target, options=[("grpc.enable_retries", 0)])
    grpc.channel_ready_future(channel).result(timeout=10)
    # Identity (de)serialisers: bytes in, bytes out, like our pre-encoded request.
    ping = channel.unary_unary("/inference.v1.InferenceService/Ping")
    payload = b"\x5a" * a.payload_bytes

    for i in range(a.warmup):
        ping(ping_request(i + 1, payload, a.response_bytes, time.time_ns()), timeout=5)

    interval_ns = int(a.interval_ms * 1e6)
    rtts = []
    errors = 0
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter_ns()
    for i in range(a.count):
        due = t0 + i * interval_ns
        while True:
            left = due - time.perf_counter_ns()
            if left <= 0:
                break
            # sleep() until ~0.2 ms before, then spin, so the send time is as precise as our client's.
            if left > 300_000:
                time.sleep((left - 200_000) / 1e9)
        req = ping_request(i + 1, payload, a.response_bytes, time.time_ns())
        s = time.perf_counter_ns()
        try:
            ping(req, timeout=5)
        except grpc.RpcError:
            errors += 1
            continue
        rtts.append(time.perf_counter_ns() - s)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    channel.close()
    # Process CPU (every thread, user + kernel) per measured call; with --interval-ms 0 (closed loop) it is
    # the client's cost per call, comparable with bench/ping-cpu.ts's figures for our transports.
    cpu_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)

    srt = sorted(rtts)
    out = {
        "client": "python grpcio %s (gRPC C core), Python %s" % (grpc.__version__, sys.version.split()[0]),
        "count": len(rtts),
        "errors": errors,
        "interval_ms": a.interval_ms,
        "payload_bytes": a.payload_bytes,
        "response_bytes": a.response_bytes,
        "min_ms": srt[0] / 1e6 if srt else None,
        "mean_ms": sum(srt) / len(srt) / 1e6 if srt else None,
        "max_ms": srt[-1] / 1e6 if srt else None,
        "cpu_us_per_call": cpu_s * 1e6 / a.count if a.count else None,
        "percentiles_ms": {str(p): percentile(srt, p) / 1e6 for p in (50, 90, 99, 99.9)} if srt else {},
    }
    if a.raw:
        out["rtt_ns"] = rtts
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
