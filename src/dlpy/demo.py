"""`make demo`: a short, real demonstration.

First the essay scorer: the bundled EssayNet scores three example essays of clearly different
quality (written for dlpy) and shows the rubric criteria. Then the bundled Korean language model
fills a [MASK] in three sentences (`dlpy lm fill-mask`). Then the engine: a two-layer network
fits a noisy two-spirals dataset with plain gradient descent, the loss falling and the accuracy
rising.
"""

from __future__ import annotations

import numpy as np

import dlpy
import dlpy.functional as F
from dlpy import nn


def spirals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = rng.uniform(0.25, 1.0, n) * 3 * np.pi
    labels = rng.integers(0, 2, n)
    angle = t + labels * np.pi
    points = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / (3 * np.pi)
    points += rng.normal(0, 0.02, points.shape)
    return points.astype(np.float32), labels


def essay_demo() -> bool:
    """Score the bundled example essays; False (and a note) when the scorer cannot run."""
    from pathlib import Path

    from dlpy.essay.commands import BUNDLED_MODEL, format_result, score_doc

    try:
        from dlpy.essay.scorer import load_scorer
        from dlpy.text import get_analyzer

        scorer = load_scorer(BUNDLED_MODEL)
        analyzer = get_analyzer("kiwi")
    except (ImportError, RuntimeError, FileNotFoundError, ValueError) as err:
        print(f"essay scorer demo skipped: {err}")
        return False
    prompt = "미래의 나의 모습"
    print(f"dlpy essay scorer demo: the bundled EssayNet scores three essays on {prompt!r}")
    examples = Path(__file__).parent / "essay" / "examples"
    for name in ("good", "average", "poor"):
        path = examples / f"{name}.txt"
        text = path.read_text(encoding="utf-8")
        doc = scorer.doc(text, prompt, analyzer=analyzer)
        result = score_doc(scorer, doc)
        print(f"--- {name}.txt ({len(text)} characters): {text[:40].strip()}...")
        print(format_result(path.name, result))
    print()
    return True


FILL_MASK_EXAMPLES = ["대한민국의 수도는 [MASK]이다.", "배가 고파서 [MASK]을 먹었다.",
                      "나는 도서관에서 책[MASK] 읽었다."]


def fill_mask_demo() -> bool:
    """Fill a [MASK] with the bundled language model; False (and a note) when it cannot run."""
    try:
        from dlpy.lm.fill import load_pretrained

        lm = load_pretrained()
    except (ImportError, RuntimeError, FileNotFoundError, ValueError) as err:
        print(f"language model demo skipped: {err}")
        return False
    tokens = lm.meta.get("tokens_seen_total", lm.meta.get("tokens_seen"))
    seen = f", pretrained on {tokens / 1e6:.1f} M tokens" if tokens else ""
    print(f"dlpy lm fill-mask demo: the bundled Korean masked language model{seen}")
    for text in FILL_MASK_EXAMPLES:
        shown = "  ".join(f"{c['token']} {c['score']:.2f}" for c in lm.fill_mask(text, top_k=5))
        print(f"{text}\n  {shown}")
    print()
    return True


def main() -> None:
    essay_demo()
    fill_mask_demo()
    rng = np.random.default_rng(0)
    x, y = spirals(400, rng)
    model = [nn.Linear(2, 64, rng=rng), nn.Linear(64, 64, rng=rng), nn.Linear(64, 2, rng=rng)]
    params = [p for layer in model for p in layer.parameters()]
    inputs = dlpy.Tensor(x)
    print("dlpy engine demo: a 2-64-64-2 MLP learns two spirals (400 points)")
    for step in range(1, 1501):
        hidden = F.relu(model[1](F.relu(model[0](inputs))))
        loss = F.cross_entropy(model[2](hidden), y)
        for p in params:
            p.grad = None
        loss.backward()
        with dlpy.no_grad():
            for p in params:
                p.data -= 0.5 * p.grad.data
        if step == 1 or step % 300 == 0:
            accuracy = (model[2](hidden).data.argmax(axis=1) == y).mean()
            print(f"step {step:5d}  loss {loss.item():.4f}  accuracy {accuracy:.1%}")


if __name__ == "__main__":
    main()
