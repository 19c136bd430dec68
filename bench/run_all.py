"""Run every benchmark in this folder and print their figures (``make bench``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

for script in ("sandbox_throughput.py", "usage_throughput.py", "webhook_delivery.py"):
    print(f"--- {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)
