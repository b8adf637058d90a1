"""Single-image super-resolution with a sub-pixel convolutional network (ESPCN, Shi et al.
2016), the shape of the classic PyTorch example: four convolutions on the low-resolution
luminance, the last one giving upscale_factor^2 channels that PixelShuffle rearranges into
an image upscale_factor times larger; MSE loss, PSNR = 10 log10(1 / MSE).

    python super_resolution.py --upscale-factor 2 --epochs 10

The images are made here: smooth random patterns (sums of a few oriented sinusoids and
Gaussian spots) in [0, 1] as the high-resolution targets, their average-pooled copies as the
inputs. The PSNR of bicubic upsampling on the same test images is printed beside the model's.
"""

import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.init as init
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 64, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(64, 64, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(64, 32, (3, 3), (1, 1), (1, 1))
        self.conv4 = nn.Conv2d(32, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)
        self._initialize_weights()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        return self.pixel_shuffle(self.conv4(x))   # (N, r^2, h, w) -> (N, 1, r h, r w)

    def _initialize_weights(self):
        init.orthogonal_(self.conv1.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv2.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv3.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv4.weight)


def make_images(count, size, seed):
    """``count`` (1, size, size) smooth patterns in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    coords = torch.linspace(0, 1, size)
    ys, xs = coords.view(1, -1, 1), coords.view(1, 1, -1)
    images = torch.zeros(count, size, size)
    for _ in range(3):  # oriented waves
        angle = torch.rand(count, 1, 1, generator=generator) * math.pi
        frequency = torch.rand(count, 1, 1, generator=generator) * 6 + 2
        phase = torch.rand(count, 1, 1, generator=generator) * 2 * math.pi
        images += torch.sin(2 * math.pi * frequency
                            * (xs * torch.cos(angle) + ys * torch.sin(angle)) + phase)
    for _ in range(2):  # spots
        centre = torch.rand(count, 2, 1, 1, generator=generator)
        width = torch.rand(count, 1, 1, generator=generator) * 0.1 + 0.05
        distance2 = (ys - centre[:, 0]) ** 2 + (xs - centre[:, 1]) ** 2
        images += 3 * torch.exp(-distance2 / (2 * width ** 2))
    low, high = images.amin(dim=(1, 2), keepdim=True), images.amax(dim=(1, 2), keepdim=True)
    return ((images - low) / (high - low)).unsqueeze(1)


def psnr(mse):
    return 10 * math.log10(1 / mse)


def main():
    parser = argparse.ArgumentParser(description="ESPCN super-resolution on synthetic images")
    parser.add_argument("--upscale-factor", type=int, default=2)
    parser.add_argument("--crop-size", type=int, default=32, help="high-resolution image size")
    parser.add_argument("--train-images", type=int, default=512)
    parser.add_argument("--test-images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--test-batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--save-model", default=None, help="save the whole model to this file")
    args = parser.parse_args()
    if args.crop_size % args.upscale_factor:
        parser.error("--crop-size must be a multiple of --upscale-factor")

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def pairs(count, seed):
        target = make_images(count, args.crop_size, seed)
        return TensorDataset(F.avg_pool2d(target, args.upscale_factor), target)

    training_data_loader = DataLoader(pairs(args.train_images, args.seed),
                                      batch_size=args.batch_size, shuffle=True)
    testing_data_loader = DataLoader(pairs(args.test_images, args.seed + 1),
                                     batch_size=args.test_batch_size)

    model = Net(upscale_factor=args.upscale_factor).to(device)
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)

    def train(epoch):
        epoch_loss = 0
        for input, target in training_data_loader:
            input, target = input.to(device), target.to(device)
            optimizer.zero_grad()
            loss = criterion(model(input), target)
            epoch_loss += loss.item()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        print(f"===> Epoch {epoch} Complete: Avg. Loss: "
              f"{epoch_loss / len(training_data_loader):.4f}")

    def test():
        avg_psnr = avg_bicubic = 0
        with torch.no_grad():
            for input, target in testing_data_loader:
                input, target = input.to(device), target.to(device)
                avg_psnr += psnr(criterion(model(input), target).item())
                upsampled = F.interpolate(input, scale_factor=args.upscale_factor,
                                          mode="bicubic", align_corners=False)
                avg_bicubic += psnr(criterion(upsampled.clamp(0, 1), target).item())
        count = len(testing_data_loader)
        print(f"===> Avg. PSNR: {avg_psnr / count:.4f} dB (bicubic: {avg_bicubic / count:.4f} dB)")
        return avg_psnr / count, avg_bicubic / count

    losses = []
    start = time.perf_counter()
    psnr_start, bicubic = test()
    for epoch in range(1, args.epochs + 1):
        train(epoch)
        psnr_end, _ = test()
    seconds = time.perf_counter() - start
    if args.save_model:
        torch.save(model, args.save_model)

    print("RESULT " + json.dumps({
        "first_loss": round(losses[0], 5), "last_loss": round(losses[-1], 5),
        "steps": len(losses), "psnr_start": round(psnr_start, 3),
        "psnr": round(psnr_end, 3), "psnr_bicubic": round(bicubic, 3),
        "seconds": round(seconds, 2),
    }))


if __name__ == "__main__":
    main()
