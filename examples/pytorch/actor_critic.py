"""Actor-critic on cart-pole.

One network with a shared hidden layer and two heads: the actor gives the probabilities of
pushing left or right, the critic estimates the value of the state. After each episode the
actor is trained on the advantage (return minus the critic's value) and the critic on a
smooth-L1 loss towards the return. Prints the running reward as it learns.

    python actor_critic.py --episodes 150

With the high learning rate the policy can collapse onto one action for some seeds (the
running reward then sinks below 10); --lr 1e-2 is slower but steadier.
"""

import argparse
import json
import time
from collections import namedtuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from cartpole_env import CartPoleEnv
from torch.distributions import Categorical

parser = argparse.ArgumentParser(description="actor-critic on cart-pole")
parser.add_argument("--gamma", type=float, default=0.99, help="discount factor (default 0.99)")
parser.add_argument("--lr", type=float, default=3e-2, help="Adam learning rate (default 3e-2)")
parser.add_argument("--hidden", type=int, default=128, help="hidden units (default 128)")
parser.add_argument("--episodes", type=int, default=150, help="episodes to train (default 150)")
parser.add_argument("--max-steps", type=int, default=500, help="episode length cap (default 500)")
parser.add_argument("--solved", type=float, default=475.0,
                    help="stop when the running reward passes this (default 475)")
parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
parser.add_argument("--log-interval", type=int, default=10, help="episodes between status lines")
args = parser.parse_args()

env = CartPoleEnv(max_episode_steps=args.max_steps)
env.reset(seed=args.seed)
torch.manual_seed(args.seed)

SavedAction = namedtuple("SavedAction", ["log_prob", "value"])


class Policy(nn.Module):
    """The actor and the critic in one module, sharing the first layer."""

    def __init__(self, hidden):
        super().__init__()
        self.affine1 = nn.Linear(4, hidden)
        self.action_head = nn.Linear(hidden, 2)
        self.value_head = nn.Linear(hidden, 1)
        self.saved_actions = []
        self.rewards = []

    def forward(self, x):
        x = F.relu(self.affine1(x))
        action_prob = F.softmax(self.action_head(x), dim=-1)
        state_values = self.value_head(x)
        return action_prob, state_values


model = Policy(args.hidden)
optimizer = optim.Adam(model.parameters(), lr=args.lr)
eps = np.finfo(np.float32).eps.item()


def select_action(state):
    state = torch.from_numpy(state).float()
    probs, state_value = model(state)
    m = Categorical(probs)
    action = m.sample()
    model.saved_actions.append(SavedAction(m.log_prob(action), state_value))
    return action.item()


def finish_episode():
    R = 0
    saved_actions = model.saved_actions
    policy_losses = []
    value_losses = []
    returns = []
    for r in model.rewards[::-1]:
        R = r + args.gamma * R
        returns.insert(0, R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + eps)
    for (log_prob, value), R in zip(saved_actions, returns):
        advantage = R - value.item()
        policy_losses.append(-log_prob * advantage)
        value_losses.append(F.smooth_l1_loss(value, torch.tensor([R])))
    optimizer.zero_grad()
    loss = torch.stack(policy_losses).sum() + torch.stack(value_losses).sum()
    loss.backward()
    optimizer.step()
    del model.rewards[:]
    del model.saved_actions[:]


def main():
    start = time.perf_counter()
    running_reward = 10
    history = []
    for i_episode in range(1, args.episodes + 1):
        state, _ = env.reset()
        ep_reward = 0
        for _ in range(args.max_steps):
            action = select_action(state)
            state, reward, terminated, truncated, _ = env.step(action)
            model.rewards.append(reward)
            ep_reward += reward
            if terminated or truncated:
                break
        running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
        history.append(running_reward)
        finish_episode()
        if i_episode % args.log_interval == 0:
            print(f"Episode {i_episode}\tLast reward: {ep_reward:.2f}"
                  f"\tRunning reward: {running_reward:.2f}")
        if running_reward > args.solved:
            print(f"Solved! Running reward is now {running_reward:.2f} and the last episode "
                  f"ran to {ep_reward:.0f} time steps!")
            break
    result = {"episodes": len(history), "running_reward_first": round(history[0], 3),
              "running_reward_last": round(history[-1], 3),
              "running_reward_max": round(max(history), 3),
              "seconds": round(time.perf_counter() - start, 2)}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
