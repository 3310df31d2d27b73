"""`python -m receiver`: serve the device receiver with uvicorn and its own limits (receiver.app.uvicorn_options).

What `python -m core.cli run` starts beside the app; the host and port default to the settings
(ROLLCALL_RECEIVER_HOST / ROLLCALL_RECEIVER_PORT).
"""

from __future__ import annotations

import argparse

import uvicorn

from core.config import get_settings
from receiver.app import uvicorn_options


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m receiver", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=settings.receiver_host)
    parser.add_argument("--port", type=int, default=settings.receiver_port)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    uvicorn.run("receiver.app:app", host=args.host, port=args.port, log_level=args.log_level,
                **uvicorn_options(settings))


if __name__ == "__main__":
    main()
