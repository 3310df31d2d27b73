"""The code base stays ruff-clean and core/ and receiver/ type-check (the conventions in ARCHITECTURE.md); a lint or
type error fails `make test`."""

import subprocess
import sys

from core.config import PROJECT_ROOT


def test_ruff_is_clean():
    ruff = PROJECT_ROOT / ".venv" / "bin" / "ruff"
    cmd = [str(ruff)] if ruff.exists() else [sys.executable, "-m", "ruff"]
    result = subprocess.run([*cmd, "check", "--output-format", "concise", "."], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean():
    """core/ and receiver/ type-check (mypy.ini): a None where a value is expected, a wrong argument, a typo in an
    attribute fail here rather than on a page."""
    mypy = PROJECT_ROOT / ".venv" / "bin" / "mypy"
    cmd = [str(mypy)] if mypy.exists() else [sys.executable, "-m", "mypy"]
    result = subprocess.run([*cmd, "--no-color-output", "--no-error-summary"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the layout: no module imports upward or in a circle --------------------------------------------------------

def _module_name(path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _our_modules() -> dict:
    return {_module_name(p): p for top in ("core", "receiver", "pages") for p in (PROJECT_ROOT / top).rglob("*.py")}


def _imports(path, name: str, *, type_checking: bool) -> set[str]:
    """Every module `path` imports, at the top or inside a function (a lazy import is a dependency too); those
    under `if TYPE_CHECKING:` only when asked (they never run)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    if not type_checking:
        for node in ast.walk(tree):
            test = getattr(node, "test", None)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(test):
                skipped |= {id(child) for child in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from ..y import z
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from core import qr` imports core.qr
    return found


def _layer_of(module: str) -> str:
    return module.split(".")[0]


def test_core_never_imports_the_ui_or_the_device_edge():
    """core/ is testable without Streamlit and runs in the CLI and the benchmarks: it never imports pages/,
    receiver/ or Streamlit (not even for type hints)."""
    bad = sorted(f"{name} imports {imported}"
                 for name, path in _our_modules().items() if _layer_of(name) == "core"
                 for imported in _imports(path, name, type_checking=True)
                 if _layer_of(imported) in ("pages", "receiver", "streamlit", "streamlit_webrtc"))
    assert bad == []


def test_the_receiver_never_loads_the_read_model_or_the_ui():
    """The receiver runs beside the app or as replicas: it never opens DuckDB, loads no models, draws no pages."""
    bad = sorted(f"{name} imports {imported}"
                 for name, path in _our_modules().items() if _layer_of(name) == "receiver"
                 for imported in _imports(path, name, type_checking=True)
                 if _layer_of(imported) in ("pages", "streamlit", "duckdb", "cv2")
                 or imported in ("core.db", "core.services", "core.runtime"))
    assert bad == []
    heavy = "{'duckdb', 'cv2', 'streamlit', 'pandas', 'core.db'}"
    probe = f"import sys, receiver.app; print(sorted({heavy} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"


def test_only_entry_points_import_the_runtime():
    """core/runtime.py is the top of core/ (it starts every worker): below it, nothing may import it."""
    users = sorted(name for name, path in _our_modules().items() if _layer_of(name) == "core"
                   and "core.runtime" in _imports(path, name, type_checking=True))
    assert users == ["core.cli"]


def test_no_import_cycles_within_core():
    """A module imports only modules below it: a circle (even through a lazy import inside a function) means two
    modules each need the other, which is how one rule ends up in two places."""
    modules = {name: path for name, path in _our_modules().items() if _layer_of(name) == "core"}
    graph = {name: {m for m in _imports(path, name, type_checking=False) if m in modules and m != name}
             for name, path in modules.items()}
    cycles, state = [], dict.fromkeys(graph, 0)  # 0 unvisited, 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state[nxt] == 1:
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif state[nxt] == 0:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if state[start] == 0:
            visit(start, [start])
    assert cycles == []


def test_milliseconds_and_datetimes_are_converted_in_one_place():
    """core/timeutil.py converts ms <-> datetime (and local days); a copy elsewhere drifts (naive vs UTC, local
    machine time vs the configured zone)."""
    import re

    copy = re.compile(r"fromtimestamp\(|\.timestamp\(\) \* 1000")
    allowed = {"core/timeutil.py"}
    found = sorted(f"{path.relative_to(PROJECT_ROOT)}:{n}"
                   for top in ("core", "pages", "receiver") for path in (PROJECT_ROOT / top).rglob("*.py")
                   if str(path.relative_to(PROJECT_ROOT)) not in allowed
                   for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if copy.search(line))
    assert found == [], "use core.timeutil (to_ms, from_ms, local_day, day_bounds)"
