"""Group `nm -S --size-sort -C` output (read on stdin) by crate and print a Markdown table.

argv[1]: the stripped binary's size, to show what the symbols do not cover (headers,
exception tables, padding, string literals merged by the linker).
A symbol `<a::T as b::Trait>::f` counts for the crate of `a::T`; C symbols (no `::`) from
musl and compiler-rt count as "C (musl, compiler-rt)".
"""
import collections
import re
import sys

by_crate = collections.Counter()
for line in sys.stdin:
    parts = line.split(None, 3)
    if len(parts) < 4:
        continue
    size, kind, name = int(parts[1], 16), parts[2], parts[3].strip()
    if kind.lower() not in "trdb":  # text, read-only data, data, bss
        continue
    if kind.lower() == "b":
        continue  # bss takes no bytes in the file
    head = name.lstrip("<&*(").removeprefix("mut ").removeprefix("dyn ").removeprefix("const ")
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", head)
    if m:
        crate = m.group(1)
        if crate in ("core", "alloc", "std", "std_detect", "panic_abort"):
            crate = "std (core, alloc, std)"
    elif name.startswith("_ZN") or name.startswith("_R"):
        crate = "(mangled)"
    else:
        crate = "C (musl, compiler-rt)"
    by_crate[crate] += size

total = sum(by_crate.values())
stripped = int(sys.argv[1]) if len(sys.argv) > 1 else total
print("| crate (mipsel, symbol bytes) | bytes | share |")
print("|---|---:|---:|")
for crate, size in by_crate.most_common(12):
    print(f"| {crate} | {size:,} | {size * 100 // stripped} % |")
rest = sum(s for _, s in by_crate.most_common()[12:])
if rest:
    print(f"| other crates | {rest:,} | {rest * 100 // stripped} % |")
print(f"| not in any symbol (headers, tables, padding) | {max(stripped - total, 0):,} | {max(stripped - total, 0) * 100 // stripped} % |")
