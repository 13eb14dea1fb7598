"""Write one script's section of benchmarks/RESULTS.md, leaving the other sections alone."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().with_name("RESULTS.md")
_HEADER = (
    "# Benchmark results\n\nFigures written by the scripts in `benchmarks/`; each script "
    "rewrites only its own section.\n\n"
)


def write_section(tag: str, body: str) -> Path:
    """Put ``body`` between ``<!-- BEGIN tag -->`` and ``<!-- END tag -->`` (appended if new)."""
    begin, end = f"<!-- BEGIN {tag} -->", f"<!-- END {tag} -->"
    block = f"{begin}\n{body.strip()}\n{end}\n"
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else _HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _m: block, old)
    else:
        new = old.rstrip() + "\n\n" + block
    RESULTS.write_text(new, encoding="utf-8")
    return RESULTS
