"""Runs several trainers' main() one after another in the same torchrun processes (one launch, imports shared).

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_driver.py JOBS.json

JOBS.json: [[module, [args...]], ...]. The driver joins the process group once; each main() finds it and uses it (a
trainer started alone by torchrun joins and leaves it itself).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if __name__ == "__main__":
    import torch.distributed as dist

    dist.init_process_group("gloo")
    for module, args in json.loads(Path(sys.argv[1]).read_text()):
        code = importlib.import_module(module).main(args)
        if code:
            raise SystemExit(f"{module} exited with {code}")
    dist.destroy_process_group()
