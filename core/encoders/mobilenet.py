"""EfficientAT's MobileNetV3 audio tagger ("mn", Schmid et al., ICASSP 2023) and its mel front end,
rebuilt with parameter names matching the published state dicts (e.g. `mn04_as_mAP_432.pt`).

The architecture is read from the state dict: each `features.N.block` holds an optional 1x1 expansion,
a depthwise convolution (its kernel size and the stride pattern of MobileNetV3-Large), an optional
channel squeeze-excitation (`conc_se_layers.0`) and a 1x1 projection; `classifier.2` and `classifier.5`
are the MLP head (pool -> Linear -> Hardswish -> Dropout -> Linear). BatchNorm eps 0.001 as in EfficientAT.
The front end holds no weights (the state dict has none): pre-emphasis, STFT (window `win_length`, Hann,
symmetric), power, Kaldi-style mel banks, log, (x + 4.5) / 5, at 32 kHz.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

BN_EPS = 0.001
# MobileNetV3-Large: (kernel, stride, use_se, hardswish) of the 15 inverted-residual blocks.
MNV3_LARGE = ((3, 1, False, False), (3, 2, False, False), (3, 1, False, False), (5, 2, True, False),
              (5, 1, True, False), (5, 1, True, False), (3, 2, False, True), (3, 1, False, True),
              (3, 1, False, True), (3, 1, False, True), (3, 1, True, True), (3, 1, True, True),
              (5, 2, True, True), (5, 1, True, True), (5, 1, True, True))


@dataclass(frozen=True)
class EfficientATMelConfig:
    """EfficientAT's `AugmentMelSTFT` at evaluation time (no augmentation); fmax = sr / 2 - 1000."""

    sample_rate: int = 32000
    n_mels: int = 128
    win_length: int = 800
    hop_length: int = 320
    n_fft: int = 1024
    fmin: float = 0.0
    fmax: float = 15000.0
    preemphasis: float = 0.97


def kaldi_mel_banks(n_mels: int, n_fft: int, sample_rate: int, fmin: float, fmax: float) -> Tensor:
    """Triangular mel filters on the Kaldi mel scale (1127 ln(1 + f / 700)), [n_mels, n_fft // 2 + 1],
    as torchaudio.compliance.kaldi.get_mel_banks (no VTLN warp) padded with a zero Nyquist column."""

    def mel(f: Tensor) -> Tensor:
        return 1127.0 * torch.log1p(f / 700.0)

    lo, hi = mel(torch.tensor(float(fmin))), mel(torch.tensor(float(fmax)))
    delta = (hi - lo) / (n_mels + 1)
    b = torch.arange(n_mels, dtype=torch.float32).unsqueeze(1)
    left, center, right = lo + b * delta, lo + (b + 1) * delta, lo + (b + 2) * delta
    m = mel(sample_rate / n_fft * torch.arange(n_fft // 2, dtype=torch.float32)).unsqueeze(0)
    banks = torch.clamp(torch.minimum((m - left) / (center - left), (right - m) / (right - center)), min=0.0)
    return F.pad(banks, (0, 1))


class EfficientATMel(nn.Module):
    """Waveform [B, samples] at 32 kHz -> normalised log mel [B, 1, n_mels, frames]."""

    def __init__(self, cfg: EfficientATMelConfig = EfficientATMelConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("window", torch.hann_window(cfg.win_length, periodic=False), persistent=False)
        self.register_buffer("banks", kaldi_mel_banks(cfg.n_mels, cfg.n_fft, cfg.sample_rate, cfg.fmin, cfg.fmax),
                             persistent=False)

    def forward(self, wave: Tensor) -> Tensor:
        """The front end. Pre-emphasis x[t+1] - a x[t] (EfficientAT's 2-tap conv1d, written as a difference:
        the same numbers at a sixth of the cost); power as re^2 + im^2; log and scaling in place."""
        c = self.cfg
        x = wave[:, 1:] - c.preemphasis * wave[:, :-1]
        spec = torch.stft(x, c.n_fft, hop_length=c.hop_length, win_length=c.win_length, window=self.window,
                          center=True, pad_mode="reflect", return_complex=True)
        spec = spec.real.square().add_(spec.imag.square())  # |X|^2 without abs's square root
        mel = torch.matmul(self.banks, spec)
        return mel.add_(1e-5).log_().add_(4.5).div_(5.0).unsqueeze(1)


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: type | None = None
            ) -> nn.Sequential:
    """torchvision's ConvNormActivation: Conv2d (no bias, 'same' padding) -> BatchNorm2d -> activation."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out, eps=BN_EPS)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Channel squeeze-excitation: mean over (freq, time) -> fc1 -> ReLU -> fc2 -> sigmoid -> scale."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, squeeze)
        self.fc2 = nn.Linear(squeeze, channels)

    def forward(self, x: Tensor) -> Tensor:
        """Rescaled x."""
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * s[:, :, None, None]


class ConcurrentSE(nn.Module):
    """EfficientAT's ConcurrentSEBlock with one (channel) SE layer; max over the (single) layer's outputs."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.conc_se_layers = nn.ModuleList([SqueezeExcitation(channels, squeeze)])

    def forward(self, x: Tensor) -> Tensor:
        """Max over the concurrent SE outputs."""
        return torch.stack([se(x) for se in self.conc_se_layers]).amax(dim=0)


class InvertedResidual(nn.Module):
    """MobileNetV3 block: [1x1 expand] -> depthwise kxk -> [SE] -> 1x1 project (+ residual)."""

    def __init__(self, c_in: int, c_exp: int, c_out: int, spec: tuple[int, int, bool, bool], se_dim: int) -> None:
        super().__init__()
        kernel, stride, use_se, hs = spec
        act = nn.Hardswish if hs else nn.ReLU
        layers: list[nn.Module] = []
        if c_exp != c_in:
            layers.append(conv_bn(c_in, c_exp, 1, act=act))
        layers.append(conv_bn(c_exp, c_exp, kernel, stride, groups=c_exp, act=act))
        if use_se:
            layers.append(ConcurrentSE(c_exp, se_dim))
        layers.append(conv_bn(c_exp, c_out, 1))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        """The block."""
        y = self.block(x)
        return y + x if self.residual else y


def _block_from_state(sd: dict[str, Tensor], i: int, spec: tuple[int, int, bool, bool]) -> InvertedResidual:
    p = f"features.{i}.block"
    expand = sd[f"{p}.0.0.weight"].shape[1] == 1  # depthwise first: no expansion
    dw = sd[f"{p}.0.0.weight"] if expand else sd[f"{p}.1.0.weight"]
    c_exp = int(dw.shape[0])
    c_in = c_exp if expand else int(sd[f"{p}.0.0.weight"].shape[1])
    if int(dw.shape[-1]) != spec[0]:
        raise ValueError(f"block {i}: kernel {dw.shape[-1]} in the state dict, MobileNetV3 has {spec[0]}")
    se_keys = [k for k in sd if k.startswith(f"{p}.") and k.endswith("conc_se_layers.0.fc1.weight")]
    se_dim = int(sd[se_keys[0]].shape[0]) if se_keys else 0
    last = max(int(k.split(".")[3]) for k in sd if k.startswith(f"{p}."))
    c_out = int(sd[f"{p}.{last}.0.weight"].shape[0])
    return InvertedResidual(c_in, c_exp, c_out, (spec[0], spec[1], bool(se_keys), spec[3]), se_dim)


class MobileNetAT(nn.Module):
    """EfficientAT MobileNetV3 (any width) rebuilt from a state dict. `forward(mel)` returns
    (feature map [B, C, F', T'], 512-d-style penultimate of the global pool [B, D], logits [B, classes])."""

    def __init__(self, sd: dict[str, Tensor]) -> None:
        super().__init__()
        first = sd["features.0.0.weight"]
        layers: list[nn.Module] = [conv_bn(int(first.shape[1]), int(first.shape[0]), int(first.shape[-1]), 2,
                                           act=nn.Hardswish)]
        for i, spec in enumerate(MNV3_LARGE, start=1):
            layers.append(_block_from_state(sd, i, spec))
        n = len(MNV3_LARGE) + 1
        last = sd[f"features.{n}.0.weight"]
        layers.append(conv_bn(int(last.shape[1]), int(last.shape[0]), 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        hid, cls = sd["classifier.2.weight"], sd["classifier.5.weight"]
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(hid.shape[1], hid.shape[0]),
                                        nn.Hardswish(), nn.Dropout(0.2), nn.Linear(cls.shape[1], cls.shape[0]))

    @property
    def time_stride(self) -> int:
        """Mel frames per feature-map time step (2 for the first conv times each strided block)."""
        return 2 * math.prod(s for _, s, _, _ in MNV3_LARGE)

    def head(self, pooled: Tensor) -> tuple[Tensor, Tensor]:
        """Pooled conv features [B, C] -> (penultimate [B, D], logits [B, classes])."""
        h = F.hardswish(self.classifier[2](pooled))
        return h, self.classifier[5](h)

    def inference_copy(self) -> MobileNetAT:
        """A copy of this network that is cheaper to run on a CPU with the same outputs (to float rounding):
        eval mode, each BatchNorm folded into the convolution before it, weights in channels-last layout (feed
        it `mel.contiguous(memory_format=torch.channels_last)`), no gradients. This network (and its state
        dict) stays as loaded."""
        fast = copy.deepcopy(self).eval()
        for seq in fast.modules():
            if isinstance(seq, nn.Sequential) and len(seq) > 1 and isinstance(seq[0], nn.Conv2d) \
                    and isinstance(seq[1], nn.BatchNorm2d):
                seq[0] = fuse_conv_bn_eval(seq[0], seq[1])
                seq[1] = nn.Identity()
        fast.requires_grad_(False)
        return fast.to(memory_format=torch.channels_last)

    def forward(self, mel: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """[B, 1, n_mels, frames] -> (feature map, penultimate, logits)."""
        fmap = self.features(mel)
        h, logits = self.head(fmap.mean(dim=(2, 3)))
        return fmap, h, logits
