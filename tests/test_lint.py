"""The code base stays ruff-clean (the convention in ARCHITECTURE.md); a lint error fails `make test`."""

import subprocess
import sys

from core.config import PROJECT_ROOT


def test_ruff_is_clean():
    ruff = PROJECT_ROOT / ".venv" / "bin" / "ruff"
    cmd = [str(ruff)] if ruff.exists() else [sys.executable, "-m", "ruff"]
    result = subprocess.run([*cmd, "check", "--output-format", "concise", "."], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
