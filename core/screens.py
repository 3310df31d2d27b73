"""Links for the big screens (board, announcer): full addresses to click or to open from a QR code on the screen's
own device. The signed token in them is core.ceremonies.view_token (read-only, expiring, revocable)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from core.ceremonies import view_token
from core.qr import qr_png
from core.services import Rollcall

# (label, extra query parameters) of each screen a ceremony offers.
SCREENS = [
    ("Live board", {"view": "board"}),
    ("Announcer", {"view": "announcer"}),
    ("Announcer, lower third on green (video switcher)", {"view": "announcer", "mode": "lower-third", "bg": "green"}),
    ("Reader's prompter", {"view": "announcer", "mode": "prompter"}),
]


@dataclass(frozen=True)
class ScreenLink:
    label: str
    url: str

    def qr(self) -> bytes:
        """A QR code of the link (PNG), for a phone or a smart TV's camera to open it."""
        return qr_png(self.url, box_size=4)


def app_root(page_url: str | None, page_path: str) -> str:
    """The app's own address (with any base path) from the address of the page in use (`…/ceremony`); the
    query string and fragment are dropped. Empty when the page's address is not known (then links are relative)."""
    if not page_url:
        return ""
    parts = urlsplit(page_url)
    path = parts.path
    if path.rstrip("/").endswith("/" + page_path):
        path = path.rstrip("/")[: -len(page_path)]
    if not path.endswith("/"):
        path += "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def screen_links(app: Rollcall, ceremony_id: str, page_url: str | None, page_path: str = "ceremony"
                 ) -> list[ScreenLink]:
    token = view_token(app, ceremony_id)
    root = app_root(page_url, page_path)
    return [ScreenLink(label, f"{root}?{urlencode({'ceremony': ceremony_id, 'token': token, **extra})}")
            for label, extra in SCREENS]
