#!/usr/bin/env python3
"""CPython's own unpicklers, instrumented to record instead of run: the oracle of the differential tests.

Reads one JSON object per line on standard input, {"id": ..., "data": base64}, and writes one JSON
line per input: for each way CPython can read a pickle, the imports, calls, attribute writes,
persistent-id and extension lookups it performed, and the error that stopped it.

Nothing from an input is imported or run. Every import goes to a stand-in module whose
attributes are recorder classes; calling one records the call and returns a recorder. The
real loaders (the C `_pickle` and the pure-Python `pickle._Unpickler`) do everything else:
framing, text literals, the memo, the stack.

Ways of reading (each CPython's own code path, see Modules/_pickle.c and Lib/pickle.py):
  bytes     pickle.loads(data): the C unpickler over memory
  peek      the C unpickler over a file object with peek() (io.BufferedReader, what open() returns)
  file      the C unpickler over a file object without peek() (io.BytesIO, what torch's zip reader hands it)
  readonly  the C unpickler over an object with only read() and readline()
  python    the pure-Python unpickler (what joblib uses) over io.BytesIO
The file-based ways load pickle after pickle until the file ends or a load fails, as loaders of
stacked pickles do; `bytes` loads one.
"""

import base64
import builtins
import copyreg
import io
import json
import pickle
import resource
import signal
import sys
import warnings

MAX_EVENTS = 2000
EXT_CODES = 1024
EXT_MODULE = "__oracle_ext__"
SECONDS_PER_MODE = 2.0


class Budget(Exception):
    pass


class Recording:
    def __init__(self):
        self.events = []
        self.active = False
        self.pending_modules = set()

    def add(self, event):
        if self.active and len(self.events) < MAX_EVENTS:
            self.events.append(event)


record = Recording()


def describe(value, depth=0):
    """A short, JSON-safe picture of an argument, enough to tell which recorder was passed."""
    if isinstance(value, RecorderMeta):
        return {"global": value._label}
    if isinstance(value, Result):
        return {"result": value._label}
    if depth > 2:
        return "..."
    if isinstance(value, (tuple, list)):
        return [describe(v, depth + 1) for v in value[:8]]
    if isinstance(value, dict):
        return {"dict": len(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": len(value)}
    if isinstance(value, str):
        return {"str": value[:64]}
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**53) < value < 2**53 else {"int": "big"}
    if isinstance(value, float):
        return {"float": True}
    return {"type": type(value).__name__}


class SetState:
    """__setstate__ on a recorder, whether BUILD finds it on a class or on an instance."""

    def __get__(self, obj, owner):
        target = obj if obj is not None else owner

        kind = "global" if isinstance(target, RecorderMeta) else "result"

        def setstate(state):
            record.add(
                {"ev": "setstate", "on": label_of(target), "kind": kind, "dunders": dunder_keys(state)}
            )

        return setstate


def dunder_keys(state):
    """Keys BUILD would write into an instance's __dict__ or slots that name special attributes."""
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
    keys = []
    for part in parts:
        if isinstance(part, dict):
            keys += [k for k in part if isinstance(k, str) and k.startswith("__") and k.endswith("__")]
    return keys[:8]


def label_of(target):
    return getattr(target, "_label", "?")


class RecorderMeta(type):
    """A global: a class, so that NEWOBJ and OBJ accept it; calling it records the call."""

    def __call__(cls, *args, **kwargs):
        record.add({"ev": "call", "fn": {"global": cls._label}, "args": describe(list(args))})
        return Result(cls._label + "()")

    def __getattr__(cls, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        record.add({"ev": "attr", "of": cls._label, "name": name})
        return recorder_class(cls._label + "." + name)

    def __setattr__(cls, name, value):
        record.add({"ev": "setattr", "on": cls._label, "name": str(name)})


class Recorder(metaclass=RecorderMeta):
    _label = "?"
    __setstate__ = SetState()

    def __new__(cls, *args, **kwargs):
        record.add({"ev": "new", "fn": {"global": cls._label}, "args": describe(list(args))})
        return Result(cls._label + ".__new__()")


def recorder_class(label):
    return RecorderMeta.__new__(RecorderMeta, "Recorded", (Recorder,), {"_label": label})


class Result:
    """What a recorded call returned: calling it again is a call on a value built at load time."""

    __setstate__ = SetState()

    def __init__(self, label):
        object.__setattr__(self, "_label", label)

    def __call__(self, *args, **kwargs):
        record.add({"ev": "call", "fn": {"result": self._label}, "args": describe(list(args))})
        return Result(self._label + "()")

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        record.add({"ev": "method", "of": self._label, "name": name})
        return Result(self._label + "." + name)

    def __setattr__(self, name, value):
        record.add({"ev": "setattr", "on": self._label, "name": str(name)})

    def __setitem__(self, key, value):
        record.add({"ev": "method", "of": self._label, "name": "__setitem__"})


class StandInModule(type(sys)):
    def __getattr__(self, name):
        return recorder_class(self.__name__ + "." + name)


class StandInImports:
    """Every import made while loading gets a stand-in module; the real ones come back afterwards."""

    def __init__(self):
        self.saved = {}
        self.real_import = builtins.__import__

    def fake_import(self, name, globals=None, locals=None, fromlist=(), level=0):
        # Only the module find_class asked for: the interpreter's own imports while loading
        # (warnings, codecs) stay real, so they are never mistaken for the pickle's.
        if name not in record.pending_modules:
            return self.real_import(name, globals, locals, fromlist, level)
        if name not in self.saved:
            self.saved[name] = sys.modules.get(name)
        sys.modules[name] = StandInModule(name)
        return sys.modules[name]

    def __enter__(self):
        builtins.__import__ = self.fake_import
        return self

    def __exit__(self, *exc):
        builtins.__import__ = self.real_import
        for name, module in self.saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        self.saved.clear()


def audit(event, args):
    if event == "pickle.find_class" and record.active:
        module, name = args
        record.pending_modules = modules_imported_for(module, name)
        if module == EXT_MODULE:
            record.add({"ev": "ext", "code": int(name[1:])})
        else:
            record.add({"ev": "import", "module": str(module), "name": str(name)})


def modules_imported_for(module, name):
    """Every module find_class may import for (module, name): Python 2 names are mapped first."""
    import _compat_pickle

    out = {module, _compat_pickle.IMPORT_MAPPING.get(module, module)}
    mapped = _compat_pickle.NAME_MAPPING.get((module, name))
    if mapped:
        out.add(mapped[0])
    return out


def persistent_load(pid):
    """Resolves as legacy torch.load does, the loader that hands back most of what a pickle names:
    ('module', cls, ...) gives cls, any other tuple its first item (the tar format); the rest is an
    object the loader made (a storage)."""
    record.add({"ev": "persid", "pid": describe(pid)})
    target = None
    if isinstance(pid, (tuple, list)) and pid:
        if pid[0] in ("module", b"module") and len(pid) > 1:
            target = pid[1]
        elif isinstance(pid, tuple):
            target = pid[0]
    if isinstance(target, (RecorderMeta, Result)):
        return target
    return Result("persid")


class CUnpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        return persistent_load(pid)


class PyUnpickler(pickle._Unpickler):
    def persistent_load(self, pid):
        return persistent_load(pid)


class ReadOnly:
    def __init__(self, data):
        self.inner = io.BytesIO(data)

    def read(self, n=-1):
        return self.inner.read(n)

    def readline(self):
        return self.inner.readline()

    def tell(self):
        return self.inner.tell()


def file_for(mode, data):
    if mode == "peek":
        return io.BufferedReader(io.BytesIO(data))
    if mode == "readonly":
        return ReadOnly(data)
    return io.BytesIO(data)


def on_alarm(signum, frame):
    raise Budget("time limit")


def run_mode(mode, data):
    record.events = []
    copyreg.clear_extension_cache()
    error = None
    streams = 0
    signal.setitimer(signal.ITIMER_REAL, SECONDS_PER_MODE)
    try:
        with StandInImports():
            record.active = True
            if mode == "bytes":
                pickle.loads(data)
                streams = 1
            else:
                f = file_for(mode, data)
                cls = PyUnpickler if mode == "python" else CUnpickler
                while f.tell() < len(data):
                    cls(f).load()
                    streams += 1
    except Budget:
        error = "Budget: time limit"
    except MemoryError:
        error = "MemoryError"
    except RecursionError:
        error = "RecursionError"
    except BaseException as exc:  # every failure of a load is data for the comparison
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        record.active = False
        signal.setitimer(signal.ITIMER_REAL, 0)
    return {"events": record.events, "error": error, "streams": streams}


MODES = ("bytes", "peek", "file", "readonly", "python")


_ready = False


def setup():
    """Installs the recorders once per process (audit hooks cannot be removed)."""
    global _ready
    if _ready:
        return
    _ready = True
    sys.setrecursionlimit(3000)
    sys.unraisablehook = lambda *args: None
    warnings.simplefilter("ignore")
    signal.signal(signal.SIGALRM, on_alarm)
    for code in range(1, EXT_CODES):
        copyreg.add_extension(EXT_MODULE, f"c{code}", code)
    sys.addaudithook(audit)


def record_all(data):
    """What every way of reading did with ``data``: {mode: {events, error, streams}}."""
    setup()
    return {m: run_mode(m, data) for m in MODES}


def main():
    # Bound the process: an allocation bomb becomes a MemoryError, not a dead machine.
    limit = 3 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    setup()
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        request = json.loads(line)
        data = base64.b64decode(request["data"])
        result = {"id": request["id"], "modes": record_all(data)}
        out.write(json.dumps(result) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
