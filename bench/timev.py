#!/usr/bin/env python3
"""A stand-in for `/usr/bin/time -v -o FILE CMD...` where GNU time is missing: runs CMD and writes
the lines bench/report.py reads (wall, user, system time, peak RSS from wait4(2))."""

import os
import sys
import time

if len(sys.argv) < 4 or sys.argv[1] != "-o":
    sys.exit("usage: timev.py -o FILE CMD [ARGS...]")
out, cmd = sys.argv[2], sys.argv[3:]
start = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - start
with open(out, "w", encoding="utf-8") as f:
    f.write(f'\tCommand being timed: "{" ".join(cmd)}"\n')
    f.write(f"\tUser time (seconds): {ru.ru_utime:.2f}\n")
    f.write(f"\tSystem time (seconds): {ru.ru_stime:.2f}\n")
    f.write(f"\tElapsed (wall clock) time (h:mm:ss or m:ss): {int(wall // 60)}:{wall % 60:05.2f}\n")
    f.write(f"\tMaximum resident set size (kbytes): {ru.ru_maxrss}\n")
sys.exit(os.waitstatus_to_exitcode(status))
