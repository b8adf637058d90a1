import re

from dlpy import demo


def test_engine_demo_learns_the_spirals(capsys):
    demo.main()
    out = capsys.readouterr().out
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]
    assert losses[0] > 0.5
    assert losses[-1] < 0.05
    assert "accuracy 100.0%" in out.splitlines()[-1]
