"""Writes a valid core module of about SIZE bytes whose size is code, not
data: many small functions of integer arithmetic, so that compiling it
takes time in proportion to its size, as a real program's does. SEED
changes every constant, so modules of different seeds have different
digests (and compile cache keys) but the same shape.

The module imports nothing and exports `_start`, which calls the first
function and returns; `wasmpod run` and `wasmtime run` both run it.

Usage: gen-module.py SIZE SEED OUT.wasm
"""
import random
import sys


def leb_u(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def leb_s(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def section(id_, payload):
    return bytes([id_]) + leb_u(len(payload)) + payload


def vec(items):
    return leb_u(len(items)) + b"".join(items)


def body(rng, index):
    """(param i32) (result i32): 40 steps of arithmetic on two locals, and a
    call to the function before it when the value is odd, so that nothing
    is dead code."""
    code = bytearray()
    for _ in range(40):
        # local.get 0, i32.const K, i32.add|mul|xor, local.tee 1,
        # i32.const R, i32.rotl, local.get 1, i32.add, local.set 0
        op = rng.choice([0x6A, 0x6C, 0x73])
        code += b"\x20\x00\x41" + leb_s(rng.randrange(-(1 << 30), 1 << 30)) + bytes([op])
        code += b"\x22\x01\x41" + leb_s(rng.randrange(1, 31)) + b"\x77\x20\x01\x6a\x21\x00"
    if index > 1:
        # if (local0 & 1) { local0 = f[index - 1](local0) }
        code += b"\x20\x00\x41\x01\x71\x04\x40"
        code += b"\x20\x00\x10" + leb_u(index - 1) + b"\x21\x00\x0b"
    code += b"\x20\x00\x0b"
    fn = vec([leb_u(1) + b"\x7f"]) + bytes(code)  # one more i32 local
    return leb_u(len(fn)) + fn


def main():
    size, seed, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = random.Random(seed)
    types = vec([
        b"\x60\x00\x00",          # () -> ()
        b"\x60\x01\x7f\x01\x7f",  # (i32) -> i32
    ])
    bodies = []
    total = 64
    while total < size:
        bodies.append(body(rng, len(bodies) + 1))
        total += len(bodies[-1]) + 1
    # Function 0, _start: call the last function with 1, drop the result.
    # Each function calls the one before it only when its value is odd, so
    # a run makes a handful of calls.
    start = b"\x00\x41\x01\x10" + leb_u(len(bodies)) + b"\x1a\x0b"
    bodies.insert(0, leb_u(len(start)) + start)
    funcs = vec([leb_u(0)] + [leb_u(1)] * (len(bodies) - 1))
    exports = vec([leb_u(6) + b"_start" + b"\x00" + leb_u(0)])
    module = b"\0asm\x01\0\0\0"
    module += section(1, types)
    module += section(3, funcs)
    module += section(7, exports)
    module += section(10, vec(bodies))
    with open(out, "wb") as f:
        f.write(module)


if __name__ == "__main__":
    main()
