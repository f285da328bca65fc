"""Text encoders: the CLIP path from a local folder (a tiny randomly initialised CLIP text model and a tiny
tokenizer built here, nothing downloaded) and the bundled MiniLM's truncation report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.text.encoders import ClipTextEncoder, TextEncoderError, encoder_slug, load_text_encoder

WORDS = ("slow fast acoustic electronic guitar piano soft loud female male vocals calm happy drums music with "
         "and a").split()


def make_tiny_clip(folder: Path, max_tokens: int = 12) -> Path:
    """A CLIPTextModelWithProjection (2 layers, 32-d, projection 24) and a word-level tokenizer saved to `folder`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<bos>": 2, "<eos>": 3, **{w: i + 4 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A <eos>",
                                                       special_tokens=[("<bos>", 2), ("<eos>", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>",
                                   pad_token="<pad>", model_max_length=max_tokens)
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=16, projection_dim=24, pad_token_id=0,
                         bos_token_id=2, eos_token_id=3)
    CLIPTextModelWithProjection(cfg).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    return make_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


def test_clip_text_encoder_from_local_folder(tiny_clip):
    enc = load_text_encoder(f"clip:{tiny_clip}")
    assert isinstance(enc, ClipTextEncoder)
    assert enc.dim == 24 and enc.max_tokens == 12
    texts = ["slow acoustic guitar", "fast electronic drums", "slow acoustic guitar"]
    vecs = enc.encode(texts, batch_size=2)
    assert vecs.shape == (3, 24) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vecs[0], vecs[2], atol=1e-5)  # batching and padding do not change a text's vector
    assert float(vecs[0] @ vecs[1]) < 0.9999
    # the same text alone vs inside a padded batch gives the same vector
    np.testing.assert_allclose(enc.encode(["slow acoustic guitar"])[0], vecs[0], atol=1e-5)


def test_clip_reports_and_truncates_long_texts(tiny_clip):
    enc = load_text_encoder(f"clip:{tiny_clip}")
    long = " ".join(WORDS)  # 18 words + 2 special tokens > 12
    out = enc.encode_checked(["calm piano", long])
    assert out.truncated == [1]
    assert enc.n_tokens([long])[0] == len(WORDS) + 2
    assert np.isfinite(out.vectors).all()


def test_clip_bad_folder_is_a_clear_error(tmp_path):
    with pytest.raises(TextEncoderError, match="not found"):
        load_text_encoder(f"clip:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TextEncoderError, match="cannot load"):
        load_text_encoder(f"clip:{tmp_path / 'empty'}")
    with pytest.raises(TextEncoderError, match="unknown text encoder"):
        load_text_encoder("bert")


def test_encoder_slug_is_file_safe():
    assert encoder_slug("minilm") == "minilm"
    slug = encoder_slug("clip:/some/where/My CLIP model")
    assert slug.startswith("clip_My-CLIP-model_") and "/" not in slug


def test_minilm_flags_texts_over_its_token_limit():
    enc = load_text_encoder("minilm")
    long = "slow acoustic guitar with soft female vocals " * 60
    out = enc.encode_checked(["calm piano", long])
    assert out.vectors.shape == (2, 384)
    assert out.truncated == [1] and enc.n_tokens([long])[0] > enc.max_tokens


def test_a_projection_trains_onto_the_clip_text_space(tiny_clip, demo_dir, tmp_path):
    import shutil

    from core.audio.cache import FeatureCache
    from core.recommend.embeddings import write_baseline
    from core.text.runs import ClapConfig, run_clap

    ds = tmp_path / "demo"
    shutil.copytree(demo_dir, ds)
    write_baseline(FeatureCache.open(ds), ds)
    cfg = ClapConfig(audio_encoder="baseline", text_encoder=f"clip:{tiny_clip}", n_boot=20)
    cfg.train.max_epochs = 3
    res = run_clap(ds, cfg, progress=False)
    assert res.table.text.shape[1] == 24 and res.run.startswith("clap_baseline__clip_")
    assert res.fit.epochs == 3 and list((ds / "clap" / "text_cache").iterdir())[0].name.startswith("clip_")
    assert res.evaluations["test"].pool.model["text_to_audio"].n_candidates == 5
