"""The reference's side of `intentus-bench --only index`.

Loads every record of a directory the way the reference reads its store:
FileExecutionStore(dir).list_ids(), then load(id) for each, with the garbage
collector off (as a long-running loader would tune it). A file the reference
cannot load (cut short, not a record) is counted, not fatal. Prints the
seconds taken and the number loaded on one line.

Run with PYTHONPATH holding the reference (shared/reference/python):
    python3 bench/ref_load.py DIR
"""

import gc
import sys
import time

from intentusnet.recording.store import FileExecutionStore


def main(path):
    gc.disable()
    t0 = time.perf_counter()
    store = FileExecutionStore(path)
    loaded = 0
    for execution_id in store.list_ids():
        try:
            store.load(execution_id)
            loaded += 1
        except Exception:  # noqa: BLE001 - counted: a corrupt file
            pass
    print(f"{time.perf_counter() - t0:.6f} {loaded}")


if __name__ == "__main__":
    main(sys.argv[1])
