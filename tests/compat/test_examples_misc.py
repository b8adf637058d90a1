"""examples/pytorch's reinforcement-learning, graph and small classic programs, run unchanged
under dlpy.compat with tiny settings: each must learn (the numbers come from its RESULT line)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from dlpy import compat

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pytorch"


def run_example(name, args, monkeypatch, capsys):
    """Run examples/pytorch/<name> as ``python -m dlpy.compat`` would; its RESULT dict."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "cartpole_env", raising=False)
    compat.run([str(EXAMPLES / name), *map(str, args)])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("RESULT ")]
    assert lines, f"{name} printed no RESULT line"
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture
def cartpole(monkeypatch):
    monkeypatch.setattr(sys, "path", [str(EXAMPLES), *sys.path])
    monkeypatch.delitem(sys.modules, "cartpole_env", raising=False)
    import cartpole_env

    return cartpole_env.CartPoleEnv


def test_cartpole_env_follows_gymnasium_and_falls_over(cartpole):
    env = cartpole(max_episode_steps=500)
    first, info = env.reset(seed=3)
    assert first.dtype == np.float32 and first.shape == (4,) and info == {}
    assert np.all(np.abs(first) <= 0.05)
    assert np.array_equal(env.reset(seed=3)[0], first)  # a seed gives the same start
    steps, terminated = 0, False
    while not terminated:  # always pushing right tips the pole over within a second or so
        obs, reward, terminated, truncated, _ = env.step(1)
        steps += 1
        assert reward == 1.0 and not truncated
    assert 5 < steps < 60 and abs(obs[2]) > env.angle_limit  # the pole angle ended it
    with pytest.raises(ValueError, match="expected action 0 or 1, got 2"):
        env.step(2)


def test_cartpole_env_truncates_at_the_step_limit(cartpole):
    env = cartpole(max_episode_steps=5)
    env.reset(seed=0)
    results = [env.step(k % 2) for k in range(5)]  # alternating pushes keep it up
    assert [r[3] for r in results] == [False] * 4 + [True]
    assert not any(r[2] for r in results)


def test_reinforce_running_reward_rises(monkeypatch, capsys):
    result = run_example("reinforce.py", ["--episodes", 30, "--seed", 543, "--log-interval", 100],
                         monkeypatch, capsys)
    assert result["episodes"] == 30
    assert result["running_reward_first"] < 12
    assert result["running_reward_last"] > result["running_reward_first"] + 10


def test_actor_critic_running_reward_rises(monkeypatch, capsys):
    # 60 episodes: with torch's streams (dlpy's now) seed 543 rises 11.25 -> 16.8 in 30, as
    # torch's own run, and to 33.1 in 60
    result = run_example("actor_critic.py", ["--episodes", 60, "--lr", 1e-2, "--seed", 543,
                                             "--log-interval", 100], monkeypatch, capsys)
    assert result["running_reward_first"] < 12
    assert result["running_reward_last"] > result["running_reward_first"] + 10


def test_gcn_classifies_nodes(monkeypatch, capsys):
    result = run_example("gcn.py", ["--nodes", 300, "--features", 100, "--epochs", 60,
                                    "--val", 50, "--log-interval", 100], monkeypatch, capsys)
    assert result["loss_last"] < 0.7 * result["loss_first"]
    assert result["test_acc"] > 0.6 and result["val_acc"] > 0.6  # chance: 0.2


def test_siamese_separates_unseen_classes(monkeypatch, capsys):
    result = run_example("siamese.py", ["--classes", 100, "--per-class", 10, "--epochs", 6,
                                        "--pairs", 400], monkeypatch, capsys)
    assert result["loss_last"] < 0.6 * result["loss_first"]
    assert result["pair_acc_seen"] > 0.68
    assert result["pair_acc_unseen"] > result["pair_acc_raw_inputs"] + 0.03


def test_regression_recovers_the_polynomial(monkeypatch, capsys):
    result = run_example("regression.py", ["--seed", 1], monkeypatch, capsys)
    assert result["converged"] and result["loss_last"] < 1e-3 < result["loss_first"]
    assert result["max_weight_error"] < 0.2 and result["bias_error"] < 0.2
