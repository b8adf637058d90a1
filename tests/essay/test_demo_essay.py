import re

from dlpy import demo


def test_demo_scores_the_three_examples_with_criteria(capsys):
    assert demo.essay_demo()
    out = capsys.readouterr().out
    scores = [float(s) for s in re.findall(r"\.txt: (\d+\.\d) / 30", out)]
    assert len(scores) == 3
    assert scores[0] > scores[1] > scores[2]  # good > average > poor
    assert out.count("organisation") == 3 and out.count("expression") == 3
