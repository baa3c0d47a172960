"""U-GAT-IT's inference surface: a face crop translated, with the attention that steered it and what changes without it.

Everything a tab or a benchmark shows comes out of one call (`translate`) as named arrays: the translation, the
generator's GAP, GMP and fused attention maps, the auxiliary classifier's probability that the face is from the
source domain (each branch), rho of every AdaLIN layer, the global and local discriminators' CAM maps, and the
same face translated with attention off (each w_k replaced by the mean of w). Images are uint8 HxWx3 RGB.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan_viz import hub
from gan_viz.attention_agreement import pooled_change, rank_correlation
from gan_viz.device import get_device
from gan_viz.imaging import resize
from gan_viz.models.ugatit.network import DIRECTIONS, UGATIT, UGATITConfig

FAMILY = "ugatit"


def to_tensor(crop: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """uint8 (S, S, 3) face crop -> (1, 3, size, size) in [-1, 1], resized as the training faces were."""
    crop = crop if crop.shape[0] == size else resize(crop, (size, size))
    return torch.from_numpy(np.array(crop, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1).unsqueeze(0).to(device)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def unit(m: torch.Tensor) -> np.ndarray:
    """A map (h, w) scaled to [0, 1] (its minimum to 0, its maximum to 1) for display and ranking."""
    m = m.float().cpu().numpy()
    span = m.max() - m.min()
    return (m - m.min()) / span if span > 0 else np.zeros_like(m)


@dataclass
class Translation:
    x: np.ndarray  # the input at the model's size
    fake: np.ndarray  # G(x)
    fake_attention_off: np.ndarray  # G(x) with every w_k replaced by the mean of w
    maps: dict[str, np.ndarray]  # "gap", "gmp", "fused" (the generator's), "d_global", "d_local": each in [0, 1]
    p_source: dict[str, float]  # the auxiliary classifier's p(source domain), "gap" and "gmp"
    rho: list[float]  # mean rho of every AdaLIN layer, in decoder order

    @property
    def change(self) -> np.ndarray:
        """|G(x) - x| averaged over the colour channels, in [0, 1] pixel units: (S, S)."""
        return np.abs(self.fake.astype(np.float32) - self.x.astype(np.float32)).mean(-1) / 255

    @property
    def attention_off_change(self) -> float:
        """Mean |G(x) - G_off(x)| in [0, 1] pixel units: how much attention moves the output."""
        return float(np.abs(self.fake.astype(np.float32) - self.fake_attention_off.astype(np.float32)).mean() / 255)


class UGATITTranslator:
    """The loaded translator; re-entrant (nothing is stored between calls)."""

    def __init__(self, model: UGATIT, device: torch.device, source: hub.ResolvedWeights | None = None):
        self.model, self.device, self.source = model.to(device).eval(), device, source
        self.size = model.config.image_size

    @classmethod
    def from_weights(cls, w: hub.ResolvedWeights) -> "UGATITTranslator":
        model = UGATIT(UGATITConfig.from_dict(w.config))
        model.load_state_dict({k: v.float() for k, v in w.state_dict().items()})
        return cls(model, get_device(), w)

    @torch.inference_mode()
    def translate(self, crop: np.ndarray, direction: str) -> Translation:
        g = self.model.generator(direction)
        x = to_tensor(crop, self.size, self.device)  # (1, 3, S, S)
        a = g.attend(x)
        fake = g.decode(a["h"])
        fake_off = g.decode(g.attend(x, attention=False)["h"])
        d = self.model.target_discriminators(direction)
        p = torch.sigmoid(a["cam_logit"][0]).tolist()
        return Translation(
            x=to_uint8(x), fake=to_uint8(fake), fake_attention_off=to_uint8(fake_off),
            maps={"gap": unit(a["gap_map"][0]), "gmp": unit(a["gmp_map"][0]), "fused": unit(a["heatmap"][0]),
                  "d_global": unit(d["global"](fake)[2][0]), "d_local": unit(d["local"](fake)[2][0])},
            p_source={"gap": p[0], "gmp": p[1]},
            rho=[float(n.rho.mean()) for n in g.adalin_layers()])


def agreement(attention: np.ndarray, change: np.ndarray) -> float:
    """Spearman's rank correlation of an attention map with |G(x) - x| pooled to the map's grid."""
    return rank_correlation(attention, pooled_change(change, attention.shape))


__all__ = ["DIRECTIONS", "FAMILY", "Translation", "UGATITTranslator", "agreement"]
