#!/usr/bin/env python3
"""Check hashmux's Prometheus text with the reference parser.

Usage: python3 .ci/check_metrics.py FILE

FILE is the text `hashmux::http::metrics::render` produced (`cargo test --test metrics`
writes target/metrics-sample.txt). Parses it with prometheus_client (PyPI
`prometheus_client`) and exits 1 with a message on a parse error, on a family that appears
more than once, or when an expected family is missing. Prints the family count on success.
"""

import sys

# Family names as prometheus_client reports them: counters lose their `_total` suffix.
EXPECTED = (
    "hashmux_pool_up",
    "hashmux_pool_shares",
    "hashmux_pool_rejects",
    "hashmux_pool_rtt_seconds",
    "hashmux_miner_shares",
    "hashmux_miner_shares_refused",
    "hashmux_miner_hashrate_hashes_per_second",
    "hashmux_split_target_ratio",
    "hashmux_split_pid_derivative_ratio",
    "process_start_time_seconds",
    "process_cpu_seconds",
    "process_resident_memory_bytes",
    "process_open_fds",
)


def fail(msg):
    print(f"check_metrics: {msg}", file=sys.stderr)
    sys.exit(1)


def main(argv):
    if len(argv) != 2:
        fail("usage: check_metrics.py FILE")
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        fail("prometheus_client is not installed (pip install prometheus_client)")
    try:
        with open(argv[1], encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        fail(f"cannot read {argv[1]}: {e}")

    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and friends on bad input
        fail(f"{argv[1]}: parse error: {e!r}")

    seen = set()
    for fam in families:
        if fam.name in seen:
            fail(f"{argv[1]}: family {fam.name} appears more than once")
        seen.add(fam.name)
    missing = [name for name in EXPECTED if name not in seen]
    if missing:
        fail(f"{argv[1]}: missing families: {', '.join(missing)}")

    samples = sum(len(fam.samples) for fam in families)
    print(f"{argv[1]}: {len(families)} families, {samples} samples, ok")


if __name__ == "__main__":
    main(sys.argv)
