"""Public inference surface of the gender CycleGAN: a face crop in, the whole cycle out (photos: models/photo_flip.py).

For a face x and a direction G (say male_to_female, with F = female_to_male):
    G(x)      the translation,
    F(G(x))   the cycle reconstruction (the cycle loss asks it to equal x),
    F(x)      the identity output (x already is in F's target domain, so F should leave it alone),
    D_Y(G(x)) the target-domain discriminator's patch map: LSGAN scores, 1 = "real", 0 = "fake".
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from gan_viz import batching, hub
from gan_viz.device import get_device
from gan_viz.models.cyclegan import attention_probe as ap
from gan_viz.models.cyclegan.attention_probe import unit  # noqa: F401 (maps are shown scaled to [0, 1])
from gan_viz.models.cyclegan.card import FAMILY
from gan_viz.models.cyclegan.network import CycleGAN, CycleGANConfig
from gan_viz.models.photo_flip import (BLENDS, DEFAULT_MASK, DEFAULT_STRENGTH, MAX_FACES, MAX_STRENGTH,  # noqa: F401
                                       TARGET, Cycle, FlippedPhoto, PhotoFlipper, blend_maps, check_direction,
                                       keep_detail, make_cycle, patch_realness, to_tensor)
from gan_viz.models.surface import ModelSurface

# The blend the app uses, chosen on faces placed in larger pictures (checkpoints/cyclegan/README.md): the "change" mask
# and a strength per direction (the two generators are not equally strong): the largest that keeps the face's
# structure (SSIM of 64 px grey faces >= 0.75 on crops); 1.4 took female -> male faces to 0.736.
CALIBRATED_STRENGTH = {"male_to_female": 1.4, "female_to_male": 1.3}
# A probe shown as attention must beat chance clearly: on 600 validation faces 0.55 is 2.4 standard errors above 0.5.
PROBE_MIN = 0.55


@dataclass
class TranslatorAttention:
    encoder: ap.ProbeReading  # the generator's encoder on x: evidence for the source domain
    discriminator: ap.ProbeReading  # the target discriminator on G(x): evidence for "real"
    change_on_grid: np.ndarray  # float32 mean |G(x) - x| pooled to the encoder map's grid
    spearman: float  # rank correlation of the encoder's fused map with the change
    top20_iou: float  # overlap of their top 20% cells
    encoder_usable: bool  # its probe beats chance on validation faces (else it is not shown as attention)
    discriminator_usable: bool
    accuracy: dict  # net -> {"gap", "gmp"} validation accuracy of its probe
    seconds: float


class GenderFlipper(ModelSurface, PhotoFlipper):
    """The loaded CycleGAN (generators and discriminators); re-entrant, nothing is kept between calls."""

    FAMILY = FAMILY
    CALIBRATED_STRENGTH = CALIBRATED_STRENGTH

    def __init__(self, model: CycleGAN, device: torch.device, source: hub.ResolvedWeights | None = None,
                 probes: torch.nn.ModuleDict | None = None, probe_report: dict | None = None):
        super().__init__(model, device, source)
        self.size = model.config.image_size
        self.probes = probes.to(device).eval() if probes is not None else None
        self.probe_report = probe_report or {}
        if self.probes is not None:
            self._features = {name: ap.feature_net(model, name) for name in ap.PROBES}  # views of the same layers

    @classmethod
    def build_model(cls, config: dict) -> CycleGAN:
        return CycleGAN(CycleGANConfig.from_dict(config))

    @classmethod
    def from_weights(cls, w: hub.ResolvedWeights) -> "GenderFlipper":
        """The CycleGAN, and U-GAT-IT's CAM probe when the checkpoint carries one (tensors prefixed 'probe.')."""
        model = cls.build_model(w.config)
        net_state, probe_state = ap.split_state(w.state_dict())
        model.load_state_dict(net_state)
        probes = None
        if probe_state and "probe" in w.config:
            probes = ap.build_probes(model)
            probes.load_state_dict({k: v.float() for k, v in probe_state.items()})
        return cls(model, get_device(), w, probes, w.config.get("probe"))

    def probe_usable(self, net: str) -> bool:
        """A probe no better than chance is not attention: both branches must beat PROBE_MIN on validation faces."""
        acc = self.probe_report.get("probes", {}).get(net, {}).get("val_accuracy", {})
        return self.probes is not None and min(acc.get("gap", 0.0), acc.get("gmp", 0.0)) >= PROBE_MIN

    def attention(self, cycle: Cycle) -> TranslatorAttention:
        """U-GAT-IT's CAM module (probe) for one translated face: the encoder of G on x, D_target on G(x)."""
        if self.probes is None:
            raise ValueError("this CycleGAN checkpoint carries no attention probe; fit one with "
                             "python -m gan_viz.models.cyclegan.fit_probe")
        d = cycle.direction
        d_name = "D_female" if d == "male_to_female" else "D_male"
        x = torch.from_numpy(np.array(cycle.x, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1.0)
        x = x.unsqueeze(0).to(self.device)
        fake = (x + torch.from_numpy(cycle.delta).permute(2, 0, 1).unsqueeze(0).to(self.device)).clamp(-1, 1)
        t0 = time.perf_counter()
        with torch.inference_mode():
            enc = ap.read(self.probes[d], self._features[d](x), d)
            dis = ap.read(self.probes[d_name], self._features[d_name](fake), d_name)
        grid = enc.fused.shape
        change = cv2.resize(cycle.change, grid[::-1], interpolation=cv2.INTER_AREA)  # |G(x) - x| on the same grid
        return TranslatorAttention(
            encoder=enc, discriminator=dis, change_on_grid=change,
            spearman=ap.rank_correlation(enc.fused, change), top20_iou=ap.top_overlap(enc.fused, change),
            encoder_usable=self.probe_usable(d), discriminator_usable=self.probe_usable(d_name),
            accuracy={n: self.probe_report["probes"][n]["val_accuracy"] for n in (d, d_name)},
            seconds=time.perf_counter() - t0)

    def translate(self, crop: np.ndarray, direction: str) -> Cycle:
        """Run the whole cycle on one aligned face crop (any square size; resized to the model's)."""
        check_direction(direction)
        x = to_tensor(self.model_input(crop), self.device)  # (1, 3, S, S)
        g, f = self.model.generator(direction), self.model.inverse(direction)
        t0 = time.perf_counter()
        with torch.inference_mode():  # each pass batched with other requests' when batching is on (gan_viz/batching.py)
            fake = batching.run(g, x)
            rec = batching.run(f, fake)
            idt = batching.run(f, x)
            patch = batching.run(self.model.target_discriminator(direction), fake)  # (1, 1, h, w)
        return make_cycle(direction, x, fake, rec, idt, patch, time.perf_counter() - t0)
