"""Hostile input against the text system: huge queries and lone surrogates through the text encoders (and the
Text search page's query helper), CLIP folders with pickled, truncated or forged weight files, caption CSVs with
a ragged extra field on every row or every (clip, caption) pair given twice."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.text.captions import CaptionError, load_captions
from core.text.encoders import TextEncoderError, load_text_encoder
from tests.test_text_encoders import make_tiny_clip


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    return make_tiny_clip(tmp_path_factory.mktemp("hostile_clip"))


@pytest.fixture(scope="module")
def minilm():
    return load_text_encoder("minilm")


def test_a_ten_megabyte_query_is_cut_before_tokenising(minilm):
    from ui.text import encode_query

    query = "slow acoustic guitar with soft female vocals " * 120_000  # 5.4 MB
    t0 = time.monotonic()
    out = minilm.encode_checked([query, "calm piano"])
    got = encode_query(minilm, query)
    assert time.monotonic() - t0 < 20  # tokenising the whole text took minutes on a busy 2-core machine
    assert out.truncated == [0] and np.isfinite(out.vectors).all()
    assert got.truncated and "only its beginning was used" in got.message
    np.testing.assert_allclose(got.vector, out.vectors[0], atol=1e-5)


def test_lone_surrogates_are_encoded_not_raised(minilm, tiny_clip):
    clip = load_text_encoder(f"clip:{tiny_clip}")
    for enc in (minilm, clip):
        vecs = enc.encode(["calm \ud800 piano", "\udfff"])
        assert vecs.shape == (2, enc.dim) and np.isfinite(vecs).all()
        assert enc.n_tokens(["slow \ud800 guitar"])[0] > 0
        assert enc.encode_checked(["a \udc80 b"]).vectors.shape == (1, enc.dim)


def _broken_copies(tiny_clip: Path, root: Path) -> dict[str, Path]:
    """Copies of a CLIP folder whose weights are a planted pickle, truncated, or claim a 2**40-byte header."""
    out = {}
    for name in ("pickle", "truncated", "huge_header"):
        d = root / name
        shutil.copytree(tiny_clip, d)
        st = d / "model.safetensors"
        raw = st.read_bytes()
        if name == "pickle":
            st.unlink()
            (d / "pytorch_model.bin").write_bytes(b"cbuiltins\nprint\n(S'planted pickle ran'\ntR.")
        elif name == "truncated":
            st.write_bytes(raw[: len(raw) // 2])
        else:
            st.write_bytes((2**40).to_bytes(8, "little") + raw[8:])
        out[name] = d
    return out


def test_clip_folders_with_bad_weight_files_are_one_clear_error(tiny_clip, tmp_path, capsys):
    for _name, folder in _broken_copies(tiny_clip, tmp_path).items():
        with pytest.raises(TextEncoderError, match="cannot load a CLIP text model"):
            load_text_encoder(f"clip:{folder}")
    assert "planted pickle ran" not in capsys.readouterr().out


def _tracks(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"track_id": [f"t{i}" for i in range(n)], "path": [f"/x/t{i}.wav" for i in range(n)],
                         "split": ["train", "val", "test"][:n]})


def test_caption_csv_with_one_extra_field_on_every_row_is_refused(tmp_path):
    p = tmp_path / "caps.csv"
    p.write_text("track_id,caption\nt0,a calm piano,oops\nt1,fast drums,oops\n")
    with pytest.raises(CaptionError, match="ragged row: line 2 has 3 fields, the header 2"):
        load_captions(_tracks(), p)


def test_repeated_clip_caption_pairs_are_listed_and_counted_once(tmp_path):
    p = tmp_path / "caps.csv"
    rows = [("t0", "a calm piano"), ("t1", "fast drums"), ("t1", "a second caption")]
    pd.DataFrame(rows + rows + [("t0", " a calm piano ")], columns=["track_id", "caption"]).to_csv(p, index=False)
    caps = load_captions(_tracks(), p)
    assert len(caps.table) == 3
    assert sorted(caps.table["caption"]) == ["a calm piano", "a second caption", "fast drums"]
    assert len(caps.duplicates) == 4 and all("#" in d for d in caps.duplicates)
