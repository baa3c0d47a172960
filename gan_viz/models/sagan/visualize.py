"""Public inference surface of SAGAN: generate from a seed, read beta for a clicked pixel, inspect spectral norms."""
from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from gan_viz import batching, hub
from gan_viz.device import get_device
from gan_viz.models.sagan.card import FAMILY
from gan_viz.models.sagan.network import Discriminator, Generator, SAGANConfig
from gan_viz.spectral import power_iteration, spectral_layers

READINGS = ("query", "key")


@dataclass
class Generated:
    seed: int
    image: np.ndarray  # uint8 (64, 64, 3)
    maps: dict[str, np.ndarray]  # layer name -> beta (N, N) float32, beta[j, i], rows = query j, sum to 1
    gammas: dict[str, float]
    psi: float = 1.0  # truncation: z was scaled by psi towards the mean latent (0); 1.0 is the plain model


@dataclass
class AttentionReading:
    layer: str
    reading: str  # "query": beta[j, :] (where pixel j looks) / "key": beta[:, i] (who looks at pixel i)
    map: np.ndarray  # (res, res) float32
    feature_xy: tuple[int, int]  # the clicked pixel on the layer's res x res grid
    res: int
    top: list[tuple[int, int, float]]  # top-k (fx, fy, weight) on that grid
    gamma: float
    seconds: float


def z_from_seed(seed: int, z_dim: int, psi: float = 1.0) -> torch.Tensor:
    """The same seed gives the same face on every machine and device (CPU generator).

    psi < 1 is the truncation trick: z ~ N(0, I) has its mean at 0, so psi * z moves the sample
    towards the mean latent; G is better trained there (most of its training z were near it),
    so faces get cleaner and less varied.
    """
    if not 0 <= int(seed) < 2 ** 63:
        raise ValueError(f"seed must be between 0 and 2^63 - 1, got {seed}")
    if not 0.0 <= float(psi) <= 1.0:
        raise ValueError(f"psi (truncation) must be between 0 and 1, got {psi}")
    return float(psi) * torch.randn(1, z_dim, generator=torch.Generator().manual_seed(int(seed)))


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> uint8 (H, W, 3)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def read_attention(beta: np.ndarray, layer: str, x: int, y: int, reading: str, gamma: float,
                   image_size: int = 64, k: int = 5) -> AttentionReading:
    """Slice beta for the pixel (x, y) of the image_size generated image: no network is run."""
    t0 = time.perf_counter()
    if reading not in READINGS:
        raise ValueError(f"reading must be 'query' or 'key', got {reading!r}")
    n = beta.shape[0]
    res = int(round(n ** 0.5))
    if not (0 <= x < image_size and 0 <= y < image_size):
        raise ValueError(f"pixel ({x}, {y}) is outside the {image_size}x{image_size} image")
    fx, fy = x * res // image_size, y * res // image_size
    j = fy * res + fx
    vec = beta[j, :] if reading == "query" else beta[:, j]  # (N,)
    top_idx = np.argsort(-vec)[:k]
    top = [(int(i % res), int(i // res), float(vec[i])) for i in top_idx]
    return AttentionReading(layer, reading, vec.reshape(res, res).astype(np.float32), (fx, fy), res, top, gamma,
                            time.perf_counter() - t0)


class SAGANExplorer:
    RECENT = 16  # faces kept for API clicks (~4 MB each for a 32x32 attention layer)

    def __init__(self, g: Generator, d: Discriminator, cfg: SAGANConfig, device: torch.device,
                 source: hub.ResolvedWeights | None = None):
        self.g, self.d = g.to(device).eval(), d.to(device).eval()
        self.cfg, self.device, self.source = cfg, device, source
        self._recent: OrderedDict[tuple[int, float], Generated] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._ranked: dict[tuple[int, bool], list[int]] = {}
        self._sigma_exact: dict[str, torch.Tensor] | None = None

    SEED_POOL = 64  # seeds 0..63 are ranked for the tab's first face and its sample gallery

    def ranked_seeds(self, pool: int = SEED_POOL, judge=None) -> list[int]:
        """Seeds 0..pool-1 in the order the tab shows them (at psi 1.0): the stated rule behind its first face and
        gallery, so they are chosen by a model, not by hand, and follow the weights when they change.

        judge: a face classifier, faces (list of uint8 images) -> [(class, probability)] (CAMExplainer.top_class).
        With one, the faces it is surest of come first, its classes taken in turn (so a gallery is not all one class;
        the surest face of all opens the tab). Without one, the faces D finds most real come first. The order is
        worked out once per pool, with a judge and without (the app has one judge).
        """
        key = (pool, judge is not None)
        with self._recent_lock:
            if key in self._ranked:
                return self._ranked[key]
        z = torch.cat([z_from_seed(s, self.cfg.z_dim) for s in range(pool)]).to(self.device)
        with torch.inference_mode():
            images = self.g(z)
            scores = self.d(images).flatten().float().cpu() if judge is None else None
        if scores is not None:
            order = [int(i) for i in torch.argsort(scores, descending=True)]
        else:
            verdicts = judge([to_uint8(x) for x in images])
            by_class: dict[str, list[tuple[float, int]]] = {}
            for seed, (name, prob) in enumerate(verdicts):
                by_class.setdefault(name, []).append((-prob, seed))
            queues = sorted((sorted(q) for q in by_class.values()), key=lambda q: q[0])  # surest class first
            order = [seed for round_ in itertools.zip_longest(*queues) for _, seed in filter(None, round_)]
        with self._recent_lock:
            self._ranked[key] = order
        return order

    def recent(self, seed: int, psi: float = 1.0) -> Generated:
        """generate(seed, psi), kept for the last RECENT distinct faces: an API user clicking pixel after pixel of
        one face costs one G pass, not one per click. Thread-safe; the Generated is shared read-only."""
        key = (int(seed), float(psi))
        with self._recent_lock:
            if key in self._recent:
                self._recent.move_to_end(key)
                return self._recent[key]
        g = self.generate(*key)  # outside the lock: concurrent misses run G in parallel
        with self._recent_lock:
            self._recent[key] = g
            while len(self._recent) > self.RECENT:
                self._recent.popitem(last=False)
        return g

    @classmethod
    def from_weights(cls, w: hub.ResolvedWeights) -> "SAGANExplorer":
        cfg = SAGANConfig.from_dict(w.config)
        sd = w.state_dict()
        g, d = Generator(cfg), Discriminator(cfg)
        g.load_state_dict({k[2:]: v for k, v in sd.items() if k.startswith("G.")})
        d.load_state_dict({k[2:]: v for k, v in sd.items() if k.startswith("D.")})
        return cls(g, d, cfg, get_device(), w)

    @classmethod
    def load(cls, settings: hub.HubSettings | None = None) -> "SAGANExplorer":
        return cls.from_weights(hub.resolve(FAMILY, settings))

    @property
    def g_layers(self) -> list[str]:
        return [f"G.{n}" for n in self.g.attn]

    @property
    def d_layers(self) -> list[str]:
        return [f"D.{n}" for n in self.d.attn]

    def gamma(self, layer: str) -> float:
        net, name = (self.g, layer[2:]) if layer.startswith("G.") else (self.d, layer[2:])
        return net.attn[name].gamma.item()

    def generate(self, seed: int, psi: float = 1.0) -> Generated:
        return self.generate_many([seed], [psi])[0]

    def generate_many(self, seeds: list[int], psis: list[float] | None = None) -> list[Generated]:
        """Several faces in one batched forward pass, itself batched with other requests' when batching is on.

        Every sample's result is the same as alone: G_ema has no batch-dependent layer at inference.
        """
        psis = psis or [1.0] * len(seeds)
        z = torch.cat([z_from_seed(s, self.cfg.z_dim, p) for s, p in zip(seeds, psis)])
        with torch.inference_mode():
            img, maps = batching.run(self.g, z.to(self.device), return_maps=True)
        gammas = {k: self.gamma(k) for k in maps}
        return [Generated(int(s), to_uint8(img[i]), {k: v[i].float().cpu().numpy() for k, v in maps.items()}, gammas,
                          float(p)) for i, (s, p) in enumerate(zip(seeds, psis))]

    def interpolate(self, seed_a: int, seed_b: int, steps: int = 8) -> list[np.ndarray]:
        """Faces along the straight line between two seeds' z (G_ema is smooth enough for that)."""
        za, zb = z_from_seed(seed_a, self.cfg.z_dim), z_from_seed(seed_b, self.cfg.z_dim)
        t = torch.linspace(0, 1, steps).view(-1, 1)
        with torch.inference_mode():
            imgs = self.g(((1 - t) * za + t * zb).to(self.device))
        return [to_uint8(x) for x in imgs]

    def discriminate(self, img: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """D's realness score (hinge: > 0 leans real) and its attention maps for a uint8 (64, 64, 3) image."""
        x = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1).unsqueeze(0)
        with torch.inference_mode():
            score, maps = self.d(x.to(self.device), return_maps=True)
        return float(score[0]), {k: v[0].float().cpu().numpy() for k, v in maps.items()}

    def _exact_sigmas(self) -> dict[str, torch.Tensor]:
        """Largest singular value of every spectrally normalised weight, by SVD: computed once (the weights are
        fixed once loaded; with width 64 the SVDs take ~0.4 s, the power iterations a few ms)."""
        with self._recent_lock:
            if self._sigma_exact is None:
                self._sigma_exact = {f"{net_name}.{name}": torch.linalg.matrix_norm(
                                         sn.weight_matrix().detach().float().cpu(), ord=2)
                                     for net_name, net in (("G", self.g), ("D", self.d))
                                     for name, sn in spectral_layers(net).items()}
            return self._sigma_exact

    def spectral_report(self, k: int) -> list[dict]:
        """For every spectrally normalised layer of G and D: the sigma in use, after k more iterations, and exact."""
        rows = []
        exact_sigmas = self._exact_sigmas()
        for net_name, net in (("G", self.g), ("D", self.d)):
            for name, sn in spectral_layers(net).items():
                w_mat = sn.weight_matrix().detach().float().cpu()
                u = sn.u.detach().float().cpu()
                used, _, _ = power_iteration(w_mat, u, 1)  # v from the stored u: what the forward pass divides by
                more, _, _ = power_iteration(w_mat, u, k + 1) if k > 0 else (used, None, None)
                exact = exact_sigmas[f"{net_name}.{name}"]
                rows.append({"layer": f"{net_name}.{name}", "shape": list(sn.layer.weight.shape),
                             "sigma_used": float(used), f"sigma_after_{k}": float(more), "sigma_exact": float(exact),
                             "rel_error_used": float(abs(used - exact) / exact),
                             f"rel_error_after_{k}": float(abs(more - exact) / exact),
                             "normalised_norm": float(exact / used)})
        return rows

    def power_iteration_curve(self, layer: str, steps: int = 30, from_random: bool = True) -> tuple[list[float], float]:
        """sigma estimate after 1..steps iterations (from a random u, as at initialisation) and the exact value."""
        net = self.g if layer.startswith("G.") else self.d
        sn = spectral_layers(net)[layer[2:]]
        w_mat = sn.weight_matrix().detach().float().cpu()
        u = torch.nn.functional.normalize(torch.randn(w_mat.shape[0], generator=torch.Generator().manual_seed(0)), dim=0) \
            if from_random else sn.u.detach().float().cpu()
        est = []
        for _ in range(steps):
            sigma, u, _ = power_iteration(w_mat, u, 1)
            est.append(float(sigma))
        return est, float(self._exact_sigmas()[layer])
