"""The report's PDF: the same HTML printed by headless Chromium (`--print-to-pdf`), so the PDF
and the page cannot disagree. The page fetches nothing, so Chromium runs with networking off."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

DEFAULT_CHROMIUM = "/usr/bin/chromium"  # Debian's `chromium` package
PRINT_TIMEOUT_S = 120.0


class PDFUnavailable(RuntimeError):
    """No PDF could be printed; the message says why and what to install."""


def find_chromium(path: str | None = None) -> str:
    """`path` if given, else `chromium` on PATH, else Debian's /usr/bin/chromium; raises naming it."""
    if path:
        if not Path(path).exists():
            raise PDFUnavailable(f"--chromium: {path} does not exist")
        return path
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if Path(DEFAULT_CHROMIUM).exists():
        return DEFAULT_CHROMIUM
    raise PDFUnavailable("no PDF: headless Chromium was not found (install Debian's `chromium` package, "
                         "or give --chromium PATH)")


def print_pdf(html_path: Path, pdf_path: Path, chromium: str | None = None,
              timeout_s: float = PRINT_TIMEOUT_S) -> Path:
    """Print `html_path` to `pdf_path` with headless Chromium; raises PDFUnavailable on failure."""
    binary = find_chromium(chromium)
    pdf_path = Path(pdf_path).resolve()
    pdf_path.unlink(missing_ok=True)  # a stale PDF from an earlier run must not pass for this one
    with tempfile.TemporaryDirectory(prefix="asrwatch-report-chromium-") as profile:
        argv = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={pdf_path}",
                Path(html_path).resolve().as_uri()]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise PDFUnavailable(f"no PDF: Chromium did not finish printing within {timeout_s:.0f} s") from None
    if done.returncode != 0 or not pdf_path.exists() or pdf_path.stat().st_size == 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise PDFUnavailable(f"no PDF: Chromium exited {done.returncode} without writing {pdf_path} ({tail[0]})")
    return pdf_path
