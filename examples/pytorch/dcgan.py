"""A small DCGAN: a transposed-convolution generator and a convolutional discriminator play
the adversarial game on small images, with the DCGAN paper's recipe (batch norm, LeakyReLU,
Adam with beta1 = 0.5, N(0, 0.02) weights).

    python dcgan.py --outf /tmp/dcgan                       # synthetic blob images, 32x32
    python dcgan.py --dataset fake --image-size 16 --steps 20

The "blobs" data are made here: a soft bright disc of random colour, size and place on a dark
background, so what the generator learns is easy to see in the saved grids. Grids of real
images and of the generator's samples for a fixed noise batch go to ``--outf``.
"""

import argparse
import json
import math
import os
import random
import time

import torch
import torch.nn as nn
import torch.optim as optim
import torch.utils.data
import torchvision.datasets as dset
import torchvision.transforms as transforms
import torchvision.utils as vutils


def make_blobs(count, image_size, channels, seed):
    """``count`` images in [-1, 1]: a Gaussian blob of random colour, radius and centre."""
    generator = torch.Generator().manual_seed(seed)
    coords = torch.arange(image_size, dtype=torch.float32)
    ys, xs = coords.view(1, -1, 1), coords.view(1, 1, -1)
    centre = torch.rand(count, 2, generator=generator) * (image_size * 0.6) + image_size * 0.2
    radius = torch.rand(count, 1, 1, generator=generator) * (image_size / 8) + image_size / 8
    distance2 = (ys - centre[:, 0].view(-1, 1, 1)) ** 2 + (xs - centre[:, 1].view(-1, 1, 1)) ** 2
    blob = torch.exp(-distance2 / (2 * radius ** 2))                    # (count, H, W)
    colour = torch.rand(count, channels, 1, 1, generator=generator) * 0.5 + 0.5
    images = blob.unsqueeze(1) * colour                                # (count, C, H, W) in [0, 1]
    return torch.utils.data.TensorDataset(images * 2 - 1)


class Generator(nn.Module):
    """(N, nz, 1, 1) noise -> (N, nc, S, S) images in [-1, 1]: 4x4, then doubling to S."""

    def __init__(self, nz, ngf, nc, image_size):
        super().__init__()
        stages = int(math.log2(image_size // 4))
        width = ngf * 2 ** (stages - 1)
        layers = [nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False),
                  nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    """(N, nc, S, S) images -> (N,) probabilities that they are real."""

    def __init__(self, ndf, nc, image_size):
        super().__init__()
        stages = int(math.log2(image_size // 4))
        layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        width = ndf
        for _ in range(stages - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, inplace=True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, input):
        return self.main(input).view(-1, 1).squeeze(1)


def weights_init(m):
    """The DCGAN paper's initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


def main():
    parser = argparse.ArgumentParser(description="DCGAN on small synthetic images")
    parser.add_argument("--dataset", choices=["blobs", "fake"], default="blobs")
    parser.add_argument("--num-images", type=int, default=2048)
    parser.add_argument("--image-size", type=int, default=32, choices=[16, 32, 64])
    parser.add_argument("--nc", type=int, default=3, help="image channels")
    parser.add_argument("--nz", type=int, default=32, help="size of the latent vector")
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--ndf", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: none)")
    parser.add_argument("--lr", type=float, default=0.0002)
    parser.add_argument("--beta1", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=999)
    parser.add_argument("--log-interval", type=int, default=10)
    parser.add_argument("--outf", default=None, help="folder for image grids and checkpoints")
    args = parser.parse_args()

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.outf:
        os.makedirs(args.outf, exist_ok=True)

    if args.dataset == "fake":
        dataset = dset.FakeData(size=args.num_images,
                                image_size=(args.nc, args.image_size, args.image_size),
                                transform=transforms.Compose([
                                    transforms.ToTensor(),
                                    transforms.Normalize((0.5,) * args.nc, (0.5,) * args.nc),
                                ]))
    else:
        dataset = make_blobs(args.num_images, args.image_size, args.nc, seed=args.seed)
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True,
                                             drop_last=True)

    netG = Generator(args.nz, args.ngf, args.nc, args.image_size).to(device)
    netG.apply(weights_init)
    netD = Discriminator(args.ndf, args.nc, args.image_size).to(device)
    netD.apply(weights_init)

    criterion = nn.BCELoss()
    fixed_noise = torch.randn(64, args.nz, 1, 1, device=device)
    real_label, fake_label = 1.0, 0.0
    optimizerD = optim.Adam(netD.parameters(), lr=args.lr, betas=(args.beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=args.lr, betas=(args.beta1, 0.999))

    def sample_gap(real):
        """How far the generator's fixed-noise samples are from real images in mean and spread."""
        with torch.no_grad():
            fake = netG(fixed_noise)
        return (abs(fake.mean().item() - real.mean().item())
                + abs(fake.std().item() - real.std().item()))

    reference = next(iter(dataloader))[0].to(device)
    gap_first = sample_gap(reference)
    history = []
    step = 0
    start = time.perf_counter()
    for epoch in range(args.epochs):
        for i, data in enumerate(dataloader, 0):
            # (1) update D: maximise log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            real_cpu = data[0].to(device)
            batch_size = real_cpu.size(0)
            label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=device)
            output = netD(real_cpu)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()

            noise = torch.randn(batch_size, args.nz, 1, 1, device=device)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()

            # (2) update G: maximise log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)  # the generator wants its fakes taken for real
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optimizerG.step()

            history.append((errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))
            if i % args.log_interval == 0:
                print(f"[{epoch}/{args.epochs}][{i}/{len(dataloader)}] Loss_D: {errD.item():.4f} "
                      f"Loss_G: {errG.item():.4f} D(x): {D_x:.4f} "
                      f"D(G(z)): {D_G_z1:.4f} / {D_G_z2:.4f}")
                if args.outf and i == 0:
                    vutils.save_image(real_cpu, f"{args.outf}/real_samples.png", normalize=True)
            step += 1
            if args.steps and step >= args.steps:
                break
        if args.outf:
            with torch.no_grad():
                fake = netG(fixed_noise)
            vutils.save_image(fake.detach(), f"{args.outf}/fake_samples_epoch_{epoch:03d}.png",
                              normalize=True)
            torch.save(netG.state_dict(), f"{args.outf}/netG_epoch_{epoch}.pth")
            torch.save(netD.state_dict(), f"{args.outf}/netD_epoch_{epoch}.pth")
        if args.steps and step >= args.steps:
            break
    seconds = time.perf_counter() - start

    grid = vutils.make_grid(netG(fixed_noise).detach()[:16], nrow=4, padding=2, normalize=True)
    window = max(1, min(10, len(history) // 2))
    first = [sum(values) / window for values in zip(*history[:window])]
    last = [sum(values) / window for values in zip(*history[-window:])]
    print("RESULT " + json.dumps({
        "steps": step, "loss_D_first": round(first[0], 4), "loss_D_last": round(last[0], 4),
        "loss_G_first": round(first[1], 4), "loss_G_last": round(last[1], 4),
        "D_x_last": round(last[2], 4), "D_G_z_last": round(last[3], 4),
        "sample_gap_first": round(gap_first, 4), "sample_gap_last": round(sample_gap(reference), 4),
        "grid_shape": list(grid.shape), "seconds": round(seconds, 2),
    }))


if __name__ == "__main__":
    main()
