"""A tiny fake of Telegram's Bot API on 127.0.0.1, for tests (the real cloud is not reachable here).

    fake = TelegramFake(token="123:abc").start()   # fake.url -> "http://127.0.0.1:PORT"
    ... point ROLLCALL_TELEGRAM_API_BASE at fake.url (in this process or a subprocess) ...
    fake.wait_for_photos(1); fake.photos[0].caption; fake.stop()

It answers `sendPhoto` (multipart: chat_id, caption, photo), `sendMessage` (form: chat_id, text) and `getMe`
like the Bot API does, records every photo and message, and can be told to refuse (`fail(401, "Unauthorized")`),
to answer 429 with `retry_after` (`rate_limit(5)`) or to be slow (`delay = 2.0`). `GET /_fake/photos` (and
`/_fake/messages`) list what it got,
for a test that runs in another process. Run alone: `python -m tests.telegram_fake [--port N]`.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class SentMessage:
    token: str
    chat_id: str
    text: str


@dataclass(frozen=True)
class SentPhoto:
    token: str
    chat_id: str
    caption: str
    photo: bytes
    filename: str | None
    content_type: str | None


def _form_parts(content_type: str, body: bytes) -> dict[str, tuple[bytes, str | None, str | None]]:
    """multipart/form-data → {name: (bytes, filename, content type)}, with the stdlib e-mail parser."""
    head = f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            parts[name] = (part.get_payload(decode=True) or b"", part.get_filename(), part.get_content_type())
    return parts



TOKEN = "123456:AAFakeTokenForTests_x9"  # what the tests configure the bot with
CHAT = "-1001234567890"

class TelegramFake:
    def __init__(self, token: str | None = None, port: int | None = None):
        self.token = token  # when set, any other token gets 401 Unauthorized
        self.port = port or 0  # 0: a free port, chosen by the system at start()
        self.url = ""
        self.photos: list[SentPhoto] = []
        self.messages: list[SentMessage] = []  # sendMessage (text)
        self.requests: list[str] = []  # "METHOD /path" of every request (tokens included: a test's own)
        self.delay = 0.0
        self._failure: tuple[int, dict[str, Any]] | None = None
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control --------------------------------------------------------------------------------

    def start(self) -> TelegramFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib's name
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: paths hold tokens
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="telegram-fake",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(self, status: int = 401, description: str = "Unauthorized") -> None:
        """Refuse every call from now on, as the Bot API does."""
        self._failure = (status, {"ok": False, "error_code": status, "description": description})

    def rate_limit(self, retry_after: int = 5) -> None:
        """Answer 429 Too Many Requests with `parameters.retry_after` from now on."""
        self._failure = (429, {"ok": False, "error_code": 429,
                               "description": f"Too Many Requests: retry after {retry_after}",
                               "parameters": {"retry_after": retry_after}})

    def reset(self) -> None:
        with self._lock:
            self._failure = None
            self.delay = 0.0
            self.photos.clear()
            self.messages.clear()
            self.requests.clear()

    def wait_for_photos(self, count: int, timeout: float = 10.0) -> list[SentPhoto]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.photos) < count and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            return list(self.photos)

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[SentMessage]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            return list(self.messages)

    # --- the Bot API ----------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append(f"{request.command} {request.path}")
        if request.command == "GET" and request.path == "/_fake/photos":
            self._reply(request, 200, [{"chat_id": p.chat_id, "caption": p.caption, "bytes": len(p.photo),
                                        "sha256": hashlib.sha256(p.photo).hexdigest()} for p in self.photos])
            return
        if request.command == "GET" and request.path == "/_fake/messages":
            self._reply(request, 200, [{"chat_id": m.chat_id, "text": m.text} for m in self.messages])
            return
        if self.delay:
            time.sleep(self.delay)
        token, _, method = request.path.removeprefix("/bot").partition("/")
        if not request.path.startswith("/bot") or not token or (self.token is not None and token != self.token):
            self._reply(request, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        if self._failure is not None:
            self._reply(request, *self._failure)
            return
        if method == "getMe":
            self._reply(request, 200, {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "Fake",
                                                              "username": "fake_bot"}})
        elif method == "sendPhoto" and request.command == "POST":
            self._send_photo(request, token, body)
        elif method == "sendMessage" and request.command == "POST":
            self._send_message(request, token, body)
        else:
            self._reply(request, 404, {"ok": False, "error_code": 404, "description": "Not Found"})

    def _send_photo(self, request: BaseHTTPRequestHandler, token: str, body: bytes) -> None:
        content_type = request.headers.get("Content-Type", "")
        parts = _form_parts(content_type, body) if content_type.startswith("multipart/form-data") else {}
        chat_id = parts.get("chat_id", (b"",))[0].decode()
        photo = parts.get("photo")
        if not chat_id:
            self._reply(request, 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
            return
        if photo is None or not photo[0]:
            self._reply(request, 400, {"ok": False, "error_code": 400,
                                       "description": "Bad Request: there is no photo in the request"})
            return
        sent = SentPhoto(token, chat_id, parts.get("caption", (b"",))[0].decode(), photo[0], photo[1], photo[2])
        with self._lock:
            self.photos.append(sent)
            message_id = len(self.photos)
            self._lock.notify_all()
        self._reply(request, 200, {"ok": True, "result": {
            "message_id": message_id, "date": int(time.time()), "chat": {"id": chat_id, "type": "group"},
            "photo": [{"file_id": f"fake-{message_id}", "file_size": len(sent.photo)}], "caption": sent.caption}})

    def _send_message(self, request: BaseHTTPRequestHandler, token: str, body: bytes) -> None:
        form = urllib.parse.parse_qs(body.decode()) if body else {}
        chat_id, text = form.get("chat_id", [""])[0], form.get("text", [""])[0]
        if not chat_id or not text:
            self._reply(request, 400, {"ok": False, "error_code": 400,
                                       "description": "Bad Request: chat not found" if not chat_id
                                       else "Bad Request: message text is empty"})
            return
        with self._lock:
            self.messages.append(SentMessage(token, chat_id, text))
            message_id = len(self.messages)
            self._lock.notify_all()
        self._reply(request, 200, {"ok": True, "result": {"message_id": message_id, "date": int(time.time()),
                                                          "chat": {"id": chat_id, "type": "channel"}, "text": text}})

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="A fake Telegram Bot API on 127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--token")
    args = parser.parse_args()
    server = TelegramFake(args.token, args.port).start()
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


def telegram_env(fake: TelegramFake) -> dict[str, str]:
    """ROLLCALL_* settings (without the prefix) that point the staff bot at the fake."""
    return {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_API_BASE": fake.url,
            "ALERT_TIMEOUT_SECONDS": "5"}
