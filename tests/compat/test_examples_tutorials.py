"""The PyTorch-tutorial programs of examples/pytorch (unchanged PyTorch code) run on dlpy
through dlpy.compat and learn: tiny settings, in-process, each printing a `RESULT {json}`
line."""

import json
from pathlib import Path

from dlpy import compat

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pytorch"


def run_example(capsys, name: str, *args: str) -> dict:
    compat.run([str(EXAMPLES / name), *args])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("RESULT ")]
    assert lines, f"{name} printed no RESULT line"
    return json.loads(lines[-1][len("RESULT "):])


def test_legendre_autograd_function_and_rmsprop_polynomial_fit_sin(capsys):
    result = run_example(capsys, "autograd_function_legendre.py", "--points", "500",
                         "--steps", "300", "--lr", "6e-5", "--poly-steps", "300",
                         "--poly-lr", "1e-2", "--log-every", "100")
    assert result["grad_error"] < 1e-12  # the hand-written backward equals autograd's
    assert result["legendre_last_loss"] < 0.1 * result["legendre_first_loss"]
    assert result["poly_last_loss"] < 0.1 * result["poly_first_loss"]
    # sin(x) ~ x - x^3/6 near 0: a positive linear and a negative cubic coefficient
    _, w1, _, w3 = result["poly_coefficients"]
    assert w1 > 0.5 and w3 < 0


def test_torch_func_per_sample_grads_ensembles_and_jacobians_match_autograd(capsys):
    result = run_example(capsys, "torch_func_tutorials.py", "--batch-size", "6",
                         "--num-models", "3")
    assert result["per_sample_shape"] == [6, 8, 1, 3, 3]
    assert result["per_sample_max_diff"] < 1e-5
    assert result["ensemble_shape"] == [3, 64, 4] and result["ensemble_max_diff"] < 1e-5
    assert result["jacobian_max_diff"] < 1e-5 and result["hessian_max_diff"] < 1e-5
    assert result["hessian_asymmetry"] < 1e-5 and result["batch_jacobian_shape"] == [5, 4, 3]


def test_spatial_transformer_learns_rotated_figures(capsys):
    result = run_example(capsys, "spatial_transformer.py", "--train-size", "1024",
                         "--test-size", "200", "--batch-size", "32", "--epochs", "1",
                         "--lr", "0.03", "--log-interval", "100")
    assert result["steps"] == 32
    assert result["last_loss"] < result["first_loss"] - 0.1
    assert result["test_accuracy"] > 0.15  # chance: 0.1
    assert 0 < result["theta_distance"] < 2  # moved from the identity, not blown up


def test_fgsm_accuracy_falls_as_epsilon_grows(capsys):
    result = run_example(capsys, "fgsm_attack.py", "--train-size", "512", "--batch-size", "32",
                         "--epochs", "1", "--test-size", "25", "--epsilons", "0,0.1,0.3",
                         "--lr", "2e-3")
    assert result["last_loss"] < result["first_loss"] - 0.5
    clean, small, large = result["accuracies"]
    assert clean > 0.5 and clean >= small >= large and large < clean - 0.3


def test_char_rnn_classifies_generated_names_above_chance(capsys):
    result = run_example(capsys, "char_rnn_classify_names.py", "--iters", "400",
                         "--languages", "3", "--names", "60", "--hidden", "32", "--lr", "0.02",
                         "--eval", "60", "--print-every", "200")
    assert result["categories"] == 3
    assert result["last_loss"] < result["first_loss"]
    assert result["accuracy"] > 0.5  # chance: 1/3


def test_neural_style_lbfgs_lowers_the_style_loss_and_keeps_pixels_in_range(capsys):
    result = run_example(capsys, "neural_style_small.py", "--size", "24", "--steps", "20")
    assert result["first_content_loss"] == 0  # it starts from the content image
    assert result["last_style_loss"] < 0.5 * result["first_style_loss"]
    low, high = result["pixel_range"]
    assert 0 <= low and high <= 1
