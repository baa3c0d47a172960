"""What the gender tab shows of where a translator looks: the CycleGAN's probe, or U-GAT-IT's own attention."""
from __future__ import annotations

import numpy as np

from gan_viz import imaging
from gan_viz.models.cyclegan.visualize import unit

PANEL = 192  # px of each panel shown
HEAT_MAX = 0.5  # heatmaps of |differences| share one scale: 0 to half the pixel range

ATTENTION_NOTE = (
    "**Where the translator looks** (U-GAT-IT, Kim et al. 2020): an auxiliary classifier on the encoder's feature "
    "maps $E_k(x)$, fed by global average pooling (GAP) and by global max pooling (GMP), with weights $w_k$ that tell "
    "the source gender from the target; $\\eta(x) = \\sigma(\\sum_k w_k\\,\\mathrm{GAP}(E_k(x)))$, and "
    "$\\sum_k w_k E_k(x)$ is a heatmap of where the evidence lies.")
PROBE_NOTE = (
    " U-GAT-IT trains this module inside its translator; **with the CycleGAN this is a probe**: the module fitted "
    "afterwards on the frozen CycleGAN (its encoder after the residual blocks, and the target discriminator's last "
    "feature maps). It reads the translator; it never steered it. Pick U-GAT-IT to see attention that does.")
IN_THE_LOOP_NOTE = (
    " **U-GAT-IT trains this module in the loop**: the same $w_k$ re-weight the encoder's maps, $w_k E_k(x)$, "
    "before the decoder sees them, and the CAM loss trains the classifier, so the map shows what steered the "
    "translation. Its decoder's AdaLIN layers each learned rho: near 1 instance norm (textures and colours), near 0 "
    "layer norm (shapes).")
FOCUS_NOTE = (
    " Beyond the paper, these weights were also trained with a **focus loss** (weight {w:g}): it pulls the map towards "
    "where G changes the face and charges G for change where the map is low, so the agreement below was partly "
    "taught. What the map does to the output is what *attention off* shows.")


def heat(m: np.ndarray) -> np.ndarray:
    return imaging.colorize(imaging.upsample_map(np.clip(m / HEAT_MAX, 0, 1), (PANEL, PANEL)), "magma")


def big(img: np.ndarray) -> np.ndarray:
    return imaging.resize(img, (PANEL, PANEL))


def agreement_words(spearman: float) -> str:
    return ("the translator changes where the attention finds the domain evidence" if spearman >= 0.3 else
            "the translator changes the face largely *elsewhere* than where the attention finds the domain evidence"
            if spearman <= 0.1 else "the translator's changes follow the attention only loosely")


# ---------------------------------------------------------------- the CycleGAN's probe


def probe_panels(att, cycle) -> list[tuple[np.ndarray, str]]:
    """The probe's maps over the face (each scaled to its own [0, 1]), the discriminator's over G(x), and the change."""
    base = big(cycle.x)
    out = []
    enc, dis = att.encoder, att.discriminator
    if att.encoder_usable:
        out += [(imaging.overlay(base, unit(enc.gap_map), 0.55, "inferno"), "GAP branch: sum_k w_k E_k(x) (encoder)"),
                (imaging.overlay(base, unit(enc.gmp_map), 0.55, "inferno"), "GMP branch: sum_k w'_k E_k(x) (encoder)"),
                (imaging.overlay(base, enc.fused, 0.55, "inferno"), "fused: mean of the two (a probe has no 1x1 conv)")]
    if att.discriminator_usable:
        out.append((imaging.overlay(big(cycle.fake), dis.fused, 0.55, "inferno"),
                    "discriminator's CAM on G(x): evidence for 'real'"))
    out.append((heat(att.change_on_grid), "|G(x) - x| on the same grid: what changed"))
    return out


def probe_markdown(att) -> str:
    enc, dis = att.encoder, att.discriminator
    acc = att.accuracy
    names = list(acc)
    if not att.encoder_usable:
        return (f"The encoder probe of `{names[0]}` is no better than chance on validation faces (accuracy "
                f"{acc[names[0]]['gap']:.2f} / {acc[names[0]]['gmp']:.2f}), so no attention map is shown for it.")
    tops = ", ".join(f"k={k}: w={w:+.3f}, w·GAP={c:+.3f}" for k, w, c in enc.top_channels)
    d_line = (f" The discriminator's probe ({names[1]}, validation accuracy {acc[names[1]]['gap']:.2f} GAP / "
              f"{acc[names[1]]['gmp']:.2f} GMP) gives G(x) eta = {dis.eta_gap:.3f} (GAP) / {dis.eta_gmp:.3f} (GMP) "
              "of being a real face." if att.discriminator_usable else
              " The discriminator's probe is no better than chance here, so its map is not shown.")
    return (ATTENTION_NOTE + PROBE_NOTE + f"\n\nFor this face: eta_GAP = **{enc.eta_gap:.3f}**, eta_GMP = "
            f"**{enc.eta_gmp:.3f}** (the probe's probability that x is the source gender; its validation accuracy "
            f"{acc[names[0]]['gap']:.2f} GAP / {acc[names[0]]['gmp']:.2f} GMP). Top channels of the GAP logit: "
            f"{tops}.{d_line}\n\nAgreement of the fused attention with the change |G(x) - x|: Spearman's rho = "
            f"**{att.spearman:+.2f}**, top-20% overlap (IoU) = **{att.top20_iou:.2f}** (independent maps: rho 0, "
            f"IoU about 0.11): {agreement_words(att.spearman)}. Computed in {att.seconds * 1000:.0f} ms.")


def probe_json(att) -> dict:
    enc = att.encoder
    return {"translator": "cyclegan", "eta_gap": enc.eta_gap, "eta_gmp": enc.eta_gmp,
            "top_channels": [{"channel": k, "weight": w, "contribution": c} for k, w, c in enc.top_channels],
            "agreement_with_change": {"spearman": att.spearman, "top20_iou": att.top20_iou},
            "probe_validation_accuracy": att.accuracy, "shown_as_attention": {"encoder": att.encoder_usable,
                                                                               "discriminator": att.discriminator_usable},
            "discriminator": {"eta_gap": att.discriminator.eta_gap, "eta_gmp": att.discriminator.eta_gmp},
            "heatmap": np.round(enc.fused, 4).tolist(), "seconds": round(att.seconds, 5),
            "note": "U-GAT-IT's CAM module fitted as a probe on the frozen CycleGAN, not U-GAT-IT's joint training"}


# ---------------------------------------------------------------- U-GAT-IT's own attention


def rho_labels(n: int) -> list[str]:
    """AdaLIN layers in decoder order: two per residual block (block.layer)."""
    return [f"{i // 2 + 1}.{i % 2 + 1}" for i in range(n)]


def ugatit_panels(att, cycle) -> list[tuple[np.ndarray, str]]:
    """The generator's maps over x, the change, attention off, the discriminators' CAMs over G(x), rho."""
    base, fake = big(cycle.x), big(cycle.fake)
    over = lambda im, m: imaging.overlay(im, m, 0.55, "inferno")  # noqa: E731
    off_change = np.abs(cycle.fake.astype(np.float32) - att.fake_attention_off.astype(np.float32)).mean(-1) / 255
    return [
        (over(base, att.maps["gap"]), "GAP branch: sum_k w_k E_k(x), the weights that steer the decoder"),
        (over(base, att.maps["gmp"]), "GMP branch: sum_k w'_k E_k(x)"),
        (over(base, att.maps["fused"]), "fused: the 1x1 conv over both, what the decoder receives (summed)"),
        (heat(cycle.change), f"|G(x) - x|: what changed (Spearman with fused {att.agreement_with_change:+.2f})"),
        (fake, "G(x): attention on"),
        (big(att.fake_attention_off), "G(x) with attention off: every w_k replaced by the mean of w"),
        (heat(off_change), f"|G(x) - G_off(x)|: what attention did (mean {att.attention_off_change:.3f})"),
        (over(fake, att.maps["d_global"]), "global discriminator's CAM on G(x) (the whole face)"),
        (over(fake, att.maps["d_local"]), "local discriminator's CAM on G(x) (70 px patches)"),
        (imaging.bar_chart(att.rho, rho_labels(len(att.rho)), "rho per AdaLIN layer (1: instance norm, 0: layer norm)"),
         "rho per decoder layer: near 1 it restyles textures and colours, near 0 it may move shapes"),
    ]


def ugatit_markdown(att) -> str:
    mean_rho = float(np.mean(att.rho))
    focus = FOCUS_NOTE.format(w=att.focus_weight) if att.focus_weight > 0 else ""
    return (ATTENTION_NOTE + IN_THE_LOOP_NOTE + focus + "\n\nFor this face the auxiliary classifier gives p(x is the "
            f"source gender) = **{att.p_source['gap']:.3f}** (GAP) / **{att.p_source['gmp']:.3f}** (GMP). Agreement of the "
            f"fused attention with the change |G(x) - x|: Spearman's rho = **{att.agreement_with_change:+.2f}**: "
            f"{agreement_words(att.agreement_with_change)}. With attention off the output moves by "
            f"**{att.attention_off_change:.3f}** on average (in [0, 1] pixel units). Mean rho of the AdaLIN layers "
            f"{mean_rho:.2f}: {'mostly instance norm, a restyling' if mean_rho >= 0.5 else 'mostly layer norm, free to change shapes'}. "
            f"Computed in {att.seconds * 1000:.0f} ms.")


def ugatit_json(att) -> dict:
    return {"translator": "ugatit", "agreement_with_change": att.agreement_with_change,
            "aux_p_source": {"gap": att.p_source["gap"], "gmp": att.p_source["gmp"]}, "rho": att.rho,
            "attention_off_change": att.attention_off_change, "focus_weight": att.focus_weight,
            "heatmap": np.round(att.maps["fused"], 4).tolist(), "seconds": round(att.seconds, 5),
            "note": "U-GAT-IT's own CAM attention, trained inside the translator (it steers the decoder)"}


# ---------------------------------------------------------------- either translator


def view(name: str, flipper, cycle) -> tuple[list[tuple[np.ndarray, str]], str]:
    """The tab's attention panels and text for face `cycle`, from translator `name` ("cyclegan" or "ugatit")."""
    if name == "ugatit":
        att = flipper.attention(cycle)
        return ugatit_panels(att, cycle), ugatit_markdown(att)
    if flipper.probes is None:
        return [], "This CycleGAN checkpoint carries no attention probe."
    att = flipper.attention(cycle)
    return probe_panels(att, cycle), probe_markdown(att)


def api_answer(name: str, flipper, cycle) -> tuple[np.ndarray, dict]:
    """/translator_attention's answer: the fused map over the face, and the numbers."""
    att = flipper.attention(cycle)
    if name == "ugatit":
        return imaging.overlay(big(cycle.x), att.maps["fused"], 0.55, "inferno"), ugatit_json(att)
    return imaging.overlay(big(cycle.x), att.encoder.fused, 0.55, "inferno"), probe_json(att)
