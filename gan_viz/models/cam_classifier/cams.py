"""Class activation maps written out by hand, because they are the lesson: CAM, Grad-CAM, Grad-CAM++.

All three weigh the K channels of a conv activation A (K, h, w) and sum them; they differ
only in the weights (one small contract, as in pytorch-grad-cam's base_cam):
  CAM       (Zhou et al., CVPR 2016):      M_c = sum_k w_k^c A_k, w^c the linear head's row for class c.
                                           Defined only at the last conv layer, the one GAP feeds.
  Grad-CAM  (Selvaraju et al., ICCV 2017): alpha_k^c = (1/Z) sum_ij dy^c/dA_k^ij,
                                           L_c = ReLU(sum_k alpha_k^c A_k).
  Grad-CAM++ (Chattopadhay et al., WACV 2018):
      a_k^ij = g^2 / (2 g^2 + sum_ab A_k^ab g^3)   with g = dy^c/dA_k^ij (the exp-score closed form),
      w_k^c = sum_ij a_k^ij ReLU(g_ij),   L_c = ReLU(sum_k w_k^c A_k).
For a GAP + linear net at the last layer dy^c/dA_k^ij = w_k^c / Z, so Grad-CAM = ReLU(CAM) / Z:
the two agree up to a positive scale (tests check it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

METHODS = ("cam", "gradcam", "gradcam++")


@dataclass
class RawCAM:
    weights: torch.Tensor  # (K,) channel weights used
    activation: torch.Tensor  # (K, h, w) the layer's activation A
    cam: torch.Tensor  # (h, w) the map before ReLU/normalisation (CAM) or after ReLU (Grad-CAM family)
    score: float  # y^c, the logit explained
    c: int  # the class explained (the head's top class when none was asked for)


def cam(activation: torch.Tensor, head_weight: torch.Tensor, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    """M_c(x, y) = sum_k w_k^c f_k(x, y). activation (K, h, w), head_weight (n_classes, K)."""
    w = head_weight[c]  # (K,)
    return w, torch.einsum("k,khw->hw", w, activation)


def gradcam(activation: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha_k = mean_ij dy/dA_k^ij; L = ReLU(sum_k alpha_k A_k). activation, grad: (K, h, w)."""
    alpha = grad.mean(dim=(1, 2))  # (K,)
    return alpha, torch.relu(torch.einsum("k,khw->hw", alpha, activation))


def gradcam_pp(activation: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM++ weights from first-order gradients (the closed form for an exponential score)."""
    g2, g3 = grad.pow(2), grad.pow(3)
    denom = 2 * g2 + activation.sum(dim=(1, 2), keepdim=True) * g3  # (K, h, w)
    a = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))  # 0/0 -> 0 where the gradient vanishes
    w = (a * torch.relu(grad)).sum(dim=(1, 2))  # (K,)
    return w, torch.relu(torch.einsum("k,khw->hw", w, activation))


def normalise(m: torch.Tensor) -> torch.Tensor:
    """Positive evidence scaled to [0, 1]: ReLU(M) / max ReLU(M) (all zeros when there is none)."""
    m = torch.relu(m)
    top = m.max()
    return m / top if top > 0 else m


def explain(model, x: torch.Tensor, head: str, c: int | None, method: str, layer: str) -> RawCAM:
    """Run one method on a single input x (1, 3, S, S) for class c of a head, at a named conv layer.

    c None: the head's top class, read off the same forward pass (no second pass just to classify).

    `model` offers activations(x) -> (logits per head, {layer: A}) and heads[head].weight; no hooks
    are registered, so concurrent requests cannot see each other's tensors.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if method == "cam":
        if layer != model.last_layer:
            raise ValueError(f"CAM is defined only at the last conv layer ({model.last_layer}), whose pooled "
                             f"features the linear head weighs; use Grad-CAM or Grad-CAM++ for {layer}.")
        with torch.no_grad():
            logits, acts = model.activations(x)
            c = int(logits[head][0].argmax()) if c is None else c
            a = acts[layer][0]  # (K, h, w)
            w, m = cam(a, model.heads[head].weight, c)
        return RawCAM(w.detach(), a, m.detach(), float(logits[head][0, c]), c)
    with torch.enable_grad():
        logits, acts = model.activations(x.requires_grad_(True))
        c = int(logits[head][0].argmax()) if c is None else c
        score = logits[head][0, c]
        (grad,) = torch.autograd.grad(score, acts[layer])  # (1, K, h, w), dy^c/dA
    a, g = acts[layer][0].detach(), grad[0]
    w, m = gradcam(a, g) if method == "gradcam" else gradcam_pp(a, g)
    return RawCAM(w.detach(), a, m.detach(), float(score.detach()), c)
