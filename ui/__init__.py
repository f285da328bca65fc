"""Streamlit helpers shared by `app.py` and `pages/`: the only place besides them that imports streamlit.

- `ui.data`: artifact discovery and loaders with per-file-stamp caches, missing-artifact messages
- `ui.audio`: playable excerpts and display log-mels of catalog tracks
- `ui.widgets`: dataset/query pickers, listener name, players, labels
- `ui.upload`: checking an uploaded file and encoding it with the latent study's model
- `ui.recon`: the Reconstructions page's view of `recon/index.json`
"""
