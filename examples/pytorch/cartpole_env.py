"""A cart-pole environment in plain Python and numpy (no gym needed).

The classic control problem: a pole is hinged to a cart on a frictionless track; the agent
pushes the cart left (action 0) or right (action 1) with a fixed force and earns a reward of
1 for every step the pole stays within 12 degrees of upright and the cart within 2.4 units of
the centre. The interface follows gymnasium: ``reset(seed=...)`` returns ``(observation, info)``
and ``step(action)`` returns ``(observation, reward, terminated, truncated, info)``.
"""

from __future__ import annotations

import math

import numpy as np


class CartPoleEnv:
    """Cart-pole dynamics integrated with explicit Euler steps of ``tau`` seconds.

    The observation is ``[cart position, cart velocity, pole angle, pole angular velocity]``
    (float32); an episode is truncated after ``max_episode_steps`` steps.
    """

    gravity = 9.8
    cart_mass = 1.0
    pole_mass = 0.1
    half_pole_length = 0.5
    force_magnitude = 10.0
    tau = 0.02
    angle_limit = 12 * 2 * math.pi / 360
    position_limit = 2.4

    def __init__(self, max_episode_steps: int = 500):
        self.max_episode_steps = max_episode_steps
        self.total_mass = self.cart_mass + self.pole_mass
        self.pole_moment = self.pole_mass * self.half_pole_length
        self.rng = np.random.default_rng()
        self.state = None
        self.steps = 0

    def reset(self, seed: int | None = None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.state = self.rng.uniform(-0.05, 0.05, size=4)
        self.steps = 0
        return self.state.astype(np.float32), {}

    def step(self, action: int):
        if self.state is None:
            raise RuntimeError("CartPoleEnv.step: call reset() before step()")
        if action not in (0, 1):
            raise ValueError(f"CartPoleEnv.step: expected action 0 or 1, got {action!r}")
        x, x_dot, theta, theta_dot = self.state
        force = self.force_magnitude if action == 1 else -self.force_magnitude
        cos_t, sin_t = math.cos(theta), math.sin(theta)
        # equations of motion of the pole-on-cart system (Barto, Sutton and Anderson, 1983)
        temp = (force + self.pole_moment * theta_dot ** 2 * sin_t) / self.total_mass
        theta_acc = (self.gravity * sin_t - cos_t * temp) / (
            self.half_pole_length * (4.0 / 3.0 - self.pole_mass * cos_t ** 2 / self.total_mass))
        x_acc = temp - self.pole_moment * theta_acc * cos_t / self.total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * x_acc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * theta_acc
        self.state = np.array([x, x_dot, theta, theta_dot])
        self.steps += 1
        terminated = bool(abs(x) > self.position_limit or abs(theta) > self.angle_limit)
        truncated = bool(not terminated and self.steps >= self.max_episode_steps)
        return self.state.astype(np.float32), 1.0, terminated, truncated, {}
