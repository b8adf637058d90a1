"""dlpy.distributed.run (torchrun): N workers through mpiexec with torchrun's variables."""

import sys
import textwrap

import pytest

from dlpy.distributed import run as torchrun

from .conftest import launcher_free_env, skip_reason


def test_torchrun_options_and_refusals():
    args = torchrun.parse_args(["--standalone", "--nproc_per_node", "2", "--master-port",
                                "1234", "train.py", "--lr", "0.1"])
    assert args.nproc_per_node == "2" and args.master_port == 1234
    assert args.training_script_args == ["--lr", "0.1"]
    with pytest.raises(SystemExit, match="one machine"):
        torchrun.run(torchrun.parse_args(["--nnodes", "2", "train.py"]))
    with pytest.raises(SystemExit, match="positive"):
        torchrun.run(torchrun.parse_args(["--nproc-per-node", "0", "train.py"]))


@pytest.mark.skipif(skip_reason() is not None, reason=str(skip_reason()))
def test_torchrun_starts_ranked_workers(tmp_path):
    import subprocess

    script = tmp_path / "show.py"
    script.write_text(textwrap.dedent('''
        import os
        from dlpy import distributed as dist
        dist.init_process_group("gloo")
        assert dist.get_rank() == int(os.environ["RANK"]) == int(os.environ["LOCAL_RANK"])
        assert dist.get_world_size() == int(os.environ["WORLD_SIZE"]) == 2
        assert dist.is_torchelastic_launched()
        print(f"rank {dist.get_rank()} ok", flush=True)
    '''))
    done = subprocess.run([sys.executable, "-m", "dlpy.distributed.run", "--nproc-per-node",
                           "2", str(script)], capture_output=True, text=True, timeout=60,
                          env=launcher_free_env())
    assert done.returncode == 0, done.stderr
    assert "rank 0 ok" in done.stdout and "rank 1 ok" in done.stdout
