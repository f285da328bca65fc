"""Hostile input against the catalogs: a labels CSV whose every row has one field more than its header (pandas
would silently make the first column the index and shift every label) is refused as ragged by `prepare`."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from train.prepare import main as prepare_main


def test_labels_csv_with_an_extra_field_on_every_row_exits_2(tmp_path, capsys):
    root = tmp_path / "in"
    root.mkdir()
    t = np.arange(22050 * 2) / 22050
    for i, f in enumerate((220.0, 330.0)):
        sf.write(root / f"a{i}.wav", 0.3 * np.sin(2 * np.pi * f * t), 22050)
    labels = tmp_path / "labels.csv"
    labels.write_text("path,genre\na0.wav,blues,oops\na1.wav,rock,oops\n")
    out = tmp_path / "out"
    rc = prepare_main(["--dataset", "folder", "--root", str(root), "--labels", str(labels), "--out", str(out),
                       "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "ragged row: line 2 has 3 fields, the header 2" in err
    assert not (out / "catalog.csv").exists()
