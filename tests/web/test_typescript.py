"""The generated TypeScript declarations compile with `tsc --strict`, and so does a small typed
client (`clients/typescript/check/client.ts`) that uses every request and response type.

The compiler is TypeScript from the npm registry, pinned in `clients/typescript/package-lock.json`
and installed by `make typescript` (which `make test` runs). Without it the test fails with one
line saying so; it never skips.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

TYPESCRIPT_DIR = Path(__file__).resolve().parents[2] / "clients" / "typescript"
TSC = TYPESCRIPT_DIR / "node_modules" / "typescript" / "bin" / "tsc"
DECLARATIONS = TYPESCRIPT_DIR / "volspike-oi.d.ts"
CLIENT = TYPESCRIPT_DIR / "check" / "client.ts"


def tsc(*args: str, cwd: Path = TYPESCRIPT_DIR) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not TSC.exists():
        pytest.fail(
            "the TypeScript compiler is not installed: run `make typescript` (needs Node.js and "
            "npm: apt-get install nodejs npm)",
            pytrace=False,
        )
    return subprocess.run(
        [node, str(TSC), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_declarations_and_the_typed_client_compile_with_strict_checks() -> None:
    done = tsc("-p", str(TYPESCRIPT_DIR))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_typed_client_uses_every_exported_type() -> None:
    exported = set(re.findall(r"^export (?:interface|type) (\w+)", DECLARATIONS.read_text(), re.M))
    used = set(re.findall(r"\b(\w+)\b", CLIENT.read_text()))
    assert exported, "no exported types found"
    assert exported - used == set()


def test_the_compiler_refuses_a_client_that_misreads_a_response(tmp_path: Path) -> None:
    """The check above can fail: a body read as the wrong type does not compile."""
    wrong = tmp_path / "wrong.ts"
    wrong.write_text(
        f'import type {{ Samples }} from "{DECLARATIONS.with_suffix("").with_suffix("")}";\n'
        "export function count(samples: Samples): string { return samples.count; }\n"
    )
    done = tsc("--strict", "--noEmit", "--skipLibCheck", str(wrong), cwd=tmp_path)
    assert done.returncode != 0
    assert "TS2322" in done.stdout
