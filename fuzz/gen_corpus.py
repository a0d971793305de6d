#!/usr/bin/env python3
"""Write the seed corpora under fuzz/corpus/<target>/ (run from anywhere; deterministic).

Seeds are real-looking messages of every kind each target parses: Stratum V1 lines as miners
and pools send them, configs as users write them, HTTP requests as browsers and curl send
them, SV2 frames laid out as in src/stratum2/msg.rs, and published secp256k1 vectors (BIP324
ElligatorSwift, BIP340) for the Noise target. Seed names are descriptive; files libFuzzer adds
are named by SHA-1 and git-ignored (fuzz/.gitignore).
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- Stratum V1, miner side (lines as io.rs hands them over: no '\n', no '\r') -------------
MINER = {
    "subscribe_cgminer": '{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.12.0"]}',
    "subscribe_resume": '{"id":1,"method":"mining.subscribe","params":["bmminer/2.0.0","00000001"]}',
    "subscribe_no_params": '{"id":1,"method":"mining.subscribe","params":[]}',
    "subscribe_string_id": '{"id":"sub-1","method":"mining.subscribe","params":["NerdMiner/1.6"]}',
    "authorize": '{"id": 2, "method": "mining.authorize", "params": ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq.rig1", "x"]}',
    "authorize_utf8": '{"id":3,"method":"mining.authorize","params":["acct.r\u00e9seau\u2603",""]}',
    "configure_version_rolling": '{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}',
    "configure_nano3s": '{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":16}]}',
    "configure_multi": '{"id":1,"method":"mining.configure","params":[["minimum-difficulty","version-rolling","subscribe-extranonce"],{"minimum-difficulty.value":2048,"version-rolling.mask":"00fff000","version-rolling.min-bit-count":2}]}',
    "submit_5": '{"params": ["acct.worker", "1a2b", "00000001", "65a1b2c3", "deadbeef"], "id": 4, "method": "mining.submit"}',
    "submit_6_version_bits": '{"id":5,"method":"mining.submit","params":["acct.worker","1a2b","0000000100000000","65a1b2c3","2c1d3e4f","1fffe000"]}',
    "submit_6_null": '{"id":6,"method":"mining.submit","params":["acct.worker","1a2b","a1b2","65A1B2C3","2C1D3E4F",null]}',
    "suggest_difficulty": '{"id":3,"method":"mining.suggest_difficulty","params":[512]}',
    "suggest_difficulty_frac": '{"id":3,"method":"mining.suggest_difficulty","params":[1.5e-3]}',
    "extranonce_subscribe": '{"id":2,"method":"mining.extranonce.subscribe","params":[]}',
    "response_from_miner": '{"id":null,"result":true,"error":null}',
    "unknown_method": '{"id":7,"method":"mining.get_transactions","params":["1a2b"]}',
    "escaped_strings": '{"id":"a\\"b","method":"mining.authorize","params":["w\\u0041\\n\\\\",null]}',
}

# --- Stratum V1, pool side -------------------------------------------------------------------
COINB1 = ("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff"
          "20020862062f503253482f04b8864e5008")
COINB2 = ("072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef990332704"
          "8ed988ac00000000")
PREV = "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000"
BRANCHES = [
    "3b2b8a0ba5c8b2a1f6a4d7c0e5f1a29384b6c7d8e9fa0b1c2d3e4f5061728394",
    "5c7a9e1f0b3d8c2a4e6f7081923a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c",
    "e2c4b6a8d0f1e3c5a7b9d1f3e5c7a9b1d3f5e7c9a1b3d5f7e9c1a3b5d7f9e1c3",
]
POOL = {
    "subscribe_result": '{"id":1,"result":[[["mining.set_difficulty","b4b6693b72a50c7116db18d6497cac52"],["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],"08000002",4],"error":null}',
    "subscribe_result_e2_8": '{"id":1,"result":[[["mining.notify","1"]],"0a0b0c0d",8],"error":null}',
    "authorize_result": '{"id":2,"result":true,"error":null}',
    "configure_result": '{"id":3,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"error":null}',
    "notify_no_branches": '{"params": ["bf", "%s", "%s", "%s", [], "00000002", "1c2ac4af", "504e86b9", false], "id": null, "method": "mining.notify"}' % (PREV, COINB1, COINB2),
    "notify_branches_clean": '{"id":null,"method":"mining.notify","params":["64a9f3e1","%s","%s","%s",[%s],"20000000","17034219","6650f1c2",true]}' % (PREV, COINB1, COINB2, ",".join('"%s"' % b for b in BRANCHES)),
    "set_difficulty": '{"id":null,"method":"mining.set_difficulty","params":[2]}',
    "set_difficulty_frac": '{"id":null,"method":"mining.set_difficulty","params":[0.0625]}',
    "set_difficulty_big": '{"id":null,"method":"mining.set_difficulty","params":[65536.0]}',
    "set_extranonce": '{"id":null,"method":"mining.set_extranonce","params":["af4c0102",4]}',
    "reconnect": '{"id":null,"method":"client.reconnect","params":["stratum.example.com",3333,5]}',
    "reconnect_port_string": '{"id":null,"method":"client.reconnect","params":["10.0.0.2","3334"]}',
    "reconnect_empty": '{"id":null,"method":"client.reconnect","params":[]}',
    "show_message": '{"id":null,"method":"client.show_message","params":["Pool maintenance at 12:00 UTC"]}',
    "set_version_mask": '{"id":null,"method":"mining.set_version_mask","params":["1fffe000"]}',
    "share_accepted": '{"id":4,"result":true,"error":null}',
    "share_low_difficulty": '{"id":5,"result":null,"error":[23,"Low difficulty share",null]}',
    "share_stale": '{"id":6,"result":false,"error":[21,"Job not found (=stale)",null]}',
    "unknown_with_id": '{"id":9,"method":"client.get_version","params":[]}',
}

# --- Configs ---------------------------------------------------------------------------------
CONFIG = {
    "readme_example.json": """{"listen": "0.0.0.0:3333", "http": "0.0.0.0:8080",
 "pools": [{"name": "a", "url": "stratum+tcp://pool.example.com:3333", "user": "acct.worker",
            "password": "x", "weight": 70, "priority": 1},
           {"name": "b", "url": "stratum+tcp://backup.example.org:3333", "user": "acct.rig",
            "weight": 30, "priority": 2}],
 "miners": {"max": 64, "shares_per_min": 20, "min_difficulty": 0.0001, "max_difficulty": 4096,
            "start_difficulty": 1, "idle_timeout_secs": 600},
 "failover": {"job_timeout_secs": 180, "backoff_min_ms": 1000, "backoff_max_ms": 60000},
 "split": {"preset": "balanced", "deadband": 0.5, "interval_secs": 60, "window_intervals": 60,
           "max_payback_mins": 120, "max_trim": 15, "min_dwell_secs": 180, "hysteresis_secs": 120},
 "log_level": "info"}
""",
    "minimal.json": '{"pools": [{"url": "stratum+tcp://h.example:3333", "user": "u"}]}',
    "sv2_pool.json": """{"pools": [
  {"name": "v1", "url": "stratum+tcp://pool.example.com:3333", "user": "acct.worker", "weight": 60},
  {"name": "v2pool", "url": "stratum2+tcp://v2.pool.example:3336/9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh",
   "user": "acct.worker", "weight": 40}]}
""",
    "sv2_authority_field.json": '{"pools": [{"url": "stratum2+tcp://h:3336", "user": "u", "authority_pubkey": "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh"}]}',
    "full_options.json": """\ufeff{"listen": "[::]:3333", "http": "127.0.0.1:0", "log_level": "debug",
 "api_token": "s3cret-token-123",
 "stats": {"file": "/etc/hashmux/stats.dat", "save_interval_mins": 60},
 "pools": [{"name": "a", "url": "stratum+tcp://192.0.2.1:3333", "user": "u1", "weight": 0, "priority": 2},
           {"name": "b", "url": "stratum+tcp://[2001:db8::1]:3333", "user": "u2", "password": "p\\u00e9", "weight": 10000}],
 "miners": {"min_difficulty": 1e-5, "start_difficulty": 16384.0, "max_difficulty": 1.6384E+4},
 "split": {"preset": "custom", "kp": 0.4, "ki": 0.02, "kd": 0.01}}
""",
    "http_off_custom_split.json": '{"http": "", "pools": [{"url": "stratum+tcp://h.example:3333", "user": "u"}], "split": {"preset": "custom", "kp": 1, "ki": 0.1, "kd": 0.05, "deadband": 0.25}}',
    "split_body.json": '{"preset":"conservative"}',
    "refused_weight.json": '{"pools": [{"url": "stratum+tcp://h.example:3333", "user": "u",\n "weight": "70"}]}',
}

# --- HTTP requests ---------------------------------------------------------------------------
BODY = b'{"preset":"conservative","deadband":0.5}'
HTTP = {
    "get_root": b"GET / HTTP/1.1\r\nHost: 192.168.1.1:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nConnection: keep-alive\r\n\r\n",
    "get_stats": b"GET /api/stats HTTP/1.1\r\nHost: router:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
    "get_metrics_query": b"GET /metrics?format=prometheus HTTP/1.0\r\nHost: router\r\n\r\n",
    "post_split": b"POST /api/split HTTP/1.1\r\nHost: router:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nAuthorization: Bearer s3cret-token-123\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY),
    "post_weights_partial_body": b"POST /api/weights HTTP/1.1\r\nAuthorization: Bearer s3cret-token-123\r\nContent-Length: 20\r\n\r\n{\"a\": 50",
    "post_disable": b"POST /api/pools/a/disable HTTP/1.1\r\nauthorization: Bearer s3cret-token-123\r\ncontent-length: 0\r\n\r\n",
    "partial_head": b"GET /healthz HTTP/1.1\r\nHost: rou",
}

# --- SV2 frames (header: extension u16 with bit 15 = channel message, type u8, length u24) ---


def frame(msg_type, payload, channel=False, extension=0):
    ext = extension | (0x8000 if channel else 0)
    return struct.pack("<HB", ext, msg_type) + struct.pack("<I", len(payload))[:3] + payload


def s0_255(b):
    return bytes([len(b)]) + b


def b0_64k(b):
    return struct.pack("<H", len(b)) + b


TARGET = bytes.fromhex("ffff" + "00" * 30)[::-1]  # little-endian U256
SV2 = {
    "setup_connection_success": frame(0x01, struct.pack("<HI", 2, 0b100)),
    "setup_connection_error": frame(0x02, struct.pack("<I", 0b100) + s0_255(b"unsupported-feature-flags")),
    "open_extended_channel_success": frame(0x14, struct.pack("<II", 1, 7) + TARGET + struct.pack("<H", 8) + s0_255(bytes.fromhex("0000000a0b0c")) + struct.pack("<I", 0)),
    "open_channel_error": frame(0x12, struct.pack("<I", 1) + s0_255(b"max-target-out-of-range")),
    "new_extended_job_future": frame(0x1f, struct.pack("<II", 7, 42) + b"\x00" + struct.pack("<I", 0x20000000) + b"\x01" + bytes([len(BRANCHES)]) + b"".join(bytes.fromhex(b) for b in BRANCHES) + b0_64k(bytes.fromhex(COINB1)) + b0_64k(bytes.fromhex(COINB2)), channel=True),
    "new_extended_job_now": frame(0x1f, struct.pack("<II", 7, 43) + b"\x01" + struct.pack("<II", 0x6650f1c2, 0x20000000) + b"\x00" + b"\x00" + b0_64k(bytes.fromhex(COINB1)) + b0_64k(bytes.fromhex(COINB2)), channel=True),
    "set_new_prev_hash": frame(0x20, struct.pack("<II", 7, 42) + bytes.fromhex(PREV) + struct.pack("<II", 0x6650f1c2, 0x17034219), channel=True),
    "set_target": frame(0x21, struct.pack("<I", 7) + TARGET, channel=True),
    "set_extranonce_prefix": frame(0x19, struct.pack("<I", 7) + s0_255(bytes.fromhex("0000000b0c0d")), channel=True),
    "submit_shares_success": frame(0x1c, struct.pack("<IIIQ", 7, 12, 3, 3 * 65536), channel=True),
    "submit_shares_error": frame(0x1d, struct.pack("<II", 7, 13) + s0_255(b"difficulty-too-low"), channel=True),
    "update_channel_error": frame(0x17, struct.pack("<I", 7) + s0_255(b"max-target-out-of-range"), channel=True),
    "close_channel": frame(0x18, struct.pack("<I", 7) + s0_255(b"pool shutting down"), channel=True),
    "reconnect": frame(0x04, s0_255(b"v2.pool.example") + struct.pack("<H", 3336)),
    "extension_message": frame(0x00, b"\x01\x02\x03", extension=0x0001),
    "new_mining_job_ignored": frame(0x15, struct.pack("<II", 7, 1) + b"\x00" + struct.pack("<I", 0x20000000) + bytes(32), channel=True),
}

# --- SV2 Noise: act 2 (234) ‖ ellswift (64) ‖ BIP340 pubkey (32) ‖ msg (32) ‖ sig (64) --------
ELLSWIFT = [  # BIP324 xelligatorswift_test_vectors.csv encodings
    "26b25d457597a7b0463f9620f666dd10aa2c4373a505967c7c8d70922a2d6eceffffffffffffffffffffffffffffffffffffffffffffffffffffffffb2dabde1",
    "bf5e8ffa51a9e748985800c1d3d7f1a2a6ae7435136593ca8d9637e3f87c699c76cc5805dab9b4eacefdb477f498020fd82bccdbc9c6a2d9ce10586ac85512b4",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffff72a7e655ffffffffffffffffffffffffffffffffffffffffffffffffffffffff1dd15ad9",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffd4b84378fffffffffffffffffffffffffffffffffffffffffffffffffffffffff69a56d1",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffeeee1f01fffffffffffffffffffffffffffffffffffffffffffffffffffffffff43363e8",
    "00" * 64,
]
BIP340 = [  # (pubkey, msg, sig) from BIP340 test-vectors.csv: valid 0, 1, 4; invalid 5, 12, 14
    ("F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9", "00" * 32,
     "E907831F80848D1069A5371B402410364BDF1C5F8307B0084C55F1CE2DCA821525F66A4A85EA8B71E482A74F382D2CE5EBEEE8FDB2172F477DF4900D310536C0"),
    ("DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6896BD60EEAE296DB48A229FF71DFE071BDE413E6D43F917DC8DCF8C78DE33418906D11AC976ABCCB20B091292BFF4EA897EFCB639EA871CFA95F6DE339E4B0A"),
    ("D69C3509BB99E412E68B0FE8544E72837DFA30746D8BE2AA65975F29D22DC7B9", "4DF3C3F68FCC83B27E9D42C90431A72499F17875C81A599B566C9889B9696703",
     "00000000000000000000003B78CE563F89A0ED9414F5AA28AD0D96D6795F9C6376AFB1548AF603B3EB45C9F8207DEE1060CB71C04E80F593060B07D28308D7F4"),
    ("EEFDEA4CDB677750A420FEE807EACF21EB9898AE79B9768766E4FAA04A2D4A34", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E17776969E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B"),
    ("DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F69E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B"),
    ("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC30", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E17776969E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B"),
]


def noise_seed(i):
    e = bytes.fromhex(ELLSWIFT[i % len(ELLSWIFT)])
    s = bytes.fromhex(ELLSWIFT[(i + 1) % len(ELLSWIFT)])
    # act 2: e, then "encrypted" s ‖ tag and certificate ‖ tag (the tags cannot be right).
    cert = struct.pack("<HII", 0, 1_750_000_000, 1_850_000_000) + bytes(64)
    act2 = e + s + bytes(16) + cert + bytes(16)
    assert len(act2) == 234
    pk, msg, sig = BIP340[i % len(BIP340)]
    return act2 + e + bytes.fromhex(pk) + bytes.fromhex(msg) + bytes.fromhex(sig)


# --- SV2 Noise against a pool with real keys (sv2_noise_peer): flags ‖ now ‖ re ‖ rs ‖ cert
# fields. Transport operations (sv2_transport): op ‖ header (6) ‖ length u24 ‖ op-specific
# bytes ‖ payload.


def peer_seed(flags, now, valid_from, not_valid_after, ops, i=0):
    re = bytes.fromhex(ELLSWIFT[i % len(ELLSWIFT)])
    rs = bytes.fromhex(ELLSWIFT[(i + 3) % len(ELLSWIFT)])
    cert = struct.pack("<HII", 0, valid_from, not_valid_after) + bytes(64)
    return bytes([flags]) + struct.pack("<I", now) + re + rs + cert, b"".join(ops)


def op(kind, fr, extra=b"", length=None):
    header, payload = fr[:6], fr[6:]
    n = len(payload) if length is None else length
    return bytes([kind]) + header + struct.pack("<I", n)[:3] + extra + payload


def peer_seeds():
    now, vf, vna = 1_800_000_000, 1_750_000_000, 1_850_000_000
    job, prev, ok = SV2["new_extended_job_future"], SV2["set_new_prev_hash"], SV2["submit_shares_success"]
    submit = frame(0x1b, struct.pack("<IIIIII", 7, 12, 42, 0x2c1d3e4f, 0x6650f1c2, 0x20000000) + s0_255(bytes.fromhex("00010203")), channel=True)
    return {
        "session": peer_seed(1, now, vf, vna, [op(0, SV2["setup_connection_success"]), op(0, SV2["open_extended_channel_success"]), op(0, job), op(0, prev), op(2, submit), op(0, ok)]),
        "tampered_frames": peer_seed(1, now, vf, vna, [op(1, job, struct.pack("<I", 3)[:3] + b"\x02"), op(1, prev, struct.pack("<I", 40)[:3] + b"\x07"), op(0, ok)], 1),
        "garbage_frames": peer_seed(1, now, vf, vna, [op(3, bytes(6) + bytes(range(30)), length=30), op(3, bytes(6) + bytes(range(31)), length=31), op(0, ok)], 2),
        "multi_chunk": peer_seed(1, now, vf, vna, [op(0xc0, job, length=70_000), op(0xc2, job, length=131_100), op(0xc1, ok, struct.pack("<I", 65_600)[:3] + b"\x00", length=70_000)], 3),
        "unsigned": peer_seed(0, now, vf, vna, [], 4),
        "expired": peer_seed(1, 1_900_000_000, vf, vna, [], 5),
        "clock_unset": peer_seed(1, 86_400, vf, vna, [], 0),
    }


# --- core_events: scripts of events (see fuzz_targets/core_events.rs for the byte layout) ----
def ce_pool_up(p, e1=b"\xaa\xbb\xcc\xdd", e2=8, job=1, clean=True):
    out = bytes([0, p, 1, p, 2, p, len(e1), e2]) + e1
    out += bytes([4, p, 5, p]) + struct.pack("<I", 0x1FFFE000)
    out += bytes([6, p, 2])  # difficulty 2^2 units of 2^-32
    out += bytes([7, p, (2 if clean else 0) | (job << 4 & 0xF0)]) + struct.pack("<I", job) + bytes([16, 8, 1])
    return out


def ce_miners(n, p=0):
    out = bytes([14, p, n - 1])
    for i in range(n):
        out += bytes([15 | 0x40, p, i]) + struct.pack("<I", 0x1FFFE000)
        out += bytes([16, p, i, 17, p, i])
    return out


def ce_submit(i, nonce, e2=b"\x00\x00\x00\x01", job_pick=0):
    return bytes([18, 0, i, job_pick, len(e2)]) + e2 + struct.pack("<II", nonce, 0)


def core_seeds():
    tick = lambda s: bytes([20, 0, s])
    shares = b"".join(ce_submit(i % 3, n) for n, i in zip(range(40), range(40)))
    return {
        "two_pools_three_miners_shares": ce_pool_up(0) + ce_pool_up(1, e2=6) + ce_miners(3) + shares + tick(1) + bytes([11 | 0x40, 0, 0, 11, 0, 1]),
        "extranonce_grows": ce_pool_up(0, e2=4) + ce_miners(1) + bytes([2, 0, 1, 8, 0xEE]) + ce_miners(1) + tick(5) + ce_pool_up(0, job=2, clean=False)[-11:] + tick(5),
        "pool_lost_failover": ce_pool_up(0) + ce_pool_up(1) + ce_miners(4) + shares + bytes([13, 0]) + tick(2) + bytes([13 | 0x40, 1, 10]) + tick(200),
        "absurd_targets": ce_pool_up(0) + bytes([6, 0, 0, 6, 0, 63, 6, 0, 200, 1, 2, 3, 4]) + ce_miners(2) + shares,
        "control_and_ticks": ce_pool_up(0) + ce_pool_up(1) + ce_miners(2) + bytes([21, 0, 100, 21 | 0x40, 0, 3]) + tick(255) * 4,
    }


# --- sv2_miner_side: hashmux as the SV2 server of a miner (see fuzz_targets/sv2_miner_side.rs
# for the byte layout): steps of frames from the miner (genuine, tampered, garbage, oversized)
# and messages from the core.
CAP = 4096  # MAX_MINER_PAYLOAD


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def f32_bits(v):
    return struct.unpack("<I", struct.pack("<f", v))[0]


class MS:
    """Message builders (a message's bytes after its step's op byte)."""

    @staticmethod
    def setup(flags=None, vendor=b"Bitaxe", hardware=b"601", firmware=b"v2.9.0", host=b"10.0.0.1", device=b""):
        sel = 0 if flags is None else 4
        out = bytes([0, sel]) + (u32(flags) if flags is not None else b"")
        for t in (host, vendor, hardware, firmware, device):
            out += bytes([len(t)]) + t
        return out

    @staticmethod
    def open(extended, request_id=7, user=b"bc1q.worker", tsel=0, min_extranonce=4):
        out = bytes([2 if extended else 1]) + u32(request_id) + bytes([len(user)]) + user
        out += u32(f32_bits(1e12)) + bytes([tsel])
        if extended:
            # Below 8 in one byte, else a u16 follows.
            out += bytes([min_extranonce]) if min_extranonce < 8 else bytes([0x80]) + u16(min_extranonce)
        return out

    @staticmethod
    def submit(seq, job, extranonce=None, channel=None, nonce=0x2C1D3E4F, ntime=0x6650F1C2, version=0x20000000):
        k = (3 if extranonce is None else 4) | 0x40 | (0x20 if channel is not None else 0)
        out = bytes([k]) + (u32(channel) if channel is not None else b"")
        out += u32(seq) + u32(job) + u32(nonce) + u32(ntime) + u32(version)
        if extranonce is not None:
            out += bytes([len(extranonce)]) + extranonce
        return out

    @staticmethod
    def update(channel=None):
        return bytes([5 | (0x20 if channel is not None else 0)]) + (u32(channel) if channel is not None else b"") + u32(f32_bits(2e12)) + bytes([2])

    @staticmethod
    def close(reason=b"miner restarting", channel=None):
        return bytes([6 | (0x20 if channel is not None else 0)]) + (u32(channel) if channel is not None else b"") + bytes([len(reason)]) + reason

    @staticmethod
    def other(ext, msg_type, payload):
        return bytes([7]) + u16(ext) + bytes([msg_type, len(payload)]) + payload


class TM:
    """Messages from the core (after the step's op byte)."""
    configure = bytes([0x80]) + u32(0x1FFFE000)
    configure_refused = bytes([0])
    subscribe = bytes([1]) + u32(1) + b"\x01\x02" + bytes([2])  # extranonce2: 4 bytes
    authorize = bytes([2])

    @staticmethod
    def refused(which, refusal):  # which: 0 configure, 1 subscribe, 2 authorize
        return bytes([3 | which << 4, refusal])

    @staticmethod
    def verdict(seq, accepted=True, refusal=8):
        return bytes([(4 if accepted else 5) | 0x80]) + u32(seq) + (b"" if accepted else bytes([refusal]))

    @staticmethod
    def difficulty(log2_units):
        return bytes([6, log2_units])

    @staticmethod
    def notify(job_id, prev=1, clean=True, branches=2, pad=2, e1=4, c1=40, c2=50, variant=0):
        flags = branches << 2 | (0x10 if clean else 0) | prev << 5
        return bytes([7, flags]) + u32(job_id) + bytes([pad, e1, c1, c2]) + u32(0x20000000) + u32(0x6650F1C2) + u16(variant)


def ms(m, kind=0):
    return bytes([kind]) + m


def tm(m):
    return bytes([6]) + m


def opening(extended):
    return [ms(MS.setup()), ms(MS.open(extended)), tm(TM.configure), tm(TM.subscribe), tm(TM.authorize), tm(TM.difficulty(34))]


def miner_side_seeds():
    std = opening(False) + [
        tm(TM.notify(100)), tm(TM.notify(101, clean=False, variant=1)),
        ms(MS.submit(1, 100)), tm(TM.verdict(1)),
        ms(MS.submit(2, 101, version=0x20002000)), tm(TM.verdict(2, False)),
        ms(MS.submit(3, 101, channel=2)), tm(TM.difficulty(40)),
        tm(TM.notify(102, prev=2, clean=False)), ms(MS.submit(4, 102)), tm(TM.verdict(4)),
    ]
    ext = opening(True) + [
        tm(TM.notify(200, branches=3, pad=0)), ms(MS.submit(1, 200, b"\x00\x00\x00\x01")), tm(TM.verdict(1)),
        ms(MS.submit(2, 200, bytes(33))), ms(MS.update()), ms(MS.update(channel=9)),
        tm(TM.notify(201, prev=3)), ms(MS.submit(3, 201, b"\xff\xff\xff\xff")), tm(TM.verdict(3, False, 3)),
        ms(MS.close(channel=5)), ms(MS.close()),
    ]
    # Tampered: the header's byte 3, bit 1; a payload byte (30), bit 6. Garbage: a header's
    # worth of bytes; a genuine header with garbage for its payload.
    tampered = [
        bytes([3]) + MS.setup() + u16(3) + b"\x01",
        bytes([3]) + MS.open(True) + u16(30) + b"\x06",
        bytes([4 | 8, 10]) + bytes(range(32)),
        bytes([4]) + MS.update() + bytes(range(7, 7 + 40 + 16)),  # payload 40 bytes + tag
        bytes([3 | 8]) + u16(0x8001) + bytes([0x42]) + u16(12) + b"extension 1!" + u16(40) + b"\x00",
        tm(TM.configure), tm(TM.subscribe), tm(TM.authorize),
        tm(TM.notify(300)), ms(MS.submit(1, 300, b"\x00\x00\x00\x02")), tm(TM.verdict(1)),
    ]
    return {
        "standard_channel_shares": std,
        "extended_channel_shares": ext,
        "tampered_and_garbage": tampered,
        "setup_refused_work_selection": [ms(MS.setup(flags=0b10))],
        "setup_version_mismatch": [bytes([0, 0, 2]) + u16(3) + u16(3) + bytes(5)],
        "oversize_after_setup": [ms(MS.setup()), bytes([5]) + u16(0x8000) + bytes([0x1B]) + b"\x00\x00\x00" + bytes([8]) + b"payload!"],
        "cap_sized_frames": [ms(MS.setup()), bytes([2]) + u16(0) + bytes([0x70]) + u16(CAP) + bytes(range(256)),
                             bytes([2]) + u16(0x8000) + bytes([0x1A]) + u16(24) + bytes(24)],
        "bad_frames_close": [ms(MS.submit(i, 1)) for i in range(8)] + [ms(MS.open(False))] * 4 + [ms(MS.other(0, 0x1A, b"\x01\x02"))] * 10,
        "channel_refusals": [ms(MS.setup()), ms(MS.open(True, min_extranonce=8)), ms(MS.open(False, request_id=9, tsel=2)),
                             ms(MS.open(True, request_id=10)), tm(TM.refused(0, 7)), tm(TM.configure),
                             tm(TM.subscribe), tm(TM.refused(2, 1)), ms(MS.submit(1, 1)), tm(TM.authorize),
                             ms(MS.other(1, 0x01, b"ext")), bytes([6, 9, 0, 0, 0, 0]), bytes([6, 0x89])],
    }


def main():
    for name, line in MINER.items():
        write("sv1_miner_line", name + ".json", line)
    for name, line in POOL.items():
        write("sv1_pool_line", name + ".json", line)
    for name, text in CONFIG.items():
        write("config", name, text)
    for name, req in HTTP.items():
        write("http_head", name + ".http", req)
    for name, f in SV2.items():
        write("sv2_frame", name + ".bin", f)
    for i in range(len(ELLSWIFT)):
        write("sv2_noise", "vectors_%d.bin" % i, noise_seed(i))
    for name, (handshake, ops) in peer_seeds().items():
        write("sv2_noise_peer", name + ".bin", handshake)
        if ops:
            write("sv2_transport", name + ".bin", ops)
    for name, script in core_seeds().items():
        write("core_events", name + ".bin", script)
    for name, steps in miner_side_seeds().items():
        write("sv2_miner_side", name + ".bin", b"".join(steps))


if __name__ == "__main__":
    main()
