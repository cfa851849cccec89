"""Two slow assets after a quick one, each noting its name and process id in pids.log as it
starts (the tests wait for that, then interrupt the build), and one that reads both."""
import os
import time
from pathlib import Path

from assetbuild import asset


def mark(name):
    with open(Path(__file__).parent / "pids.log", "a") as f:
        f.write(f"{name} {os.getpid()}\n")

def nap(seconds):
    # in slices: a signal that lands after Python's last check and before one long sleep's
    # system call is not handled until that sleep ends (seen under load)
    for _ in range(int(seconds * 20)):
        time.sleep(0.05)

@asset(io="json")
def first():
    return 1

@asset(io="json")
def left(first):
    mark("left")
    nap(30)
    return first + 1

@asset(io="json")
def right(first):
    mark("right")
    nap(30)
    return first + 2

@asset(io="json")
def both(left, right):
    return left + right
