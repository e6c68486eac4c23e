#!/usr/bin/env python3
"""Runs a command in its own process group and ends the whole group when stdin closes.

Tests start the emulator and `cargo lambda watch` through this, holding its stdin open: when the
test drops its handle, or the test process dies for any reason, the pipe closes and nothing is
left running.

    supervise.py COMMAND [ARG...]
"""

import os
import signal
import subprocess
import sys
import threading


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: supervise.py COMMAND [ARG...]")
    child = subprocess.Popen(sys.argv[1:], start_new_session=True, stdin=subprocess.DEVNULL)

    def stop(*_):
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                break
            try:
                child.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=lambda: (sys.stdin.buffer.read(), stop()), daemon=True).start()
    code = child.wait()
    # The command ended on its own: take any of its leftovers with it.
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    # os._exit: the stdin reader thread must not hold up interpreter shutdown.
    os._exit(code)


if __name__ == "__main__":
    main()
