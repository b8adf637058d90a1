"""``mpirun -n N python run_workers.py OUT_DIR WORKER.py...``: the workers' checks one after the
other in one launch (worker_launch.py starts it), as ``python WORKER.py OUT_DIR/WORKER.json``
would run each; rank 0 writes OUT_DIR/WORKER.json for every worker. A worker listed twice runs
once; one may set GRACE (worker_checks.run_checks's ``grace``)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from worker_checks import GRACE, run_checks  # run as a script from this folder

if __name__ == "__main__":
    from dlpy.distributed import group

    group.init(required=True)  # before the imports: an error in one aborts every rank
    out = Path(sys.argv[1])
    for script in dict.fromkeys(sys.argv[2:]):
        name = Path(script).stem
        worker = importlib.import_module(name)
        run_checks(worker.CHECKS, str(out / f"{name}.json"), name,
                   world_size=getattr(worker, "WORLD_SIZE", None),
                   grace=getattr(worker, "GRACE", GRACE))
