"""Data-parallel training in the shape of the PyTorch DDP tutorial.

A small MLP learns a fixed random linear map with noise (synthetic regression data). Each
process wraps the same model in DistributedDataParallel, reads its shard of every epoch through
a DistributedSampler, and the gradients are averaged across processes in backward. The epoch
loss is all-reduced, rank 0 saves a checkpoint that the other ranks load with map_location, and
at the end the ranks' parameters are compared with each other and (on rank 0) with one process
trained on the whole global batch.

    torchrun --nproc-per-node 2 ddp_train.py --epochs 5      # launched: RANK etc. in the env
    python ddp_train.py --world-size 2 --epochs 5             # torch.multiprocessing.spawn
"""

import argparse
import json
import os
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.optim as optim
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


class ToyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.net1 = nn.Linear(10, 32)
        self.relu = nn.ReLU()
        self.net2 = nn.Linear(32, 5)

    def forward(self, x):
        return self.net2(self.relu(self.net1(x)))


def make_dataset(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 10, generator=g)
    w = torch.randn(10, 5, generator=g)
    y = x @ w + 0.1 * torch.randn(n, 5, generator=g)
    return TensorDataset(x, y)


def train(model, loader, sampler, optimizer, epochs, world_size):
    loss_fn = nn.MSELoss()
    losses = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        total = torch.zeros(2)
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total += torch.tensor([loss.item() * len(y), float(len(y))])
        if world_size > 1:
            dist.all_reduce(total, op=dist.ReduceOp.SUM)  # the epoch loss over every rank
        losses.append((total[0] / total[1]).item())
    return losses


def flat_parameters(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def demo_basic(rank, world_size, args):
    """One process: rank ``rank`` of ``world_size``."""
    if args.launched:
        dist.init_process_group("gloo")  # RANK, WORLD_SIZE, MASTER_* from the launcher
    else:
        os.environ["MASTER_ADDR"] = "localhost"
        os.environ["MASTER_PORT"] = str(args.port)
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    start = time.perf_counter()

    torch.manual_seed(args.seed)
    dataset = make_dataset(args.samples, args.seed)
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=args.seed)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler)
    model = ToyModel()
    ddp_model = DDP(model)
    optimizer = optim.SGD(ddp_model.parameters(), lr=args.lr, momentum=0.9)
    losses = train(ddp_model, loader, sampler, optimizer, args.epochs, world_size)

    # rank 0 saves; after the barrier every rank loads it back (mapped to its own device)
    path = os.path.join(args.out, "ddp_checkpoint.pt")
    if rank == 0:
        torch.save(ddp_model.state_dict(), path)
    dist.barrier()
    ddp_model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))

    mine = flat_parameters(model)
    everyone = [torch.zeros_like(mine) for _ in range(world_size)]
    dist.all_gather(everyone, mine)
    rank_difference = max((t - everyone[0]).abs().max().item() for t in everyone)
    if rank == 0:
        # one process, the whole global batch (world_size x batch), the same sample order
        torch.manual_seed(args.seed)
        single = ToyModel()
        single_sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True,
                                            seed=args.seed)
        single_loader = DataLoader(dataset, batch_size=args.batch_size * world_size,
                                   sampler=single_sampler)
        single_losses = train(single, single_loader, single_sampler,
                              optim.SGD(single.parameters(), lr=args.lr, momentum=0.9),
                              args.epochs, 1)
        print("RESULT " + json.dumps({
            "world_size": world_size, "first_loss": losses[0], "last_loss": losses[-1],
            "losses": losses, "single_losses": single_losses,
            "max_rank_difference": rank_difference,
            "max_single_difference": (flat_parameters(single) - mine).abs().max().item(),
            "seconds": time.perf_counter() - start}), flush=True)
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world-size", type=int, default=2, help="processes to spawn")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16, help="per process")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=29517, help="MASTER_PORT for spawn")
    parser.add_argument("--out", default=None, help="folder for the checkpoint (a temporary one)")
    args = parser.parse_args()
    # started by torchrun (or an MPI launcher): this process is one rank already
    args.launched = any(name in os.environ for name in ("RANK", "OMPI_COMM_WORLD_RANK",
                                                        "PMI_RANK"))
    if args.launched:
        if args.out is None:  # a folder every rank of this run names alike
            run_id = os.environ.get("TORCHELASTIC_RUN_ID", "mpirun")
            args.out = os.path.join(tempfile.gettempdir(), f"ddp_train-{run_id}")
        os.makedirs(args.out, exist_ok=True)
        demo_basic(int(os.environ.get("RANK", -1)), -1, args)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            args.out = args.out or scratch
            mp.spawn(demo_basic, args=(args.world_size, args), nprocs=args.world_size,
                     join=True)


if __name__ == "__main__":
    main()
