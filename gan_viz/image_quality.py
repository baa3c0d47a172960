"""Image quality numbers shared by the inpainting tab and its benchmark: PSNR and SSIM (scikit-image), classical inpainting (OpenCV)."""
from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images over all their pixels (inf when identical)."""
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=255))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two uint8 RGB images (scikit-image defaults: 7x7 window, mean over channels)."""
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def classical_inpaint(img: np.ndarray, hole: np.ndarray, method: str = "telea", radius: int = 3) -> np.ndarray:
    """OpenCV's inpainting (Telea 2004 fast marching, or Navier-Stokes, Bertalmio et al. 2001) of a bool hole."""
    flags = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
    if method not in flags:
        raise ValueError(f"method must be one of {', '.join(flags)}")
    known = np.where(hole[..., None], 0, img).astype(np.uint8)  # what is under the hole must not leak in
    return cv2.inpaint(known, hole.astype(np.uint8) * 255, radius, flags[method])
