"""Image classification in the shape of the classic ImageNet training script, at toy scale.

Trains any ``torchvision.models`` architecture (``--arch resnet18`` by default, with
``num_classes`` outputs) on an ImageFolder tree (``--data DIR`` with ``train/`` and ``val/``, or
one folder per class that is split 80/20) or, without ``--data``, on ``FakeData``. Keeps the
original's pieces: AverageMeter/ProgressMeter, top-1/top-5 accuracy, SGD with momentum and weight
decay, StepLR, ``save_checkpoint`` with a best copy, and ``--resume`` that continues a run where
it stopped (the epoch, the model, the optimiser's momentum and the schedule).

    python imagenet_style.py --arch resnet18 --epochs 2 --image-size 32
    python imagenet_style.py --data ./imagefolder --epochs 4 --out run
    python imagenet_style.py --data ./imagefolder --epochs 6 --out run \
        --resume run/checkpoint.pth.tar
"""

import argparse
import json
import os
import shutil
import time

import torch
import torch.backends.cudnn as cudnn
import torch.nn as nn
import torch.optim
import torch.utils.data
import torchvision.datasets as datasets
import torchvision.models as models
import torchvision.transforms as transforms
from torch.optim.lr_scheduler import StepLR

model_names = sorted(name for name in models.__dict__
                     if name.islower() and not name.startswith("__")
                     and callable(models.__dict__[name]))

parser = argparse.ArgumentParser(description="ImageNet-style training at toy scale")
parser.add_argument("--data", default=None, help="ImageFolder root (train/ and val/, or classes)")
parser.add_argument("-a", "--arch", default="resnet18", choices=model_names)
parser.add_argument("--num-classes", type=int, default=10)
parser.add_argument("--image-size", type=int, default=32)
parser.add_argument("--fake-size", type=int, default=256, help="FakeData images without --data")
parser.add_argument("-j", "--workers", type=int, default=0)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("-b", "--batch-size", type=int, default=32)
parser.add_argument("--lr", "--learning-rate", type=float, default=0.003, dest="lr")
parser.add_argument("--momentum", type=float, default=0.9)
parser.add_argument("--wd", "--weight-decay", type=float, default=1e-4, dest="weight_decay")
parser.add_argument("--lr-step", type=int, default=30, help="StepLR step size in epochs")
parser.add_argument("-p", "--print-freq", type=int, default=10)
parser.add_argument("--resume", default="", help="path to a checkpoint to continue from")
parser.add_argument("--out", default=".", help="folder for checkpoint.pth.tar")
parser.add_argument("-e", "--evaluate", action="store_true", help="only evaluate")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--amp", action="store_true", help="bfloat16 autocast")
parser.add_argument("--compile", action="store_true", help="torch.compile the model")


def main():
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    if torch.cuda.is_available():
        device = torch.device("cuda")
        cudnn.benchmark = True
    else:
        device = torch.device("cpu")

    print(f"=> creating model '{args.arch}'")
    model = models.__dict__[args.arch](num_classes=args.num_classes).to(device)
    criterion = nn.CrossEntropyLoss().to(device)
    optimizer = torch.optim.SGD(model.parameters(), args.lr, momentum=args.momentum,
                                weight_decay=args.weight_decay)
    scheduler = StepLR(optimizer, step_size=args.lr_step, gamma=0.1)

    start_epoch, best_acc1 = 0, 0.0
    if args.resume:
        if not os.path.isfile(args.resume):
            raise SystemExit(f"=> no checkpoint found at '{args.resume}'")
        print(f"=> loading checkpoint '{args.resume}'")
        loc = "cuda:0" if torch.cuda.is_available() else "cpu"
        checkpoint = torch.load(args.resume, map_location=loc)
        start_epoch = checkpoint["epoch"]
        best_acc1 = checkpoint["best_acc1"]
        model.load_state_dict(checkpoint["state_dict"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        print(f"=> loaded checkpoint '{args.resume}' (epoch {start_epoch})")

    train_model = torch.compile(model) if args.compile else model

    normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    train_transform = transforms.Compose([
        transforms.RandomResizedCrop(args.image_size, scale=(0.5, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        normalize,
    ])
    val_transform = transforms.Compose([
        transforms.Resize(args.image_size),
        transforms.CenterCrop(args.image_size),
        transforms.ToTensor(),
        normalize,
    ])
    split = torch.Generator().manual_seed(args.seed)
    if args.data is None:
        train_dataset = datasets.FakeData(args.fake_size, (3, args.image_size, args.image_size),
                                          args.num_classes, transforms.ToTensor())
        val_dataset = datasets.FakeData(args.fake_size // 4, (3, args.image_size,
                                        args.image_size), args.num_classes,
                                        transforms.ToTensor(), random_offset=args.fake_size)
    elif os.path.isdir(os.path.join(args.data, "train")):
        train_dataset = datasets.ImageFolder(os.path.join(args.data, "train"), train_transform)
        val_dataset = datasets.ImageFolder(os.path.join(args.data, "val"), val_transform)
    else:  # one folder: 80% to train, 20% to validate (the same split with the same seed)
        full = datasets.ImageFolder(args.data)
        n_val = max(1, len(full) // 5)
        train_part, val_part = torch.utils.data.random_split(
            range(len(full)), [len(full) - n_val, n_val], generator=split)
        train_dataset = torch.utils.data.Subset(
            datasets.ImageFolder(args.data, train_transform), list(train_part))
        val_dataset = torch.utils.data.Subset(
            datasets.ImageFolder(args.data, val_transform), list(val_part))

    train_loader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
        pin_memory=True)
    val_loader = torch.utils.data.DataLoader(
        val_dataset, batch_size=args.batch_size, shuffle=False, num_workers=args.workers,
        pin_memory=True)

    if args.evaluate:
        acc1, val_loss = validate(val_loader, model, criterion, device, args)
        print("RESULT " + json.dumps({"val_acc1": acc1, "val_loss": val_loss}))
        return

    losses, first_loss = [], None
    os.makedirs(args.out, exist_ok=True)
    for epoch in range(start_epoch, args.epochs):
        # a seed per epoch: the crops, flips and shuffle of epoch k are the same whether the run
        # went straight through or was resumed at k
        torch.manual_seed(args.seed * 1000 + epoch)
        train_loss = train(train_loader, train_model, criterion, optimizer, epoch, device, args)
        if first_loss is None:
            first_loss = train_loss[0]
        losses.append(train_loss[1])
        acc1, val_loss = validate(val_loader, model, criterion, device, args)
        scheduler.step()

        is_best = acc1 > best_acc1
        best_acc1 = max(acc1, best_acc1)
        save_checkpoint({
            "epoch": epoch + 1,
            "arch": args.arch,
            "state_dict": model.state_dict(),
            "best_acc1": best_acc1,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
        }, is_best, args.out)

    with torch.no_grad():
        checksum = sum(p.double().abs().sum().item() for p in model.parameters())
    if start_epoch >= args.epochs:  # nothing trained: validate the loaded model
        acc1, val_loss = validate(val_loader, model, criterion, device, args)
    print("RESULT " + json.dumps({
        "arch": args.arch, "start_epoch": start_epoch, "epochs": args.epochs,
        "first_batch_loss": first_loss, "epoch_losses": losses, "val_acc1": acc1,
        "val_loss": val_loss, "best_acc1": best_acc1, "lr": scheduler.get_last_lr()[0],
        "param_checksum": checksum}))


def train(train_loader, model, criterion, optimizer, epoch, device, args):
    batch_time = AverageMeter("Time", ":6.3f")
    data_time = AverageMeter("Data", ":6.3f")
    losses = AverageMeter("Loss", ":.4e")
    top1 = AverageMeter("Acc@1", ":6.2f")
    top5 = AverageMeter("Acc@5", ":6.2f")
    progress = ProgressMeter(len(train_loader), [batch_time, data_time, losses, top1, top5],
                             prefix=f"Epoch: [{epoch}]")
    model.train()
    first = None
    end = time.time()
    for i, (images, target) in enumerate(train_loader):
        data_time.update(time.time() - end)
        images = images.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)

        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=args.amp):
            output = model(images)
            loss = criterion(output, target)

        acc1, acc5 = accuracy(output, target, topk=(1, 5))
        losses.update(loss.item(), images.size(0))
        top1.update(acc1[0].item(), images.size(0))
        top5.update(acc5[0].item(), images.size(0))
        if first is None:
            first = loss.item()

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        batch_time.update(time.time() - end)
        end = time.time()
        if i % args.print_freq == 0:
            progress.display(i + 1)
    return first, losses.avg


def validate(val_loader, model, criterion, device, args):
    losses = AverageMeter("Loss", ":.4e")
    top1 = AverageMeter("Acc@1", ":6.2f")
    top5 = AverageMeter("Acc@5", ":6.2f")
    model.eval()
    with torch.no_grad():
        for images, target in val_loader:
            images, target = images.to(device), target.to(device)
            output = model(images)
            loss = criterion(output, target)
            acc1, acc5 = accuracy(output, target, topk=(1, 5))
            losses.update(loss.item(), images.size(0))
            top1.update(acc1[0].item(), images.size(0))
            top5.update(acc5[0].item(), images.size(0))
    print(f" * Acc@1 {top1.avg:.3f} Acc@5 {top5.avg:.3f}")
    return top1.avg, losses.avg


def save_checkpoint(state, is_best, folder, filename="checkpoint.pth.tar"):
    path = os.path.join(folder, filename)
    torch.save(state, path)
    if is_best:
        shutil.copyfile(path, os.path.join(folder, "model_best.pth.tar"))


class AverageMeter:
    """The latest value and the running average of a number."""

    def __init__(self, name, fmt=":f"):
        self.name, self.fmt = name, fmt
        self.reset()

    def reset(self):
        self.val = self.avg = self.sum = 0.0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count

    def __str__(self):
        fmtstr = "{name} {val" + self.fmt + "} ({avg" + self.fmt + "})"
        return fmtstr.format(**self.__dict__)


class ProgressMeter:
    def __init__(self, num_batches, meters, prefix=""):
        digits = len(str(num_batches))
        self.batch_fmtstr = "[{:" + str(digits) + "d}/" + str(num_batches) + "]"
        self.meters, self.prefix = meters, prefix

    def display(self, batch):
        entries = [self.prefix + self.batch_fmtstr.format(batch)]
        entries += [str(meter) for meter in self.meters]
        print("\t".join(entries))


def accuracy(output, target, topk=(1,)):
    """The top-k accuracy in percent for each k."""
    with torch.no_grad():
        maxk = min(max(topk), output.size(1))
        batch_size = target.size(0)
        _, pred = output.topk(maxk, 1, True, True)
        pred = pred.t()
        correct = pred.eq(target.view(1, -1).expand_as(pred))
        res = []
        for k in topk:
            correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
            res.append(correct_k.mul_(100.0 / batch_size))
        return res


if __name__ == "__main__":
    main()
