"""A second process for the work of a run that can overlap the rest on the other core: a backtest's
oracle baseline walks forward there while its main run walks here, and its report's plots draw there
(matplotlib takes about a second to import) while its tables are written here.

The process is `python -m bess_ray.sidecar`, fed pickled calls on its standard input: unlike a
multiprocessing spawn it never re-imports the caller's main script (which, unguarded, would run
again or fail to start), and it ends at once when the run is done.
"""
from __future__ import annotations

import importlib
import pickle
import queue
import subprocess
import sys
import threading


class SidecarError(RuntimeError):
    """The sidecar process ended before it answered."""


class Sidecar:
    def __init__(self, *preload: str) -> None:
        """Start the process; it imports the modules named in `preload` while the caller goes on."""
        self._proc = subprocess.Popen([sys.executable, "-m", "bess_ray.sidecar"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE)
        self._sent = 0
        self._answers: dict[int, tuple[bool, object]] = {}
        # a thread feeds the pipe: the process reads its next call only when done with the last,
        # and a caller must not wait for that
        self._outbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._feed, daemon=True).start()
        for module in preload:
            self.submit(_import, module)

    def _feed(self) -> None:
        while (data := self._outbox.get()) is not None:
            try:
                self._proc.stdin.write(data)
                self._proc.stdin.flush()
            except (BrokenPipeError, ValueError):  # the process ended: the caller hears it from _answer
                return

    def submit(self, fn, *args) -> "Call":
        """Run `fn(*args)` there (a module-level function; arguments and result are pickled), in order
        of submission. Returns a handle whose `.result()` waits for the value (or raises its error)."""
        self._outbox.put(pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL))
        self._sent += 1
        return Call(self, self._sent - 1)

    def _answer(self, n: int) -> tuple[bool, object]:
        while n not in self._answers:
            try:
                self._answers[len(self._answers)] = pickle.load(self._proc.stdout)
            except EOFError:
                raise SidecarError(f"the sidecar process ended (exit code {self._proc.poll()})") from None
        return self._answers[n]

    def close(self) -> None:
        """End the process at once: every result wanted has been collected by then, and a clean
        interpreter exit (matplotlib's teardown) would cost the run another 0.2 s. Closing twice is
        harmless."""
        if self._proc.returncode is not None and self._proc.stdin.closed:
            return
        self._outbox.put(None)
        self._proc.kill()
        self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout):
            try:
                pipe.close()
            except OSError:  # calls still buffered for a process that is gone
                pass


class Call:
    def __init__(self, side: Sidecar, n: int):
        self._side, self._n = side, n

    def result(self):
        ok, value = self._side._answer(self._n)
        if not ok:
            raise value
        return value


def _import(module: str) -> None:
    importlib.import_module(module)


def _serve() -> None:
    """The process's side: answer each call in order until the input ends."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever the calls print must not mix with the answers
    while True:
        try:
            fn, args = pickle.load(inp)
        except EOFError:
            return
        try:
            answer = (True, fn(*args))
        except Exception as e:  # handed back to the caller, which raises it there
            answer = (False, e)
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # an answer that cannot travel is an error, not the end of the process
            data = pickle.dumps((False, SidecarError(f"{fn.__name__}: its result cannot be pickled: {e}")))
        out.write(data)
        out.flush()


if __name__ == "__main__":  # run as the module itself, so that what it pickles names bess_ray.sidecar
    from bess_ray.sidecar import _serve as serve

    serve()
