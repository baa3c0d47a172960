"""Adversarial examples against the CAM classifier: FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018).

Written out by hand because the attack *is* the lesson. Everything works in pixel levels on the
exact 8-bit crop the app feeds the classifier (x in [0, 255], epsilon in levels), so the returned
adversarial image is a real uint8 image within epsilon of the crop, not a float tensor that
stops fooling the model once it is saved.

FGSM, untargeted:  x' = clip(x + eps * sign(grad_x J(x, y)))            (J: cross-entropy, y: the predicted class)
FGSM, targeted:    x' = clip(x - eps * sign(grad_x J(x, t)))            (t: the class the attacker wants)
PGD:               x_{k+1} = Proj_{|x' - x| <= eps}(x_k + alpha * sign(grad_x J(x_k, y))), k steps from a random start

At the end, the attacks adversarial training uses (FGSM with a random start, TRADES' KL step), on float inputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

METHODS = ("fgsm", "pgd")
MAX_EPSILON = 16.0  # pixel levels out of 255


def to_model(x255: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) in [0, 255] -> the model's [-1, 1] input (the same map as utkface.to_input)."""
    return x255 / 127.5 - 1.0


def _loss(model: nn.Module, x255: torch.Tensor, head: str, cls: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(to_model(x255))[head], cls, reduction="sum")  # sum: per-sample gradients unscaled


def input_gradient(model: nn.Module, x255: torch.Tensor, head: str, cls: torch.Tensor) -> torch.Tensor:
    """grad_x J(x, cls) with the model's parameters untouched (autograd.grad: no .grad written, thread-safe)."""
    x = x255.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(_loss(model, x, head, cls), x)
    return g


def fgsm(model: nn.Module, x255: torch.Tensor, head: str, cls: torch.Tensor, eps: float,
         targeted: bool = False) -> torch.Tensor:
    """One signed-gradient step of size eps (levels): away from cls, or towards it when targeted."""
    sign = -1.0 if targeted else 1.0
    g = input_gradient(model, x255, head, cls)
    return (x255 + sign * eps * g.sign()).clamp(0, 255).detach()


def pgd(model: nn.Module, x255: torch.Tensor, head: str, cls: torch.Tensor, eps: float, steps: int = 10,
        alpha: float | None = None, targeted: bool = False, random_start: bool = True, seed: int = 0) -> torch.Tensor:
    """k projected signed-gradient steps of size alpha, kept within eps of x (L-infinity) and within [0, 255]."""
    alpha = alpha if alpha is not None else max(eps / 4, 0.5)
    sign = -1.0 if targeted else 1.0
    x_adv = x255.clone()
    if random_start and eps > 0:
        gen = torch.Generator().manual_seed(seed)  # the same request gives the same answer
        x_adv = x_adv + (torch.rand(x255.shape, generator=gen) * 2 - 1).to(x255.device) * eps
    for _ in range(steps):
        x_adv = x_adv.clamp(0, 255)
        g = input_gradient(model, x_adv, head, cls)
        x_adv = x_adv + sign * alpha * g.sign()
        x_adv = torch.min(torch.max(x_adv, x255 - eps), x255 + eps)  # projection onto the eps-ball
    return x_adv.clamp(0, 255).detach()


def to_uint8_within(x_adv: torch.Tensor, x255: torch.Tensor, eps: float) -> torch.Tensor:
    """Round to 8-bit levels and stay within eps (x is integer; eps may not be: floor it for the bound)."""
    bound = float(np.floor(eps + 1e-6))
    r = x_adv.round()
    return torch.min(torch.max(r, x255 - bound), x255 + bound).clamp(0, 255)


@dataclass
class Attack:
    method: str
    epsilon: float  # levels out of 255
    steps: int
    alpha: float | None
    clean: np.ndarray  # uint8 (S, S, 3): the crop the model sees
    adversarial: np.ndarray  # uint8 (S, S, 3): rounded to 8 bits, within epsilon
    linf: float  # max |adversarial - clean| in levels
    float_fools: bool  # the attack's float result fooled the model before rounding
    rounded_fools: bool  # the 8-bit image fools it (what the user gets)


def attack(model: nn.Module, crop: np.ndarray, device: torch.device, head: str, cls: int, method: str, eps: float,
           steps: int = 10, alpha: float | None = None, targeted: bool = False,
           success=None) -> Attack:
    """Attack one uint8 crop at the model's size; success(logits_dict) -> bool says whether the model is fooled."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if not 0 <= eps <= MAX_EPSILON:
        raise ValueError(f"epsilon must be between 0 and {MAX_EPSILON:g} pixel levels (out of 255), got {eps:g}")
    if method == "pgd" and not 1 <= int(steps) <= 100:
        raise ValueError(f"PGD steps must be between 1 and 100, got {steps}")
    x = torch.from_numpy(np.array(crop, dtype=np.uint8)).permute(2, 0, 1).float().unsqueeze(0).to(device)
    c = torch.tensor([cls], device=device)
    if method == "fgsm":
        x_adv, steps, alpha = fgsm(model, x, head, c, eps, targeted), 1, eps
    else:
        alpha = alpha if alpha is not None else max(eps / 4, 0.5)
        x_adv = pgd(model, x, head, c, eps, int(steps), alpha, targeted)
    r = to_uint8_within(x_adv, x, eps)
    with torch.no_grad():
        float_fools = bool(success(model(to_model(x_adv)))) if success else False
        rounded_fools = bool(success(model(to_model(r)))) if success else False
    adv = r[0].permute(1, 2, 0).byte().cpu().numpy()
    return Attack(method, float(eps), int(steps), alpha, np.array(crop, dtype=np.uint8), adv,
                  float((r - x).abs().max()), float_fools, rounded_fools)


# ---------------------------------------------------------------- training-time attacks (the robust twin's training)
# These work on the model's [-1, 1] input in float, as training does; a level is 2/255 there.


def fgsm_random_start(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps_levels: float,
                      gen: torch.Generator) -> torch.Tensor:
    """The training input of 'Fast is better than free' (Wong et al. 2020): delta ~ U(-eps, eps), one FGSM step
    of 1.25 eps from there, projected back to the eps-ball. x is in [-1, 1], so a level is 2/255."""
    eps = eps_levels * 2 / 255
    delta = ((torch.rand(x.shape, generator=gen) * 2 - 1) * eps).to(x.device).requires_grad_(True)
    loss = F.cross_entropy(model((x + delta).clamp(-1, 1))["gender"], y)
    (g,) = torch.autograd.grad(loss, delta)
    delta = (delta + 1.25 * eps * g.sign()).clamp(-eps, eps).detach()
    return (x + delta).clamp(-1, 1).contiguous(memory_format=torch.channels_last)


def trades_adversary(model: nn.Module, x: torch.Tensor, eps_levels: float, gen: torch.Generator) -> torch.Tensor:
    """TRADES' training input (Zhang et al., ICML 2019), in one step: from a random start in the eps-ball, one signed
    step of 1.25 eps up the KL divergence between the clean and the perturbed gender predictions, projected back.
    Unlike FGSM on the label it needs no label: it seeks where the prediction moves most, not where it is wrong."""
    eps = eps_levels * 2 / 255
    with torch.no_grad():
        p_clean = F.softmax(model(x)["gender"], 1)
    delta = ((torch.rand(x.shape, generator=gen) * 2 - 1) * eps).to(x.device).requires_grad_(True)
    kl = F.kl_div(F.log_softmax(model((x + delta).clamp(-1, 1))["gender"], 1), p_clean, reduction="batchmean")
    (g,) = torch.autograd.grad(kl, delta)
    delta = (delta + 1.25 * eps * g.sign()).clamp(-eps, eps).detach()
    return (x + delta).clamp(-1, 1).contiguous(memory_format=torch.channels_last)
