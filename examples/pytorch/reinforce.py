"""REINFORCE (Monte-Carlo policy gradient) on cart-pole.

A two-layer policy network maps the 4-number cart-pole state to the probabilities of pushing
left or right; after each episode the log-probabilities of the actions taken are weighted by the
normalised discounted returns and pushed up. Prints the running reward as it learns.

    python reinforce.py --episodes 150
"""

import argparse
import json
import time
from collections import deque

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from cartpole_env import CartPoleEnv
from torch.distributions import Categorical

parser = argparse.ArgumentParser(description="REINFORCE on cart-pole")
parser.add_argument("--gamma", type=float, default=0.99, help="discount factor (default 0.99)")
parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 1e-2)")
parser.add_argument("--hidden", type=int, default=128, help="hidden units (default 128)")
parser.add_argument("--episodes", type=int, default=150, help="episodes to train (default 150)")
parser.add_argument("--max-steps", type=int, default=500, help="episode length cap (default 500)")
parser.add_argument("--solved", type=float, default=475.0,
                    help="stop when the running reward passes this (default 475)")
parser.add_argument("--seed", type=int, default=543, help="random seed (default 543)")
parser.add_argument("--log-interval", type=int, default=10, help="episodes between status lines")
args = parser.parse_args()

env = CartPoleEnv(max_episode_steps=args.max_steps)
env.reset(seed=args.seed)
torch.manual_seed(args.seed)


class Policy(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.affine1 = nn.Linear(4, hidden)
        self.dropout = nn.Dropout(p=0.6)
        self.affine2 = nn.Linear(hidden, 2)
        self.saved_log_probs = []
        self.rewards = []

    def forward(self, x):
        x = self.affine1(x)
        x = self.dropout(x)
        x = F.relu(x)
        action_scores = self.affine2(x)
        return F.softmax(action_scores, dim=1)


policy = Policy(args.hidden)
optimizer = optim.Adam(policy.parameters(), lr=args.lr)
eps = np.finfo(np.float32).eps.item()


def select_action(state):
    state = torch.from_numpy(state).float().unsqueeze(0)
    probs = policy(state)
    m = Categorical(probs)
    action = m.sample()
    policy.saved_log_probs.append(m.log_prob(action))
    return action.item()


def finish_episode():
    R = 0
    policy_loss = []
    returns = deque()
    for r in policy.rewards[::-1]:
        R = r + args.gamma * R
        returns.appendleft(R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + eps)
    for log_prob, R in zip(policy.saved_log_probs, returns):
        policy_loss.append(-log_prob * R)
    optimizer.zero_grad()
    policy_loss = torch.cat(policy_loss).sum()
    policy_loss.backward()
    optimizer.step()
    del policy.rewards[:]
    del policy.saved_log_probs[:]


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
            policy.rewards.append(reward)
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
