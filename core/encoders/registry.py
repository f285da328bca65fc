"""The named encoders (`fcn_msd`, `musicnn_mtat`, `crnn_jamendo`, `efficientat_mn04`, ...) and
`load_encoder(name, weights_dir, device)`, which rebuilds a network from its state dict (strict load).

Each name's sample rate, piece length and label file are facts of the published model, stored here once.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from core.encoders.base import AudioEncoder, EncoderError, PieceRule
from core.encoders.mobilenet import EfficientATMel, EfficientATMelConfig, MobileNetAT
from core.encoders.taggers import CRNN, FCN, MusiCNN
from core.encoders.weights import (
    WEIGHT_FILES,
    WeightsError,
    load_state_dict,
    load_strict,
    require_file,
    resolve_weights_dir,
    sha256_of,
)

WON_RATE = 16000  # Won et al. trained every tagger on 16 kHz audio
WON_INPUT_S = 29.1  # FCN / CRNN training input length (Won et al.)
MUSICNN_INPUT_S = 3.0
EFFICIENTAT_INPUT_S = 10.0
EFFICIENTAT_FRAME_STEPS = 3  # feature-map time steps per frame (3 x 0.32 s)
JAMENDO_NOTE = ("Won et al. publish no tag list beside the Jamendo weights (their repo derives the top-50 "
                "MTG-Jamendo tags from split/mtg-jamendo/*.tsv); use the frames/embedding, or an mtat/msd model")


@dataclass(frozen=True)
class EncoderSpec:
    """A registered encoder: architecture family, weights file, label file (None: no tag list)."""

    name: str
    family: str  # fcn | crnn | musicnn | efficientat
    weights: str  # key of WEIGHT_FILES
    labels: str | None


SPECS: dict[str, EncoderSpec] = {s.name: s for s in [
    EncoderSpec("fcn_mtat", "fcn", "fcn_mtat", "tags_mtat"),
    EncoderSpec("fcn_msd", "fcn", "fcn_msd", "tags_msd"),
    EncoderSpec("fcn_jamendo", "fcn", "fcn_jamendo", None),
    EncoderSpec("musicnn_mtat", "musicnn", "musicnn_mtat", "tags_mtat"),
    EncoderSpec("musicnn_jamendo", "musicnn", "musicnn_jamendo", None),
    EncoderSpec("crnn_msd", "crnn", "crnn_msd", "tags_msd"),
    EncoderSpec("crnn_jamendo", "crnn", "crnn_jamendo", None),
    EncoderSpec("efficientat_mn04", "efficientat", "efficientat_mn04", "audioset_labels"),
]}


def encoder_names() -> list[str]:
    """Every registered encoder name."""
    return list(SPECS)


class TaggerEncoder(AudioEncoder):
    """FCN / CRNN: whole pieces of about 29 s through the net."""

    net: torch.nn.Module

    def _forward(self, pieces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.net(pieces)


class MusiCNNEncoder(AudioEncoder):
    """MusiCNN: back-to-back 3-s windows, one frame per window."""

    net: MusiCNN

    def _forward(self, pieces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h, p = self.net.windows(pieces)
        return h[:, None, :], h, p


class EfficientATEncoder(AudioEncoder):
    """EfficientAT: mel front end, MobileNet feature map; frames = the MLP head's penultimate layer on the map
    averaged over frequency and over groups of `EFFICIENTAT_FRAME_STEPS` time steps; pooled = the model's own
    global average -> penultimate; scores = sigmoid of the AudioSet logits."""

    net: MobileNetAT
    fast: MobileNetAT  # net.inference_copy(): what runs
    mel: EfficientATMel

    def _forward(self, pieces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The BatchNorm-folded channels-last copy on the log-mel (on a CPU `analyse_many` passes one piece per
        call, `CPU_BATCH`)."""
        mel = self.mel(pieces).contiguous(memory_format=torch.channels_last)
        fmap, pooled, logits = self.fast(mel)
        steps = F.avg_pool1d(fmap.mean(dim=2), EFFICIENTAT_FRAME_STEPS, ceil_mode=True)
        frames, _ = self.fast.head(steps.transpose(1, 2))
        return frames, pooled, torch.sigmoid(logits)


def read_labels(path: Path) -> list[str]:
    """Labels in output order from tags.txt (one a line) or class_labels_indices.csv (display_name column);
    WeightsError for a file that is not UTF-8 text or a CSV without a display_name column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WeightsError(f"label file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                           f"{exc.start}); restore it with `python -m train.weights fetch`") from None
    if path.suffix == ".csv":
        rows = csv.DictReader(io.StringIO(text, newline=""))
        if "display_name" not in (rows.fieldnames or []):
            raise WeightsError(f"label file {path} has no display_name column (columns: "
                               f"{', '.join(rows.fieldnames or []) or 'none'})")
        return [row["display_name"] or "" for row in rows]
    return [line.strip() for line in text.splitlines() if line.strip()]


def _labels(spec: EncoderSpec, weights_dir: Path, n_out: int) -> tuple[list[str] | None, str]:
    if spec.labels is None:
        return None, JAMENDO_NOTE
    labels = read_labels(require_file(weights_dir, spec.labels))
    if len(labels) != n_out:
        raise EncoderError(f"{WEIGHT_FILES[spec.labels].path} lists {len(labels)} labels, the model has {n_out}")
    return labels, ""


def _build(spec: EncoderSpec, sd: dict[str, torch.Tensor]) -> tuple[torch.nn.Module, dict]:
    """The network for a family, its output size, frame hop (s), dim, piece rule, pooling."""
    try:
        if spec.family == "fcn":
            net = FCN(sd)
            hop = net.spec.hop
            return net, dict(hop_s=net.frame_stride * hop / WON_RATE, dim=net.dense.in_features, pooling="max",
                             rule=PieceRule(WON_INPUT_S, WON_INPUT_S), n_out=net.dense.out_features)
        if spec.family == "crnn":
            net = CRNN(sd)
            hop = net.spec.hop
            return net, dict(hop_s=net.frame_stride * hop / WON_RATE, dim=net.dense.in_features, pooling="mean",
                             rule=PieceRule(WON_INPUT_S, WON_INPUT_S), n_out=net.dense.out_features)
        if spec.family == "musicnn":
            net = MusiCNN(sd)
            return net, dict(hop_s=MUSICNN_INPUT_S, dim=net.dense1.out_features, pooling="mean",
                             rule=PieceRule(MUSICNN_INPUT_S, MUSICNN_INPUT_S, "windows"),
                             n_out=net.dense2.out_features)
        net = MobileNetAT(sd)
        cfg = EfficientATMelConfig()
        hop_s = net.time_stride * EFFICIENTAT_FRAME_STEPS * cfg.hop_length / cfg.sample_rate
        return net, dict(hop_s=hop_s, dim=net.classifier[2].out_features, pooling="mean",
                         rule=PieceRule(EFFICIENTAT_INPUT_S * 3, 1.0), n_out=net.classifier[5].out_features)
    except (KeyError, IndexError, ValueError) as exc:
        raise KeyError(f"{exc}") from None


def load_encoder(name: str, weights_dir: Path | str | None = None, device: str = "cpu",
                 batch_size: int = 8) -> AudioEncoder:
    """Rebuild a registered encoder from its weights file (`torch.load(weights_only=True)`, strict load).
    Raises EncoderError for an unknown name, WeightsError for a missing/corrupt/foreign weights file."""
    if name not in SPECS:
        raise EncoderError(f"unknown encoder {name!r}; registered: {', '.join(SPECS)}")
    spec = SPECS[name]
    wdir = resolve_weights_dir(weights_dir)
    path = require_file(wdir, spec.weights)
    sd = load_state_dict(path)
    net, info = _build_checked(spec, sd, path)
    load_strict(net, sd, path)
    net.eval().to(device)
    labels, note = _labels(spec, wdir, info.pop("n_out"))
    cls = {"fcn": TaggerEncoder, "crnn": TaggerEncoder, "musicnn": MusiCNNEncoder}.get(spec.family,
                                                                                       EfficientATEncoder)
    rate = EfficientATMelConfig().sample_rate if spec.family == "efficientat" else WON_RATE
    enc = cls(name=name, sample_rate=rate, weights=WEIGHT_FILES[spec.weights].path, labels=labels,
              labels_note=note, batch_size=batch_size, device=device,
              extra={"family": spec.family, "weights_sha256": sha256_of(path)}, **info)
    enc.net = net
    if spec.family == "efficientat":
        enc.fast = net.inference_copy()
        enc.mel = EfficientATMel().to(device)
    return enc


def _build_checked(spec: EncoderSpec, sd: dict[str, torch.Tensor], path: Path) -> tuple[torch.nn.Module, dict]:
    try:
        return _build(spec, sd)
    except KeyError as exc:
        expected = {"fcn": "layer5.conv.weight, dense.weight", "crnn": "layer5.weight_ih_l0, dense.weight",
                    "musicnn": "layers.0.conv.weight, dense1.weight",
                    "efficientat": "features.0.0.weight, classifier.5.weight"}[spec.family]
        raise WeightsError(f"{path} is a state dict of another model: missing key {exc} "
                           f"({spec.family} needs e.g. {expected}); its keys start "
                           f"{', '.join(list(sd)[:5])}") from None
