"""What the Streamlit app process does at start, without a browser: `pages._ui.get_app()` opens the store and
starts the ingestor and the workers (frames, ceremony clock, alerts), exactly as the first page view does.

Run as `python -m tests.app_process` with ROLLCALL_DATA_DIR set. Prints `ready`, then `cursor N` every
0.2 s (the ingestor's position in the log) until it is killed. The fault and soak tests kill it with -9.
"""

from __future__ import annotations

import logging
import time

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from pages._ui import get_app

    app = get_app()
    print("ready", flush=True)
    while True:
        print(f"cursor {app.ingestor.cursor()}", flush=True)
        time.sleep(0.2)
