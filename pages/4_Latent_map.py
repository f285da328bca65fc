"""Latent map: PCA or UMAP scatter of an embedding coloured by genre, artist or k-means cluster;
cluster quality numbers; selecting a point plays the track and lists its neighbours."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.recommend.maps import MAX_CLUSTERS, default_cluster_count, read_map
from ui import data as ad
from ui import widgets as aw

st.set_page_config(page_title="Latent map", page_icon="🗺️", layout="wide")
st.title(":material/scatter_plot: Latent map")

AXES = {"PCA": ("PC1", "PC2"), "UMAP": ("UMAP-1", "UMAP-2")}

ds, ds_dir, tracks, models = aw.dataset_models("map_dataset")
model = aw.pick_model("Embedding", models, ds_dir, "map_model")
method = st.sidebar.radio("Projection", ["PCA", "UMAP"], horizontal=True, key="map_method")
colours = ["genre", "artist", "cluster"] if ad.has_artists(tracks) else ["genre", "cluster"]
colour = st.sidebar.radio("Colour by", colours, horizontal=True, key="map_colour")
if not ad.has_artists(tracks):
    st.sidebar.caption("Colour by artist is not offered: this catalog has no artist labels.")
# one slider state per dataset: a new dataset starts at its own genre count, not the previous dataset's choice
n_clusters = st.sidebar.slider("k-means clusters", 2, MAX_CLUSTERS, default_cluster_count(tracks["genre"].to_numpy()),
                               key=f"map_k|{ds}")
k = st.sidebar.slider("Neighbours to list", 1, 20, 5, key="map_nn")

if read_map(ds_dir, model, method) is None:
    st.caption(f"No precomputed {method} map of this embedding; computing it now (precompute all: "
               f"`{ad.command_for('maps', ds)}`).")
xy = ad.cached_projection(ds_dir, model, method)
clusters, quality = ad.cached_clusters(ds_dir, model, n_clusters)
c = st.columns(4)
c[0].metric("silhouette (genre, cosine)", f"{quality['silhouette_genre']:.3f}")
c[1].metric("silhouette (k-means, cosine)", f"{quality['silhouette_kmeans']:.3f}")
c[2].metric("V-measure k-means vs genre", f"{quality['v_measure_kmeans_vs_genre']:.3f}")
c[3].metric("ARI k-means vs genre", f"{quality['ari_kmeans_vs_genre']:.3f}")
st.caption("Silhouette in [-1, 1] (higher = tighter, better separated groups) measured in the full "
           "embedding, not the 2-D map; V-measure/ARI compare k-means clusters with the genre labels (1 = identical).")

ax, ay = AXES[method]
frame = pd.DataFrame({ax: xy[:, 0], ay: xy[:, 1], "row": range(len(tracks)), "title": tracks["title"],
                      "artist": tracks["artist"], "genre": tracks["genre"],
                      "cluster": [f"c{int(x)}" for x in clusters]})
order = {"cluster": [f"c{i}" for i in sorted(set(int(x) for x in clusters))],
         "genre": sorted(frame["genre"].unique()), "artist": sorted(frame["artist"].unique())}
fig = px.scatter(frame, x=ax, y=ay, color=colour, custom_data=["row"], hover_name="title",
                 hover_data={"artist": ad.has_artists(tracks), "genre": True, ax: False, ay: False, "row": False},
                 category_orders={colour: order[colour]}, render_mode="webgl", height=560)
fig.update_traces(marker={"size": 6 if len(frame) < 2000 else 3})
fig.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend_title_text=colour,
                  showlegend=frame[colour].nunique() <= 40,
                  title=f"{model} ({ad.family_of(ds_dir, model)}) — {method}")
event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="map_chart")
points = (event or {}).get("selection", {}).get("points", []) if event else []
clicked = points[0].get("customdata") if points else None
if clicked and st.session_state.get("map_clicked") != int(clicked[0]):
    # a new click on the map wins over the picker below
    st.session_state["map_clicked"] = int(clicked[0])
    st.session_state["map_pick"] = int(clicked[0])

current = st.session_state.get("map_pick")
options = list(range(len(tracks))) if len(tracks) <= 2000 else ([current] if current is not None else [])
if options:
    chosen = st.selectbox("Or choose a track", options, index=None, key="map_pick",
                          format_func=lambda r: aw.track_label(tracks, r),
                          placeholder="click a point or pick a track")
    current = None if chosen is None else int(chosen)
if current is None:
    st.info("Click a point on the map to play it and see its neighbours.")
    st.stop()
t = tracks.iloc[current]
cluster = f"cluster c{int(clusters[current])}"
st.markdown(f"### {aw.esc(t['title'])}  \n{aw.meta_line(t['artist'], t['genre'], cluster)}")
aw.play(t["path"], ds_dir, t["title"])
rows, scores = ad.cached_top_k(ds_dir, model, current, k)
st.markdown(f"**Nearest {len(rows)} in {aw.esc(model)}**")
for r, s in zip(rows, scores):
    n = tracks.iloc[int(r)]
    with st.container(border=True):
        st.markdown(f"**{aw.esc(n['title'])}** · {aw.meta_line(n['artist'], n['genre'], f'cos {s:.3f}')}")
        aw.play(n["path"], ds_dir, n["title"])
