"""dlpy.multiprocessing.spawn (torch.multiprocessing's): fn(rank, *args) in N processes that
form one MPI world; an exception comes back as ProcessRaisedException."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dlpy import multiprocessing as mp

from .conftest import launcher_free_env, skip_reason

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=str(skip_reason()))

PROGRAM = textwrap.dedent('''
    import sys
    from dlpy import distributed as dist
    from dlpy import multiprocessing as mp

    def work(rank, world_size, fail):
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
        total = dist.all_gather_object  # the ranks meet in a collective
        gathered = [None] * world_size
        total(gathered, rank * 10)
        if fail and rank == 1:
            raise ValueError("boom on rank 1")
        if rank == 0:
            print("gathered", gathered, flush=True)
        dist.destroy_process_group()

    if __name__ == "__main__":
        try:
            mp.spawn(work, args=(2, sys.argv[1] == "fail"), nprocs=2, join=True)
        except mp.ProcessRaisedException as err:
            print("raised", err.error_index, "ValueError: boom on rank 1" in str(err))
''')


def run(tmp_path, mode):
    script = Path(tmp_path) / "spawn_program.py"
    script.write_text(PROGRAM)
    return subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                          timeout=60, env=launcher_free_env(), cwd=tmp_path)


def test_spawn_gives_each_process_its_rank_in_one_world(tmp_path):
    done = run(tmp_path, "ok")
    assert done.returncode == 0, done.stderr
    assert "gathered [0, 10]" in done.stdout


def test_spawn_raises_the_failing_process_error(tmp_path):
    done = run(tmp_path, "fail")
    assert "raised 1 True" in done.stdout, done.stdout + done.stderr


def test_spawn_checks_its_arguments():
    with pytest.raises(ValueError, match="nprocs"):
        mp.spawn(print, nprocs=0)
    assert mp.get_sharing_strategy() in mp.get_all_sharing_strategies()
