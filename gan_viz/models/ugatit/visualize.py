"""U-GAT-IT's inference surface: a face's cycle for the photo path, and the attention that steered its translation.

`translate` gives the same Cycle the CycleGAN gives (G(x), F(G(x)), F(x), D_target's patch map), so faces in photos
go through the shared photo path (models/photo_flip.py). `attention(cycle)` reads what only U-GAT-IT has, because its
CAM module was trained inside the translator: the generator's GAP, GMP and fused attention maps, the auxiliary
classifier's probability that the face is from the source domain (each branch), rho of every AdaLIN layer, the
global and local discriminators' CAM maps, and the same face translated with attention off (each w_k replaced by the
mean of w). Images are uint8 HxWx3 RGB; maps are scaled to [0, 1].
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from gan_viz import batching, hub
from gan_viz.attention_agreement import pooled_change, rank_correlation
from gan_viz.device import get_device
from gan_viz.models.photo_flip import (
    Cycle,
    PhotoFlipper,
    check_direction,
    make_cycle,
    to_tensor,
    to_uint8,
)
from gan_viz.models.surface import ModelSurface
from gan_viz.models.ugatit.card import FAMILY
from gan_viz.models.ugatit.network import DIRECTIONS, UGATIT, UGATITConfig

MAPS = ("gap", "gmp", "fused", "d_global", "d_local")
# How far along G(x) - x a photo is moved, per direction: the strongest flip that keeps the face's structure (SSIM of
# 64 px grey faces >= 0.75 on crops), chosen as for the CycleGAN, again with each export (the weights move). On the
# first 100 validation crops per direction at step 26,989 (`benchmarks/gender_flip_quality.py --n 100 --strength S
# --no-cyclegan`): male -> female 1.1 / 1.15 / 1.2 kept 0.773 / 0.757 / 0.741 and flipped 100% each; female -> male
# kept 0.760 / 0.743 / 0.725 and flipped 90% / 90% / 92% (the CycleGAN 99% / 85% on those faces). Its blend keeps
# the photo's detail ("photo"): with the CycleGAN's ("model") U-GAT-IT, which redraws more of the face, kept 0.73 /
# 0.58 of it in pictures at s 1.2 (step 4,728), and on 100 women in pictures at step 20,853 flipped 67% against 63%
# while keeping 0.44 of the detail against 0.80.
CALIBRATED_STRENGTH = {"male_to_female": 1.15, "female_to_male": 1.1}


def unit(m: torch.Tensor) -> np.ndarray:
    """A map (h, w) scaled to [0, 1] (its minimum to 0, its maximum to 1) for display and ranking."""
    m = m.float().cpu().numpy()
    span = m.max() - m.min()
    return (m - m.min()) / span if span > 0 else np.zeros_like(m)


def agreement(attention: np.ndarray, change: np.ndarray) -> float:
    """Spearman's rank correlation of an attention map with |G(x) - x| pooled to the map's grid."""
    return rank_correlation(attention, pooled_change(change, attention.shape))


@dataclass
class Attention:
    """What steered one translation (U-GAT-IT's own CAM module, trained in the loop) and what it did."""
    direction: str
    fake_attention_off: np.ndarray  # G(x) with every w_k replaced by the mean of w, uint8 (S, S, 3)
    maps: dict[str, np.ndarray]  # MAPS: the generator's "gap", "gmp", "fused"; the target D's "d_global", "d_local"
    p_source: dict[str, float]  # the auxiliary classifier's p(x is from the source domain), "gap" and "gmp"
    rho: list[float]  # mean rho of every AdaLIN layer, in decoder order
    agreement_with_change: float  # Spearman of the fused map with |G(x) - x| (agreement above)
    attention_off_change: float  # mean |G(x) - G_off(x)| in [0, 1] pixel units: how much attention moves the output
    seconds: float
    focus_weight: float = 0.0  # > 0: a run behind the weights also taught the map to mark the change (train.focus_loss)


class UGATITTranslator(ModelSurface, PhotoFlipper):
    """The loaded U-GAT-IT (both generators, the four discriminators); re-entrant, nothing is kept between calls."""

    FAMILY = FAMILY
    CALIBRATED_STRENGTH = CALIBRATED_STRENGTH
    DETAIL = "photo"
    # Its framing per direction (PhotoFlipper): the cut that flips most while keeping SSIM grey 64 >= 0.75 in
    # pictures on 400 validation faces per direction that the card does not use (faces 200-600). At step 26,121,
    # 9/8 / 17/16 / 1 closer flipped 92.5% / 95.0% / 97.0% of the men (SSIM 0.788 / 0.764 / 0.745) and 84.5% / 85.5%
    # of the women (17/16 at 0.787; 1: 80% of 200); the CycleGAN 93.25% / 86.25% (docs/benchmarks.md, "U-GAT-IT's
    # framing, again")
    FRAMING_ZOOM = {"male_to_female": 17 / 16, "female_to_male": 17 / 16}

    def __init__(self, model: UGATIT, device: torch.device, source: hub.ResolvedWeights | None = None):
        super().__init__(model, device, source)
        self.size = model.config.image_size
        self.focus_weight = 0.0  # from_weights reads it from config.json

    @classmethod
    def build_model(cls, config: dict) -> UGATIT:
        return UGATIT(UGATITConfig.from_dict(config))

    @classmethod
    def from_weights(cls, w: hub.ResolvedWeights) -> "UGATITTranslator":
        config = w.config
        model = cls.build_model(config)
        model.load_state_dict({k: v.float() for k, v in w.state_dict().items()})  # float16 / int8 on disk
        translator = cls(model, get_device(), w)
        translator.focus_weight = float(config.get("focus_weight", 0.0))
        return translator

    @torch.inference_mode()
    def translate(self, crop: np.ndarray, direction: str) -> Cycle:
        """Run the whole cycle on one aligned face crop (any square size; resized to the model's)."""
        check_direction(direction)
        other = DIRECTIONS[1 - DIRECTIONS.index(direction)]
        x = to_tensor(self.model_input(crop), self.device)
        t0 = time.perf_counter()
        g, f = self.model.generator(direction), self.model.generator(other)
        fake = batching.run(g, x)[0]  # each pass batched with other requests' when batching is on
        rec, idt = batching.run(f, fake)[0], batching.run(f, x)[0]
        patch = batching.run(self.model.target_discriminators(direction)["global"], fake)[0]
        return make_cycle(direction, x, fake, rec, idt, patch, time.perf_counter() - t0)

    @torch.inference_mode()
    def attention(self, cycle: Cycle) -> Attention:
        """The CAM module's reading of cycle.x, the discriminators' of G(x), and G(x) again with attention off."""
        t0 = time.perf_counter()
        g = self.model.generator(cycle.direction)
        x = to_tensor(cycle.x, self.device)
        fake = (x + torch.from_numpy(cycle.delta).permute(2, 0, 1).unsqueeze(0).to(self.device)).clamp(-1, 1)
        a = g.attend(x)
        off = g.decode(g.attend(x, attention=False)["h"])
        d = self.model.target_discriminators(cycle.direction)
        p = torch.sigmoid(a["cam_logit"][0]).tolist()
        maps = {"gap": unit(a["gap_map"][0]), "gmp": unit(a["gmp_map"][0]), "fused": unit(a["heatmap"][0]),
                "d_global": unit(d["global"](fake)[2][0]), "d_local": unit(d["local"](fake)[2][0])}
        return Attention(
            direction=cycle.direction, fake_attention_off=to_uint8(off[0]), maps=maps,
            p_source={"gap": p[0], "gmp": p[1]}, rho=[float(n.rho.mean()) for n in g.adalin_layers()],
            agreement_with_change=agreement(maps["fused"], cycle.change),
            attention_off_change=float((fake - off).abs().mean() / 2), seconds=time.perf_counter() - t0,
            focus_weight=self.focus_weight)


__all__ = ["DIRECTIONS", "FAMILY", "MAPS", "Attention", "UGATITTranslator", "agreement"]
