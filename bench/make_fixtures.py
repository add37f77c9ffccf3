#!/usr/bin/env python3
"""Benchmark fixtures for `npm run bench` (python3 standard library only).

Writes into <project root>/.mlsec-bench/, only what is missing:

  checkpoint-<N>g.pt    a PyTorch-style zip checkpoint of about N GiB (N from MLSEC_BENCH_GB,
                        default 2): archive/data.pkl (a protocol-2 pickle of an OrderedDict of
                        torch._utils._rebuild_tensor_v2 calls, written by a tiny opcode writer,
                        torch is never imported), archive/data/<key> raw float32 storages,
                        archive/byteorder and archive/version.
  small-pickles-<M>/    M (MLSEC_BENCH_FILES, default 2000) small benign pickles of 10-50 KB,
                        protocols 2-5 mixed, deterministic.

Each fixture is built under a temporary name and renamed when complete, so an interrupted run
never leaves a half-written file that a later run would trust. Progress goes to stderr; the last
line on stdout is a JSON object with the fixture paths.
"""

import array
import json
import os
import pickle
import random
import shutil
import struct
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, ".mlsec-bench")

GIB = 1 << 30
MIB = 1 << 20
TENSORS = 200
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: identical bytes on every machine


def log(message):
    print(f"[fixtures] {message}", file=sys.stderr, flush=True)


def env_number(name, default, kind):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        sys.exit(f"{name} must be a number, got {raw!r}")
    if value <= 0:
        sys.exit(f"{name} must be positive, got {raw!r}")
    return value


# --------------------------------------------------------------------------------------------
# A tiny pickle opcode writer: just the opcodes a protocol-2 torch.save state dict uses.
# --------------------------------------------------------------------------------------------


class PickleWriter:
    def __init__(self):
        self.out = bytearray()
        self.memo = {}  # (kind, value) -> memo index, as the real pickler memoizes

    def op(self, data):
        self.out += data

    def proto(self, version):
        self.op(b"\x80" + bytes([version]))

    def put(self, key):
        index = len(self.memo)
        self.memo[key] = index
        self.op(b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index))

    def get(self, key):
        index = self.memo[key]
        self.op(b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index))

    def global_(self, module, name):
        key = ("global", module, name)
        if key in self.memo:
            self.get(key)
        else:
            self.op(b"c" + module.encode() + b"\n" + name.encode() + b"\n")  # GLOBAL
            self.put(key)

    def string(self, text):
        key = ("str", text)
        if key in self.memo:
            self.get(key)
        else:
            data = text.encode("utf-8")
            self.op(b"X" + struct.pack("<I", len(data)) + data)  # BINUNICODE
            self.put(key)

    def int_(self, value):
        if 0 <= value < 256:
            self.op(b"K" + bytes([value]))  # BININT1
        elif 0 <= value < 65536:
            self.op(b"M" + struct.pack("<H", value))  # BININT2
        elif -(2**31) <= value < 2**31:
            self.op(b"J" + struct.pack("<i", value))  # BININT
        else:
            data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
            self.op(b"\x8a" + bytes([len(data)]) + data)  # LONG1

    def mark(self):
        self.op(b"(")

    def tuple_(self):
        self.op(b"t")  # TUPLE (from MARK)

    def tuple2(self):
        self.op(b"\x86")

    def empty_tuple(self):
        self.op(b")")

    def reduce(self):
        self.op(b"R")

    def binpersid(self):
        self.op(b"Q")

    def false(self):
        self.op(b"\x89")

    def setitems(self):
        self.op(b"u")

    def stop(self):
        self.op(b".")


def tensor_plan(total_bytes):
    """About TENSORS float32 2-D tensors whose storages add up to total_bytes."""
    cols = 1024
    row_bytes = cols * 4
    weights = [1 + (i * 7 % 13) / 12 for i in range(TENSORS)]
    scale = total_bytes / sum(weights)
    plan = []
    used = 0
    for i, weight in enumerate(weights):
        rows = max(1, int(weight * scale) // row_bytes)
        if i == TENSORS - 1:
            rows = max(1, (total_bytes - used) // row_bytes)
        used += rows * row_bytes
        layer, part = divmod(i, 4)
        name = f"layers.{layer}.{('attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2')[part]}.weight"
        plan.append((name, str(i), rows, cols))
    return plan


def state_dict_pickle(plan):
    w = PickleWriter()
    w.proto(2)
    w.global_("collections", "OrderedDict")
    w.empty_tuple()
    w.reduce()
    w.put(("obj", "state_dict"))
    w.mark()
    for name, key, rows, cols in plan:
        w.string(name)
        w.global_("torch._utils", "_rebuild_tensor_v2")
        w.mark()
        # persistent id: ('storage', torch.FloatStorage, key, 'cpu', numel)
        w.mark()
        w.string("storage")
        w.global_("torch", "FloatStorage")
        w.string(key)
        w.string("cpu")
        w.int_(rows * cols)
        w.tuple_()
        w.put(("obj", "pid", key))
        w.binpersid()
        w.int_(0)  # storage_offset
        w.int_(rows)
        w.int_(cols)
        w.tuple2()  # size
        w.put(("obj", "size", key))
        w.int_(cols)
        w.int_(1)
        w.tuple2()  # stride
        w.put(("obj", "stride", key))
        w.false()  # requires_grad
        w.global_("collections", "OrderedDict")
        w.empty_tuple()
        w.reduce()  # backward_hooks
        w.put(("obj", "hooks", key))
        w.tuple_()
        w.put(("obj", "args", key))
        w.reduce()
        w.put(("obj", "tensor", key))
    w.setitems()
    w.stop()
    return bytes(w.out)


def float_block():
    """1 MiB of deterministic float32 values, the filler for every storage."""
    rng = random.Random(20240601)
    values = array.array("f", (rng.gauss(0.0, 0.02) for _ in range(MIB // 4)))
    if sys.byteorder != "little":
        values.byteswap()
    block = values.tobytes()
    # A storage that starts like a pickle header would be parsed as one by header-sniffing tools.
    if block[0] == 0x80:
        block = b"\x00" + block[1:]
    return block


def make_checkpoint(path, gib):
    total = int(gib * GIB)
    plan = tensor_plan(total)
    pickle_bytes = state_dict_pickle(plan)
    block = float_block()
    tmp = f"{path}.tmp-{os.getpid()}"
    started = time.time()
    written = 0
    next_report = GIB // 4
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:

            def member(name, data=None, size=None):
                info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_STORED
                with zf.open(info, "w", force_zip64=True) as out:
                    if data is not None:
                        out.write(data)
                        return
                    left = size
                    while left > 0:
                        n = min(left, len(block))
                        out.write(block if n == len(block) else block[:n])
                        left -= n

            member("archive/data.pkl", pickle_bytes)
            member("archive/byteorder", b"little")
            for _name, key, rows, cols in plan:
                size = rows * cols * 4
                member(f"archive/data/{key}", size=size)
                written += size
                if written >= next_report:
                    log(f"  {written / GIB:.2f} / {total / GIB:.2f} GiB")
                    next_report += GIB // 4
            member("archive/version", b"3\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    log(
        f"wrote {os.path.basename(path)}: {os.path.getsize(path) / GIB:.2f} GiB, "
        f"{len(plan)} tensors, data.pkl {len(pickle_bytes)} bytes, {time.time() - started:.1f} s"
    )


def small_pickle(index):
    rng = random.Random(index)
    target = rng.randint(10, 50) * 1024
    letters = "abcdefghijklmnopqrstuvwxyz_-"
    floats = (target // 2) // 9  # BINFLOAT: 9 bytes each
    string_budget = target - floats * 9
    labels = []
    while string_budget > 0:
        text = "".join(rng.choices(letters, k=rng.randint(16, 120)))
        labels.append(text)
        string_budget -= len(text) + 4
    record = {
        "id": index,
        "name": f"record-{index:05d}",
        "values": [rng.uniform(-1000.0, 1000.0) for _ in range(floats)],
        "labels": labels,
        "meta": {
            "version": index % 7,
            "ok": index % 3 == 0,
            "scale": rng.random(),
            "shape": (rng.randint(1, 64), rng.randint(1, 64)),
        },
    }
    protocol = 2 + index % 4  # 2, 3, 4, 5
    return pickle.dumps(record, protocol=protocol)


def make_small_pickles(path, count):
    tmp = f"{path}.tmp-{os.getpid()}"
    started = time.time()
    total = 0
    try:
        os.makedirs(tmp)
        for i in range(count):
            data = small_pickle(i)
            total += len(data)
            with open(os.path.join(tmp, f"sample-{i:05d}.pkl"), "wb") as f:
                f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    log(
        f"wrote {os.path.basename(path)}/: {count} files, {total / MIB:.1f} MiB, "
        f"{time.time() - started:.1f} s"
    )


def remove_stale_temporaries():
    for name in os.listdir(OUT):
        if ".tmp-" not in name:
            continue
        stale = os.path.join(OUT, name)
        log(f"removing leftover {name}")
        if os.path.isdir(stale):
            shutil.rmtree(stale)
        else:
            os.remove(stale)


def main():
    gib = env_number("MLSEC_BENCH_GB", 2, float)
    files = env_number("MLSEC_BENCH_FILES", 2000, int)
    os.makedirs(OUT, exist_ok=True)
    remove_stale_temporaries()

    checkpoint = os.path.join(OUT, f"checkpoint-{gib:g}g.pt")
    if os.path.isfile(checkpoint):
        log(f"cached {os.path.relpath(checkpoint, ROOT)}")
    else:
        log(f"generating {os.path.relpath(checkpoint, ROOT)} ({gib:g} GiB)")
        make_checkpoint(checkpoint, gib)

    pickles = os.path.join(OUT, f"small-pickles-{files}")
    if os.path.isdir(pickles):
        log(f"cached {os.path.relpath(pickles, ROOT)}/")
    else:
        log(f"generating {os.path.relpath(pickles, ROOT)}/ ({files} files)")
        make_small_pickles(pickles, files)

    print(json.dumps({"checkpoint": checkpoint, "smallPickles": pickles}))


if __name__ == "__main__":
    main()
