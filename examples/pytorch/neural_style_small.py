"""Neural style transfer, in the shape of the PyTorch tutorial, made small: content and style
losses are modules inserted after chosen convolutions of a feature extractor (here a small
random-weight CNN standing in for VGG-19, whose weights need a download); the content loss is
the MSE between feature maps, the style loss the MSE between their Gram matrices; the input
image itself is optimised with L-BFGS, clamped to [0, 1] before each evaluation.

    python neural_style_small.py --size 64 --steps 150
    python neural_style_small.py --save out.png          # the result beside content and style

The content image is generated (a few flat-coloured shapes), the style image too (coloured
diagonal stripes with a checker pattern).
"""

import argparse
import copy
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        # a fixed target, not a value the gradient should flow into
        self.target = target.detach()

    def forward(self, input):
        self.loss = F.mse_loss(input, self.target)
        return input


def gram_matrix(input):
    a, b, c, d = input.size()           # (batch, feature maps, height, width)
    features = input.view(a * b, c * d)
    G = torch.mm(features, features.t())
    return G.div(a * b * c * d)


class StyleLoss(nn.Module):
    def __init__(self, target_feature):
        super().__init__()
        self.target = gram_matrix(target_feature).detach()

    def forward(self, input):
        G = gram_matrix(input)
        self.loss = F.mse_loss(G, self.target)
        return input


class Normalization(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        # (C, 1, 1), so they broadcast over an image tensor (B, C, H, W)
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def forward(self, img):
        return (img - self.mean) / self.std


def feature_extractor(seed):
    """A VGG-like stack of 3x3 convolutions, ReLUs and max pools with random weights."""
    torch.manual_seed(seed)
    layers = []
    in_channels = 3
    for width in (16, 16, "M", 32, 32, "M", 64):
        if width == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            in_channels = width
    return nn.Sequential(*layers)


def get_style_model_and_losses(cnn, mean, std, style_img, content_img,
                               content_layers=("conv_4",),
                               style_layers=("conv_1", "conv_2", "conv_3", "conv_4", "conv_5")):
    normalization = Normalization(mean, std)
    content_losses = []
    style_losses = []
    model = nn.Sequential(normalization)

    i = 0  # counts convolutions
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name = f"relu_{i}"
            # an in-place ReLU would overwrite what the loss modules saw
            layer = nn.ReLU(inplace=False)
        elif isinstance(layer, nn.MaxPool2d):
            name = f"pool_{i}"
        elif isinstance(layer, nn.BatchNorm2d):
            name = f"bn_{i}"
        else:
            raise RuntimeError(f"Unrecognized layer: {layer.__class__.__name__}")
        model.add_module(name, layer)

        if name in content_layers:
            target = model(content_img).detach()
            content_loss = ContentLoss(target)
            model.add_module(f"content_loss_{i}", content_loss)
            content_losses.append(content_loss)
        if name in style_layers:
            target_feature = model(style_img).detach()
            style_loss = StyleLoss(target_feature)
            model.add_module(f"style_loss_{i}", style_loss)
            style_losses.append(style_loss)

    # drop the layers after the last loss
    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], (ContentLoss, StyleLoss)):
            break
    model = model[:(i + 1)]
    return model, style_losses, content_losses


def run_style_transfer(cnn, mean, std, content_img, style_img, input_img, num_steps,
                       style_weight, content_weight, history):
    print("Building the style transfer model..")
    model, style_losses, content_losses = get_style_model_and_losses(cnn, mean, std, style_img,
                                                                     content_img)
    # optimise the image, not the model
    input_img.requires_grad_(True)
    model.eval()
    model.requires_grad_(False)
    optimizer = optim.LBFGS([input_img])

    print("Optimizing..")
    run = [0]
    while run[0] <= num_steps:

        def closure():
            with torch.no_grad():
                input_img.clamp_(0, 1)
            optimizer.zero_grad()
            model(input_img)
            style_score = 0
            content_score = 0
            for sl in style_losses:
                style_score += sl.loss
            for cl in content_losses:
                content_score += cl.loss
            style_score *= style_weight
            content_score *= content_weight
            loss = style_score + content_score
            loss.backward()
            run[0] += 1
            history.append((style_score.item(), content_score.item()))
            if run[0] % 50 == 0:
                print(f"run {run[0]}: Style Loss : {style_score.item():4f} "
                      f"Content Loss: {content_score.item():4f}")
            return style_score + content_score

        optimizer.step(closure)

    with torch.no_grad():
        input_img.clamp_(0, 1)
    return input_img


def make_images(size, generator):
    """A content image of flat shapes on a plain ground and a striped, checked style image,
    both (1, 3, size, size) in [0, 1]."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size),
                            indexing="ij")
    content = torch.empty(3, size, size)
    content[:] = torch.tensor([0.8, 0.8, 0.7]).view(3, 1, 1)
    disc = (ys - 0.4) ** 2 + (xs - 0.35) ** 2 < 0.05
    box = (ys > 0.55) & (ys < 0.9) & (xs > 0.5) & (xs < 0.85)
    content[:, disc] = torch.tensor([0.9, 0.2, 0.1]).view(3, 1)
    content[:, box] = torch.tensor([0.1, 0.3, 0.8]).view(3, 1)
    stripes = torch.sin((xs + ys) * 3.1416 * 8) > 0
    checks = ((ys * 6).floor() + (xs * 6).floor()) % 2 == 0
    style = torch.stack([stripes.float() * 0.9, checks.float() * 0.7,
                         0.5 * (stripes ^ checks).float() + 0.2])
    style = style + 0.05 * torch.rand(style.shape, generator=generator)
    return content.unsqueeze(0), style.clamp(0, 1).unsqueeze(0)


def main():
    parser = argparse.ArgumentParser(description="Neural style transfer, small")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--style-weight", type=float, default=1e4)
    parser.add_argument("--content-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="write content | style | result as a PNG")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(args.seed)
    content_img, style_img = make_images(args.size, generator)
    cnn = feature_extractor(args.seed).eval()
    mean = [0.485, 0.456, 0.406]
    std = [0.229, 0.224, 0.225]
    input_img = content_img.clone()

    start = time.perf_counter()
    history = []
    output = run_style_transfer(cnn, mean, std, content_img, style_img, input_img, args.steps,
                                args.style_weight, args.content_weight, history)
    seconds = time.perf_counter() - start

    if args.save:
        from torchvision.utils import save_image
        save_image(torch.cat([content_img, style_img, output.detach()]), args.save, nrow=3)

    # the same losses measured afresh on a copy of the model, to check the result
    model, style_losses, content_losses = get_style_model_and_losses(
        copy.deepcopy(cnn), mean, std, style_img, content_img)
    with torch.no_grad():
        model(output)
    final_style = sum(sl.loss.item() for sl in style_losses) * args.style_weight
    final_content = sum(cl.loss.item() for cl in content_losses) * args.content_weight
    print("RESULT " + json.dumps({
        "first_style_loss": round(history[0][0], 4), "first_content_loss": round(history[0][1], 4),
        "last_style_loss": round(final_style, 4), "last_content_loss": round(final_content, 4),
        "evaluations": len(history),
        "pixel_range": [round(output.min().item(), 4), round(output.max().item(), 4)],
        "seconds": round(seconds, 2),
    }))


if __name__ == "__main__":
    main()
