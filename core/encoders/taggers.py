"""Won et al.'s music auto-taggers (FCN, MusiCNN, CRNN; "Evaluation of CNN-based automatic music tagging
models", SMC 2020) rebuilt as plain PyTorch modules whose parameter names match their published state dicts.

The front end lives in the state dict too (`spec.spectrogram.window`, `spec.mel_scale.fb`): power STFT
(n_fft = window length, hop = n_fft // 2, centred, reflect padding) -> mel filterbank -> power to dB ->
`spec_bn`. Channel counts are read from the state dict, so the MTAT, MSD and Jamendo variants all fit.
Each net returns `(frames [B, T, D], pooled [B, D], tag probabilities [B, n_tags])`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MelFrontEnd(nn.Module):
    """torchaudio-compatible MelSpectrogram + AmplitudeToDB, with window and filterbank as buffers."""

    def __init__(self, n_fft: int, n_mels: int) -> None:
        super().__init__()
        self.spectrogram = nn.Module()
        self.spectrogram.register_buffer("window", torch.ones(n_fft))
        self.mel_scale = nn.Module()
        self.mel_scale.register_buffer("fb", torch.zeros(n_fft // 2 + 1, n_mels))

    @property
    def n_fft(self) -> int:
        """STFT size (= window length)."""
        return int(self.spectrogram.window.shape[0])

    @property
    def hop(self) -> int:
        """STFT hop (torchaudio's default n_fft // 2)."""
        return self.n_fft // 2

    def forward(self, wave: Tensor) -> Tensor:
        """[B, samples] -> dB mel spectrogram [B, n_mels, frames]."""
        spec = torch.stft(wave, self.n_fft, hop_length=self.hop, window=self.spectrogram.window, center=True,
                          pad_mode="reflect", return_complex=True).abs().pow(2)
        mel = torch.matmul(spec.transpose(1, 2), self.mel_scale.fb).transpose(1, 2)
        return 10.0 * torch.log10(mel.clamp(min=1e-10))


class ConvBlock2d(nn.Module):
    """Conv2d 3x3 (padding 1) -> BatchNorm2d -> ReLU -> MaxPool2d(pooling)."""

    def __init__(self, c_in: int, c_out: int, pooling: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn = nn.BatchNorm2d(c_out)
        self.mp = nn.MaxPool2d(pooling)

    def pre_pool(self, x: Tensor) -> Tensor:
        """Conv, norm and ReLU without the pooling."""
        return F.relu(self.bn(self.conv(x)))

    def forward(self, x: Tensor) -> Tensor:
        """The whole block."""
        return self.mp(self.pre_pool(x))


def _conv_channels(sd: dict[str, Tensor], prefix: str) -> tuple[int, int]:
    w = sd[f"{prefix}.conv.weight"]
    return int(w.shape[1]), int(w.shape[0])


class TaggerBase(nn.Module):
    """Shared front end: dB mel spectrogram -> `spec_bn`, as [B, 1, n_mels, frames]."""

    def __init__(self, sd: dict[str, Tensor]) -> None:
        super().__init__()
        fb = sd["spec.mel_scale.fb"]
        self.spec = MelFrontEnd(int(sd["spec.spectrogram.window"].shape[0]), int(fb.shape[1]))
        self.spec_bn = nn.BatchNorm2d(1)

    def front(self, wave: Tensor) -> Tensor:
        """[B, samples] -> normalised [B, 1, n_mels, frames]."""
        return self.spec_bn(self.spec(wave).unsqueeze(1))


class FCN(TaggerBase):
    """Choi et al.'s fully convolutional tagger, five 2-D blocks then `dense` 64 -> n_tags.

    Frames: the last block's pre-pool features, max over frequency, computed at the fourth block's stride
    (every 64 * 5 / 5 = 64 STFT frames, about 1 s) with a time-dilated last convolution, which reproduces
    every phase of the original 5-frame pooling. Pooled = the model's own path (stride-5 pooling, last block,
    max over the map less the remainder the original's last pooling drops; for a 20-41 s piece exactly the
    original's output), which the tags come from.
    """

    POOLS = ((2, 4), (2, 4), (2, 4), (3, 5), (4, 4))

    def __init__(self, sd: dict[str, Tensor]) -> None:
        super().__init__(sd)
        for i, pool in enumerate(self.POOLS, start=1):
            setattr(self, f"layer{i}", ConvBlock2d(*_conv_channels(sd, f"layer{i}"), pool))
        self.dense = nn.Linear(*reversed(sd["dense.weight"].shape))

    @property
    def frame_stride(self) -> int:
        """STFT frames between output frames (product of the first three time poolings)."""
        return self.POOLS[0][1] * self.POOLS[1][1] * self.POOLS[2][1]

    @property
    def min_frames(self) -> int:
        """Shortest input (STFT frames) that yields one output frame."""
        return self.frame_stride * self.POOLS[3][1]

    def forward(self, wave: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """[B, samples] -> (frames [B, T, 64], pooled [B, 64], probabilities [B, n_tags])."""
        x = self.layer3(self.layer2(self.layer1(self.front(wave))))
        p4 = self.POOLS[3]
        every_phase = F.max_pool2d(self.layer4.pre_pool(x), p4, stride=(p4[0], 1))
        y = every_phase[..., :: p4[1]]  # the original stride-5 pooling
        keep = max(1, y.shape[-1] // self.POOLS[4][1]) * self.POOLS[4][1]  # its last pooling drops a remainder
        pooled = self.layer5.pre_pool(y)[..., :keep].amax(dim=(2, 3))
        l5 = self.layer5
        x = F.conv2d(every_phase, l5.conv.weight, l5.conv.bias, padding=(1, p4[1]), dilation=(1, p4[1]))
        frames = F.relu(l5.bn(x)).amax(dim=2).transpose(1, 2)
        return frames, pooled, torch.sigmoid(self.dense(pooled))


class CRNN(TaggerBase):
    """Choi et al.'s convolutional recurrent tagger: four 2-D blocks, a 2-layer GRU, `dense` 32 -> n_tags.

    Frames: the GRU's output at every step (one step per 2 * 3 * 4 * 4 = 96 STFT frames);
    pooled = the last step (what the model classifies).
    """

    POOLS = ((2, 2), (3, 3), (4, 4), (4, 4))

    def __init__(self, sd: dict[str, Tensor]) -> None:
        super().__init__(sd)
        for i, pool in enumerate(self.POOLS, start=1):
            setattr(self, f"layer{i}", ConvBlock2d(*_conv_channels(sd, f"layer{i}"), pool))
        hidden = int(sd["layer5.weight_hh_l0"].shape[1])
        n_layers = sum(1 for k in sd if k.startswith("layer5.weight_ih_l"))
        self.layer5 = nn.GRU(int(sd["layer5.weight_ih_l0"].shape[1]), hidden, n_layers, batch_first=True)
        self.dense = nn.Linear(*reversed(sd["dense.weight"].shape))

    @property
    def frame_stride(self) -> int:
        """STFT frames per GRU step."""
        out = 1
        for _, t in self.POOLS:
            out *= t
        return out

    @property
    def min_frames(self) -> int:
        """Shortest input (STFT frames) that yields one GRU step."""
        return self.frame_stride

    def forward(self, wave: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """[B, samples] -> (frames [B, T, 32], pooled [B, 32], probabilities [B, n_tags])."""
        x = self.front(wave)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        frames, _ = self.layer5(x.amax(dim=2).transpose(1, 2))
        pooled = frames[:, -1]
        return frames, pooled, torch.sigmoid(self.dense(pooled))


class ConvV(nn.Module):
    """MusiCNN's vertical (timbre) convolution: Conv2d (f, 7) -> BN -> ReLU -> max over frequency."""

    def __init__(self, c_out: int, shape: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, c_out, shape, padding=(0, shape[1] // 2))
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        """[B, 1, F, T] -> [B, c_out, T]."""
        return F.relu(self.bn(self.conv(x))).amax(dim=2)


class ConvH(nn.Module):
    """MusiCNN's horizontal (temporal) convolution on the frequency-averaged spectrogram."""

    def __init__(self, c_out: int, length: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, c_out, length, padding=length // 2)
        self.bn = nn.BatchNorm1d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        """[B, 1, F, T] -> [B, c_out, T]."""
        return F.relu(self.bn(self.conv(x.mean(dim=2))))


class Conv1dBlock(nn.Module):
    """Conv1d (padding k // 2) -> BatchNorm1d -> ReLU (the back end's pooling is 1)."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm1d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        """[B, c_in, T] -> [B, c_out, T]."""
        return F.relu(self.bn(self.conv(x)))


class MusiCNN(TaggerBase):
    """Pons et al.'s musically motivated tagger on 3-s windows. Frames: the `dense1` output (after BN and
    ReLU) of each window; pooled = mean of the frames; probabilities = the mean of the windows' outputs."""

    def __init__(self, sd: dict[str, Tensor]) -> None:
        super().__init__(sd)
        layers: list[nn.Module] = []
        for i in range(5):
            w = sd[f"layers.{i}.conv.weight"]
            layers.append(ConvV(int(w.shape[0]), tuple(w.shape[2:])) if w.dim() == 4 else
                          ConvH(int(w.shape[0]), int(w.shape[2])))
        self.layers = nn.ModuleList(layers)
        for i in range(1, 4):
            w = sd[f"layer{i}.conv.weight"]
            setattr(self, f"layer{i}", Conv1dBlock(int(w.shape[1]), int(w.shape[0]), int(w.shape[2])))
        self.dense1 = nn.Linear(*reversed(sd["dense1.weight"].shape))
        self.bn = nn.BatchNorm1d(int(sd["dense1.weight"].shape[0]))
        self.dense2 = nn.Linear(*reversed(sd["dense2.weight"].shape))

    def windows(self, wave: Tensor) -> tuple[Tensor, Tensor]:
        """[N windows, samples] -> (dense1 features [N, D], probabilities [N, n_tags])."""
        x = self.front(wave)
        out = torch.cat([layer(x) for layer in self.layers], dim=1)
        res1 = self.layer1(out)
        res2 = self.layer2(res1) + res1
        res3 = self.layer3(res2) + res2
        feats = torch.cat([out, res1, res2, res3], dim=1)
        pooled = torch.cat([feats.amax(dim=2), feats.mean(dim=2)], dim=1)
        h = F.relu(self.bn(self.dense1(pooled)))
        return h, torch.sigmoid(self.dense2(h))
