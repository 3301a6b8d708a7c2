"""reportgen.site.memory: the heap's free pages go back to the kernel when a build asks (glibc), where
free() alone keeps them resident."""
from __future__ import annotations

import subprocess
import sys

import pytest

from reportgen.site.memory import _libc

SCRIPT = """
from reportgen.site.memory import return_free_memory

def rss_mb():
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) // 1024 for line in handle if line.startswith("VmRSS:"))

blocks = [bytearray(64 * 1024) for _ in range(1600)]  # ~100 MB of heap chunks, each below the mmap threshold
top = bytearray(64 * 1024)  # still used, above them: free() cannot shrink the heap past it
del blocks
freed = rss_mb()
return_free_memory()
print(freed, rss_mb())
"""


@pytest.mark.skipif(_libc() is None, reason="glibc's malloc_trim is Linux/glibc only")
def test_free_heap_pages_are_returned():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    freed, trimmed = map(int, done.stdout.split())
    assert freed - trimmed > 60, (freed, trimmed)  # MB


def test_elsewhere_it_is_a_no_op(monkeypatch):
    from reportgen.site import memory

    monkeypatch.setattr(memory.sys, "platform", "darwin")
    memory._libc.cache_clear()
    try:
        assert memory._libc() is None
        memory.return_free_memory()
    finally:
        memory._libc.cache_clear()
