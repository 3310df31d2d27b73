"""The roles, and the app's pages with who may open each: the menu (streamlit_app.py) and the guard at the top
of every page (core.auth.User.may_open) read this one list.

A page added to pages/ must be listed here (tests/app/test_pages.py fails otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"
    STUDENT = "student"


STAFF = frozenset({Role.ADMIN, Role.OPERATOR})
WATCHERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.VIEWER})


@dataclass(frozen=True)
class Page:
    key: str  # what a page passes to require() / guard_fragment()
    file: str  # from the project root
    title: str
    icon: str
    section: str  # menu section
    roles: frozenset[Role]


PAGES: tuple[Page, ...] = (
    Page("home", "pages/home.py", "Overview", ":material/dashboard:", "Operations", WATCHERS),
    Page("sessions", "pages/sessions.py", "Sessions", ":material/event:", "Operations", STAFF),
    Page("checkin", "pages/checkin.py", "Check-in", ":material/photo_camera_front:", "Operations", STAFF),
    Page("kiosk", "pages/kiosk.py", "Check-in kiosk", ":material/tablet:", "Operations", STAFF),
    Page("people", "pages/people.py", "People", ":material/groups:", "Operations", STAFF),
    Page("statistics", "pages/statistics.py", "Statistics", ":material/monitoring:", "Operations", WATCHERS),
    Page("ceremony", "pages/ceremony.py", "Ceremony console", ":material/school:", "Ceremony", STAFF),
    Page("board", "pages/board.py", "Live board", ":material/grid_view:", "Ceremony", WATCHERS),
    Page("announcer", "pages/announcer.py", "Announcer", ":material/campaign:", "Ceremony", WATCHERS),
    Page("my_attendance", "pages/my_attendance.py", "My attendance", ":material/event_available:", "Me",
         frozenset({Role.STUDENT})),
    Page("users", "pages/users.py", "Users", ":material/manage_accounts:", "Admin", frozenset({Role.ADMIN})),
    Page("devices", "pages/devices.py", "Devices", ":material/sensors:", "Admin", frozenset({Role.ADMIN})),
    Page("audit", "pages/audit.py", "Audit trail", ":material/history:", "Admin", frozenset({Role.ADMIN})),
    Page("privacy", "pages/privacy.py", "Privacy", ":material/shield_person:", "Admin", frozenset({Role.ADMIN})),
    Page("account", "pages/account.py", "Account", ":material/person:", "Me", frozenset(Role)),
)

# Which roles may open each page; pages/ check this again when opened by URL.
PAGE_ROLES: dict[str, frozenset[Role]] = {page.key: page.roles for page in PAGES}


def not_for_you(page: Page, role: Role) -> str:
    """Why a signed-in user's address (a bookmark, a link someone sent) does not open this page for them."""
    allowed = [r.value for r in Role if r in page.roles]
    who = allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " and " + allowed[-1]
    return (f"**{page.title}** is open to {who} accounts; you are signed in as {role.value}. "
            "Ask an administrator if you need it.")
