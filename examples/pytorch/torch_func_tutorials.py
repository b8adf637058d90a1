"""Three torch.func recipes, in the shape of the PyTorch tutorials on per-sample gradients,
model ensembling and Jacobians/Hessians, each checked against the plain autograd way:

1. per-sample gradients of a small CNN: ``vmap(grad(loss of functional_call))`` over the batch
   against one ``.backward()`` per sample;
2. an ensemble of MLPs run at once: ``stack_module_state`` + ``vmap`` over the stacked weights
   (with a ``meta``-device copy as the stateless base), against each model's own output;
3. ``jacrev`` / ``hessian`` of a small function against ``torch.autograd.functional``.

    python torch_func_tutorials.py --batch-size 32 --num-models 10
"""

import argparse
import copy
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, hessian, jacrev, stack_module_state, vmap


class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.fc1 = nn.Linear(16 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):                          # (N, 1, 14, 14)
        x = F.relu(self.conv1(x))                  # (N, 8, 12, 12)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 16, 5, 5)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


class SimpleMLP(nn.Module):
    def __init__(self, in_features=16, hidden=32, classes=4):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, classes)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def per_sample_gradients(batch_size):
    model = SimpleCNN()
    data = torch.randn(batch_size, 1, 14, 14)
    targets = torch.randint(10, (batch_size,))

    def loss_fn(predictions, targets):
        return F.nll_loss(predictions, targets)

    # the slow way: one backward per sample
    start = time.perf_counter()
    loop_grads = []
    for i in range(batch_size):
        model.zero_grad()
        loss = loss_fn(model(data[i].unsqueeze(0)), targets[i].unsqueeze(0))
        loss.backward()
        loop_grads.append([p.grad.detach().clone() for p in model.parameters()])
    loop_grads = [torch.stack(grads) for grads in zip(*loop_grads)]
    loop_seconds = time.perf_counter() - start

    # the torch.func way: the model as a function of its parameters, vmapped over samples
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def compute_loss(params, buffers, sample, target):
        batch = sample.unsqueeze(0)
        targets = target.unsqueeze(0)
        predictions = functional_call(model, (params, buffers), (batch,))
        return loss_fn(predictions, targets)

    ft_compute_grad = grad(compute_loss)
    ft_compute_sample_grad = vmap(ft_compute_grad, in_dims=(None, None, 0, 0))
    start = time.perf_counter()
    ft_grads = ft_compute_sample_grad(params, buffers, data, targets)
    vmap_seconds = time.perf_counter() - start

    max_diff = 0.0
    for (name, _), loop_grad in zip(model.named_parameters(), loop_grads):
        if ft_grads[name].shape != loop_grad.shape:
            raise RuntimeError(f"{name}: {tuple(ft_grads[name].shape)} != "
                               f"{tuple(loop_grad.shape)}")
        max_diff = max(max_diff, (ft_grads[name] - loop_grad).abs().max().item())
    print(f"per-sample grads: max |vmap - loop| = {max_diff:.3g} "
          f"(loop {loop_seconds:.3f}s, vmap {vmap_seconds:.3f}s)")
    return {"per_sample_max_diff": max_diff,
            "per_sample_shape": list(ft_grads["conv1.weight"].shape)}


def ensembling(num_models, batch_size):
    models = [SimpleMLP() for _ in range(num_models)]
    minibatches = torch.randn(num_models, batch_size, 16)   # a different batch for each model
    minibatch = minibatches[0]                              # or the same batch for all

    params, buffers = stack_module_state(models)
    base_model = copy.deepcopy(models[0]).to("meta")

    def fmodel(params, buffers, x):
        return functional_call(base_model, (params, buffers), (x,))

    # the same minibatch for every model
    same = vmap(fmodel, in_dims=(0, 0, None))(params, buffers, minibatch)
    expected_same = torch.stack([model(minibatch) for model in models])
    # a different minibatch for each model
    different = vmap(fmodel)(params, buffers, minibatches)
    expected_different = torch.stack([model(mb) for model, mb in zip(models, minibatches)])

    diff_same = (same - expected_same).abs().max().item()
    diff_different = (different - expected_different).abs().max().item()
    print(f"ensemble: max diff same-batch {diff_same:.3g}, per-model batch "
          f"{diff_different:.3g}; stacked fc1.weight {tuple(params['fc1.weight'].shape)}")
    return {"ensemble_shape": list(same.shape), "ensemble_max_diff": max(diff_same,
                                                                         diff_different)}


def jacobians():
    weight = torch.randn(4, 3)
    bias = torch.randn(4)

    def predict(x):
        return torch.tanh(F.linear(x, weight, bias))

    def energy(x):
        return (x.sin() * x.pow(2)).sum() + x[0] * x[1]

    x = torch.randn(3)
    jac = jacrev(predict)(x)                                   # (4, 3)
    jac_reference = torch.autograd.functional.jacobian(predict, x)
    hess = hessian(energy)(x)                                  # (3, 3)
    hess_reference = torch.autograd.functional.hessian(energy, x)
    batch_jac = vmap(jacrev(predict))(torch.randn(5, 3))       # (5, 4, 3)
    jac_diff = (jac - jac_reference).abs().max().item()
    hess_diff = (hess - hess_reference).abs().max().item()
    symmetric = (hess - hess.T).abs().max().item()
    print(f"jacrev vs autograd.functional.jacobian: {jac_diff:.3g}; hessian: {hess_diff:.3g}")
    return {"jacobian_max_diff": jac_diff, "hessian_max_diff": hess_diff,
            "hessian_asymmetry": symmetric, "batch_jacobian_shape": list(batch_jac.shape)}


def main():
    parser = argparse.ArgumentParser(description="torch.func recipes")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-models", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    start = time.perf_counter()
    result = {}
    result.update(per_sample_gradients(args.batch_size))
    result.update(ensembling(args.num_models, 64))
    result.update(jacobians())
    result["seconds"] = round(time.perf_counter() - start, 2)
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
