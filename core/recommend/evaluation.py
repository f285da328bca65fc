"""Evaluation of every embedding of a dataset: whole-split retrieval scores with bootstrap CIs and
chance levels, same- vs different-genre cosine, a handpicked query set side by side, and a
Markdown report (metrics.json, queries.csv, report.md).

Protocol: queries are the tracks of one split (default `test`; use `val` for model
selection), candidates are all ok tracks of the dataset except the query itself (and,
in the "excl. same artist" setting, tracks by the query's artist: Pampalk's artist filter).
Where a catalog has artists every genre/tag figure is reported in both settings, and the
report's headline and conclusions use the artist-filtered one. CIs are percentile
bootstraps over queries (fixed seed); differences against the baseline are paired bootstraps
over the same queries. Embeddings of the "pretrained" family (sidecar `family`, or a name
starting with `pretrained_`) appear in every table labelled "pretrained reference".
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.audio.catalogs import SPLIT_HINT
from core.io import atomic_write_text, to_markdown, write_csv
from core.recommend.embeddings import list_embeddings, load_embedding
from core.recommend.metrics import (
    Estimate,
    bootstrap_ci,
    chance_level,
    genre_cosine_gap,
    hit_rate_at_k,
    paired_bootstrap_diff,
    precision_at_k,
    precision_ceiling,
    tag_jaccard_at_k,
)
from core.recommend.similarity import effective_k, recommend, split_tags, valid_rows


@dataclass
class EvalConfig:
    """What to evaluate and how."""

    split: str = "test"
    ks: tuple[int, ...] = (5, 10)
    n_boot: int = 1000
    seed: int = 0
    embeddings: list[str] | None = None
    queries_csv: Path | None = None
    n_queries: int = 8
    k_show: int = 5
    write: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def label_info(tracks: pd.DataFrame) -> dict[str, bool]:
    """Which label kinds exist in a catalog (genre, artist, tags)."""
    def has(col: str) -> bool:
        return col in tracks.columns and (tracks[col].fillna("").astype(str) != "").any()
    return {"genre": has("genre"), "artist": has("artist"), "tags": has("tags")}


def primary_metric(tracks: pd.DataFrame, k: int = 10) -> str:
    """The figure a dataset is judged by: genre P@K if >= 90% of tracks have a genre (or there are no
    tags), else tag Jaccard@K (MusicCaps: genres are sparse, every clip has aspect tags)."""
    genre_cov = float((tracks["genre"].fillna("").astype(str) != "").mean()) if "genre" in tracks.columns else 0.0
    has_tags = "tags" in tracks.columns and bool((tracks["tags"].fillna("").astype(str) != "").any())
    return f"genre_p@{k}" if genre_cov >= 0.9 or not has_tags else f"tag_jaccard@{k}"


def query_rows_for(tracks: pd.DataFrame, split: str) -> np.ndarray:
    """Track rows used as queries: one split, several joined by '+' (train+val), or 'all'."""
    if split == "all":
        return tracks["row"].to_numpy(dtype=np.int64)
    rows = tracks.loc[tracks["split"].isin(split.split("+")), "row"].to_numpy(dtype=np.int64)
    if len(rows) == 0:
        raise ValueError(f"no tracks in split {split!r}; choose one of {sorted(tracks['split'].unique())} or 'all', "
                         f"or {SPLIT_HINT}")
    return rows


@dataclass
class EmbeddingScore:
    """Scores of one embedding under one candidate setting: per-query values (for paired comparisons)
    and their bootstrap estimates, chance levels, K used and the rows that could not be scored."""

    queries: np.ndarray
    per_query: dict[str, np.ndarray]
    estimates: dict[str, Estimate]
    chance: dict[str, float]
    k_used: int
    n_candidates: int
    skipped_rows: list[int]
    diff_vs_baseline: dict[str, Estimate] | None = None
    ceiling: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The metrics.json form of this setting (per-query values left out)."""
        d: dict[str, Any] = {"scores": {k: v.to_dict() for k, v in self.estimates.items()}, "chance": self.chance,
                             "ceiling": self.ceiling, "k_used": self.k_used, "n_candidates": self.n_candidates,
                             "skipped_rows": self.skipped_rows}
        if self.diff_vs_baseline is not None:
            d["diff_vs_baseline"] = {k: v.to_dict() for k, v in self.diff_vs_baseline.items()}
        return d


def _label_arrays(tracks: pd.DataFrame, info: dict[str, bool]) -> tuple[np.ndarray, Any, Any]:
    """(genres, artists or None, tags or None) as object arrays of str."""
    def col(name: str) -> np.ndarray:
        return tracks[name].fillna("").astype(str).to_numpy(dtype=object)
    return col("genre"), (col("artist") if info["artist"] else None), (col("tags") if info["tags"] else None)


def score_embedding(emb: np.ndarray, tracks: pd.DataFrame, query_rows: np.ndarray, ks: tuple[int, ...],
                    exclude_same_artist: bool, n_boot: int = 1000, seed: int = 0) -> EmbeddingScore:
    """Per-query scores and their bootstrap estimates for one embedding and one candidate setting."""
    info = label_info(tracks)
    genres, artists, tags = _label_arrays(tracks, info)
    ok = valid_rows(emb)
    q = query_rows[ok[query_rows]]
    n_cand = int(ok.sum()) - 1
    per_query: dict[str, np.ndarray] = {}
    chance: dict[str, float] = {}
    ceiling: dict[str, float] = {}
    kmax = effective_k(max(ks), n_cand)
    idx, _ = recommend(emb, q, kmax, candidate_mask=ok, artists=artists, exclude_same_artist=exclude_same_artist)
    excl = {"artists": artists, "exclude_same_artist": exclude_same_artist}
    for k in ks:
        kk = min(k, kmax)
        sub = idx[:, :kk]
        if info["genre"]:
            per_query[f"genre_p@{k}"] = precision_at_k(genres, q, sub)
            chance[f"genre_p@{k}"] = float(np.nanmean(chance_level("precision", genres, q, kk, ok, **excl)))
            ceiling[f"genre_p@{k}"] = float(np.nanmean(precision_ceiling(genres, q, kk, ok, **excl)))
        if info["artist"] and not exclude_same_artist:
            per_query[f"artist_hr@{k}"] = hit_rate_at_k(artists, q, sub)
            chance[f"artist_hr@{k}"] = float(np.nanmean(chance_level("hit_rate", artists, q, kk, ok)))
        if info["tags"]:
            per_query[f"tag_jaccard@{k}"] = tag_jaccard_at_k(tags, q, sub)
            chance[f"tag_jaccard@{k}"] = float(np.nanmean(chance_level("tag_jaccard", tags, q, kk, ok, **excl)))
    est = {name: bootstrap_ci(v, n_boot, seed) for name, v in per_query.items()}
    return EmbeddingScore(queries=q, per_query=per_query, estimates=est, chance=chance, k_used=kmax,
                          n_candidates=n_cand, skipped_rows=[int(r) for r in np.nonzero(~ok)[0]], ceiling=ceiling)


def pick_queries(tracks: pd.DataFrame, split: str, n: int = 8, seed: int = 0,
                 queries_csv: Path | None = None) -> list[int]:
    """Handpicked queries: rows (or track_ids) from a CSV, else one track per genre/first tag of the split.

    The rule: group the split's tracks by genre (first tag when genres are missing), visit the
    groups largest-first and take the first track (by track_id) whose artist was not used yet.
    """
    if queries_csv is not None:
        qdf = pd.read_csv(queries_csv, dtype=str)
        if "row" in qdf.columns:
            return [int(r) for r in qdf["row"]]
        ids = set(qdf["track_id"])
        return tracks.loc[tracks["track_id"].isin(ids), "row"].astype(int).tolist()
    pool = tracks[tracks["row"].isin(query_rows_for(tracks, split))].copy()
    key = pool["genre"].fillna("").astype(str)
    if (key == "").all() and "tags" in pool.columns:
        key = pool["tags"].map(lambda t: sorted(split_tags(t))[0] if split_tags(t) else "")
    pool["_key"] = key
    pool = pool.sort_values("track_id")
    groups = pool.groupby("_key", sort=True).size().sort_values(ascending=False, kind="stable")
    rng = np.random.default_rng(seed)
    picked: list[int] = []
    used_artists: set[str] = set()
    for g in groups.index:
        if len(picked) >= n:
            break
        cand = pool[pool["_key"] == g]
        order = rng.permutation(len(cand))
        for i in order:
            r = cand.iloc[int(i)]
            a = str(r.get("artist", "") or "")
            if a and a in used_artists:
                continue
            picked.append(int(r["row"]))
            if a:
                used_artists.add(a)
            break
    return picked


def _track_label(t: pd.Series) -> str:
    """Short text for a track in the report."""
    title = str(t.get("title", "") or t.get("track_id", ""))
    g = str(t.get("genre", "") or "")
    a = str(t.get("artist", "") or "")
    bits = [title[:40]]
    if a:
        bits.append(f"— {a[:20]}")
    if g:
        bits.append(f"({g})")
    return " ".join(bits)


def query_table(embs: dict[str, np.ndarray], tracks: pd.DataFrame, queries: list[int], k: int,
                exclude_same_artist: bool = False) -> pd.DataFrame:
    """Long table of each query's top-K under every embedding with genre/artist/tag hits; column `setting`
    says whether same-artist candidates were excluded ("excl_same_artist") or not ("all")."""
    t = tracks.set_index("row", drop=False)
    info = label_info(tracks)
    artists = tracks["artist"].fillna("").astype(str).to_numpy(dtype=object) if info["artist"] else None
    recs = []
    for name, emb in embs.items():
        ok = valid_rows(emb)
        qs = [q for q in queries if ok[q]]
        if not qs:
            continue
        kk = min(k, int(ok.sum()) - 1)
        idx, sc = recommend(emb, qs, kk, candidate_mask=ok, artists=artists, exclude_same_artist=exclude_same_artist)
        for qi, q in enumerate(qs):
            recs += _query_rows(t, name, q, idx[qi], sc[qi])
    df = pd.DataFrame(recs)
    if len(df):
        df["setting"] = "excl_same_artist" if exclude_same_artist else "all"
    return df


def _query_rows(t: pd.DataFrame, name: str, q: int, idx: np.ndarray, sc: np.ndarray) -> list[dict[str, Any]]:
    """queries.csv rows of one query's list under one embedding."""
    qt = t.loc[q]
    qtags = split_tags(qt.get("tags", ""))
    out = []
    for rank, (r, s) in enumerate(zip(idx, sc), 1):
        if r < 0:
            continue
        rt = t.loc[int(r)]
        rtags = split_tags(rt.get("tags", ""))
        out.append({
            "query_row": q, "query_track_id": qt["track_id"], "query_title": qt.get("title", ""),
            "query_genre": qt.get("genre", ""), "query_artist": qt.get("artist", ""),
            "model": name, "rank": rank, "rec_row": int(r), "rec_track_id": rt["track_id"],
            "rec_title": rt.get("title", ""), "rec_genre": rt.get("genre", ""),
            "rec_artist": rt.get("artist", ""), "score": round(float(s), 4),
            "genre_hit": bool(qt.get("genre", "")) and rt.get("genre", "") == qt.get("genre", ""),
            "artist_hit": bool(qt.get("artist", "")) and rt.get("artist", "") == qt.get("artist", ""),
            "tag_jaccard": (len(qtags & rtags) / len(qtags | rtags)) if (qtags or rtags) else 0.0,
        })
    return out


FAMILY_LABELS = {"classic": "classic", "autoencoder": "autoencoder", "pretrained": "pretrained reference",
                 "contrastive": "contrastive"}


def family_of(name: str, meta: dict[str, Any]) -> str:
    """An embedding's family: its sidecar's "family", else "pretrained" for `pretrained_*`, "classic" for
    the baseline, "autoencoder" for anything with a checkpoint."""
    fam = str(meta.get("family", "") or "")
    if fam:
        return fam
    if name.startswith("pretrained_"):
        return "pretrained"
    if name == "baseline":
        return "classic"
    return "autoencoder" if meta.get("checkpoint") else ""


@dataclass
class EmbeddingResult:
    """Everything measured for one embedding: its scores under each candidate setting and the
    same- vs different-genre cosine."""

    dim: int
    pooling: str
    settings: dict[str, EmbeddingScore]
    genre_cosine: dict[str, float] | None = None
    family: str = ""

    def to_json(self) -> dict[str, Any]:
        """metrics.json form: dim, pooling, family, one entry per setting, genre_cosine."""
        d: dict[str, Any] = {"dim": self.dim, "pooling": self.pooling, "family": self.family}
        d.update({s: v.to_json() for s, v in self.settings.items()})
        if self.genre_cosine is not None:
            d["genre_cosine"] = self.genre_cosine
        return d


@dataclass
class Evaluation:
    """The result of `evaluate_dataset`: what metrics.json holds (`to_json()`), plus the handpicked
    query table (queries.csv) and the per-query values behind every estimate."""

    dataset: str
    split: str
    n_queries: int
    n_tracks: int
    ks: list[int]
    n_boot: int
    seed: int
    labels: dict[str, bool]
    embeddings: dict[str, EmbeddingResult]
    primary_metric: str = ""
    chosen_on_val: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    handpicked_queries: list[int] = field(default_factory=list)
    queries: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_json(self) -> dict[str, Any]:
        """The metrics.json document."""
        return {"dataset": self.dataset, "split": self.split, "n_queries": self.n_queries,
                "n_tracks": self.n_tracks, "ks": self.ks, "n_boot": self.n_boot, "seed": self.seed,
                "labels": self.labels, "primary_metric": self.primary_metric, "chosen_on_val": self.chosen_on_val,
                "embeddings": {n: r.to_json() for n, r in self.embeddings.items()},
                "warnings": self.warnings, "handpicked_queries": self.handpicked_queries}

    def settings(self) -> list[str]:
        """Candidate settings evaluated: "all", plus "excl_same_artist" where artists are known."""
        return ["all"] + (["excl_same_artist"] if self.labels["artist"] else [])

    @property
    def primary_setting(self) -> str:
        """The setting of the headline and conclusions: same-artist excluded where artists are known."""
        return self.settings()[-1]


def load_evaluation_inputs(ds_dir: Path, names: list[str] | None
                           ) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """(ok tracks in row order, embeddings by name, their sidecars); rows must match the catalog."""
    from core.audio.cache import load_catalog

    cat = load_catalog(ds_dir)
    tracks = cat[cat["row"] >= 0].sort_values("row").reset_index(drop=True)
    names = names or list_embeddings(ds_dir)
    if not names:
        raise FileNotFoundError(f"no embeddings in {ds_dir / 'embeddings'}; run train.autoencoders first")
    embs: dict[str, np.ndarray] = {}
    metas: dict[str, dict[str, Any]] = {}
    for n in names:
        e, m = load_embedding(ds_dir, n)
        if e.shape[0] != len(tracks):
            raise ValueError(f"embedding {n} has {e.shape[0]} rows but the catalog has {len(tracks)} ok tracks; "
                             "re-run train.autoencoders after re-preparing the dataset")
        embs[n], metas[n] = e, m
    return tracks, embs, metas


def score_all(ev: Evaluation, embs: dict[str, np.ndarray], metas: dict[str, dict[str, Any]],
              tracks: pd.DataFrame, q_rows: np.ndarray, cfg: EvalConfig) -> None:
    """Fill `ev.embeddings` (every embedding under every setting) and `ev.warnings`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n, e in embs.items():
            settings = {s: score_embedding(e, tracks, q_rows, cfg.ks, s == "excl_same_artist", cfg.n_boot, cfg.seed)
                        for s in ev.settings()}
            gc = None
            if ev.labels["genre"]:
                gc = genre_cosine_gap(e, tracks["genre"].astype(str).to_numpy(object), np.nonzero(valid_rows(e))[0])
            ev.embeddings[n] = EmbeddingResult(int(e.shape[1]), metas[n].get("pooling", ""), settings, gc,
                                               family_of(n, metas[n]))
    ev.warnings = sorted({str(w.message) for w in caught})


def add_baseline_diffs(ev: Evaluation, cfg: EvalConfig) -> None:
    """Paired bootstrap difference of every embedding minus the baseline, per setting and metric
    (only where both were scored on the same queries)."""
    if "baseline" not in ev.embeddings:
        return
    base = ev.embeddings["baseline"]
    for n, r in ev.embeddings.items():
        if n == "baseline":
            continue
        for s, sc in r.settings.items():
            b = base.settings[s]
            if not np.array_equal(sc.queries, b.queries):
                continue  # different valid query sets (missing rows): no paired comparison
            sc.diff_vs_baseline = {m: paired_bootstrap_diff(v, b.per_query[m], cfg.n_boot, cfg.seed)
                                   for m, v in sc.per_query.items()}


def choose_on_val(ev: Evaluation, embs: dict[str, np.ndarray], tracks: pd.DataFrame, cfg: EvalConfig) -> None:
    """The learned model (neither baseline nor pretrained reference) with the best primary figure on the
    validation split's queries (artist-filtered where artists are known): the one the headline reports,
    so that the headline is not picked on the figure it reports. Ties go to the first name."""
    learned = [n for n, r in ev.embeddings.items() if n != "baseline" and r.family != "pretrained"]
    if not learned or not (tracks["split"] == "val").any():
        return
    rows = query_rows_for(tracks, "val")
    excl = ev.primary_setting == "excl_same_artist"
    k = int(ev.primary_metric.split("@")[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = {n: score_embedding(embs[n], tracks, rows, (k,), excl, n_boot=1, seed=cfg.seed)
                  .estimates.get(ev.primary_metric) for n in learned}
    scores = {n: round(e.mean, 6) for n, e in scores.items() if e is not None and np.isfinite(e.mean)}
    if scores:
        best = max(scores, key=lambda n: scores[n])
        ev.chosen_on_val = {"embedding": best, "metric": ev.primary_metric, "setting": ev.primary_setting,
                            "val_score": scores[best], "n_val_queries": int(len(rows)), "val_scores": scores}


def write_outputs(ds_dir: Path, ev: Evaluation, tracks: pd.DataFrame) -> None:
    """metrics.json, queries.csv and report.md."""
    atomic_write_text(ds_dir / "metrics.json", json.dumps(ev.to_json(), indent=2, default=float))
    write_csv(ev.queries, ds_dir / "queries.csv")
    atomic_write_text(ds_dir / "report.md", render_report(ev, tracks))


def evaluate_dataset(ds_dir: Path | str, cfg: EvalConfig | None = None) -> Evaluation:
    """Score every embedding of `ds_dir`; write metrics.json, queries.csv and report.md; return the results."""
    cfg = cfg or EvalConfig()
    ds_dir = Path(ds_dir)
    tracks, embs, metas = load_evaluation_inputs(ds_dir, cfg.embeddings)
    q_rows = query_rows_for(tracks, cfg.split)
    ev = Evaluation(dataset=ds_dir.name, split=cfg.split, n_queries=int(len(q_rows)), n_tracks=int(len(tracks)),
                    ks=list(cfg.ks), n_boot=cfg.n_boot, seed=cfg.seed, labels=label_info(tracks), embeddings={},
                    primary_metric=primary_metric(tracks, max(cfg.ks)))
    score_all(ev, embs, metas, tracks, q_rows, cfg)
    add_baseline_diffs(ev, cfg)
    choose_on_val(ev, embs, tracks, cfg)
    ev.handpicked_queries = pick_queries(tracks, cfg.split, cfg.n_queries, cfg.seed, cfg.queries_csv)
    ev.queries = pd.concat([query_table(embs, tracks, ev.handpicked_queries, cfg.k_show, s == "excl_same_artist")
                            for s in ev.settings()], ignore_index=True)
    if cfg.write:
        write_outputs(ds_dir, ev, tracks)
    return ev


def _metric_names(results: dict[str, Any], setting: str) -> list[str]:
    """Metric keys present for a setting, in a stable order."""
    names: list[str] = []
    for r in results["embeddings"].values():
        for k in r.get(setting, {}).get("scores", {}):
            if k not in names:
                names.append(k)
    return names


def metrics_table(results: dict[str, Any] | Evaluation, setting: str = "all") -> pd.DataFrame:
    """One row per embedding of a metrics.json document (or an `Evaluation`): each metric as
    'mean [lo, hi]', plus chance levels as a last row."""
    if isinstance(results, Evaluation):
        results = results.to_json()
    rows = []
    names = _metric_names(results, setting)
    chance: dict[str, float] = {}
    ceiling: dict[str, float] = {}
    for emb, r in results["embeddings"].items():
        if setting not in r:
            continue
        row: dict[str, Any] = {"embedding": emb, "family": FAMILY_LABELS.get(r.get("family", ""), r.get("family", "")),
                               "dim": str(r["dim"])}
        for m in names:
            e = r[setting]["scores"].get(m)
            row[m] = Estimate(**e).fmt() if e else "n/a"
            chance.setdefault(m, r[setting]["chance"].get(m, float("nan")))
            if m in r[setting].get("ceiling", {}):
                ceiling.setdefault(m, r[setting]["ceiling"][m])
        if "genre_cosine" in r:
            gc = r["genre_cosine"]
            row["cos same/diff genre"] = f"{gc['same']:.3f} / {gc['different']:.3f}"
        rows.append(row)
    rows.append({"embedding": "chance", "family": "", "dim": "",
                 **{m: f"{chance.get(m, float('nan')):.3f}" for m in names}})
    if ceiling:
        rows.append({"embedding": "best possible", "family": "", "dim": "",
                     **{m: f"{ceiling[m]:.3f}" for m in names if m in ceiling}})
    return pd.DataFrame(rows).fillna("")


def _per_genre(per_query: dict[str, np.ndarray], queries: np.ndarray, tracks: pd.DataFrame,
               metric: str) -> pd.Series:
    """Mean of a per-query metric by query genre."""
    g = tracks.set_index("row").loc[queries, "genre"].astype(str).to_numpy()
    return pd.Series(per_query[metric]).groupby(g).mean()


SETTING_TITLES = {"all": "All candidates", "excl_same_artist": "Same-artist candidates excluded"}


def _primary_metric(ev: Evaluation) -> str:
    """The headline metric (`primary_metric` at K = max(K))."""
    return ev.primary_metric or f"genre_p@{max(ev.ks)}"


def _best(ev: Evaluation, metric: str, setting: str, reference: bool) -> tuple[str, Estimate] | None:
    """Best embedding (by mean) among the pretrained references (`reference`) or among the learned
    models that are neither the baseline nor a pretrained reference."""
    cands = []
    for n, r in ev.embeddings.items():
        sc = r.settings.get(setting)
        if n == "baseline" or sc is None or metric not in sc.estimates:
            continue
        if (r.family == "pretrained") == reference:
            cands.append((n, sc.estimates[metric]))
    return max(cands, key=lambda x: x[1].mean) if cands else None


def _diff_text(ev: Evaluation, name: str, setting: str, metric: str) -> str:
    """'paired difference vs baseline d [lo, hi] — significant' (or why there is none)."""
    d = (ev.embeddings[name].settings[setting].diff_vs_baseline or {}).get(metric)
    if d is None:
        return "no paired difference (different query sets)"
    sig = (" — significant" if d.lo > 0 else
           (" — baseline significantly better" if d.hi < 0 else " — not significant"))
    return f"paired difference vs baseline {d.fmt()}{sig}"


def headline(ev: Evaluation) -> list[str]:
    """The report's headline: the primary metric under the primary setting (same-artist excluded
    where artists are known), baseline vs best learned model vs best pretrained reference."""
    if "baseline" not in ev.embeddings or len(ev.embeddings) < 2:
        return []
    metric, setting = _primary_metric(ev), ev.primary_setting
    base = ev.embeddings["baseline"].settings[setting]
    if metric not in base.estimates:
        return []
    ceil = f", best possible {base.ceiling[metric]:.3f}" if metric in base.ceiling else ""
    out = [f"**{metric}, {SETTING_TITLES[setting].lower()}, queries = split `{ev.split}` "
           f"({ev.n_queries} tracks), chance {base.chance.get(metric, float('nan')):.3f}{ceil}:**", "",
           f"- baseline (classic): {base.estimates[metric].fmt()}"]
    chosen = ev.chosen_on_val.get("embedding")
    if chosen and metric in ev.embeddings[chosen].settings[setting].estimates:
        out.append(f"- learned model chosen on the validation split `{chosen}` (val {metric} "
                   f"{ev.chosen_on_val['val_score']:.3f} over {ev.chosen_on_val['n_val_queries']} queries): "
                   f"{ev.embeddings[chosen].settings[setting].estimates[metric].fmt()}; "
                   f"{_diff_text(ev, chosen, setting, metric)}")
    for label, ref in (("best learned model on this figure (picked after the fact, optimistic)", False),
                       ("best pretrained reference", True)):
        best = _best(ev, metric, setting, ref)
        if best:
            out.append(f"- {label} `{best[0]}`: {best[1].fmt()}; {_diff_text(ev, best[0], setting, metric)}")
    return out


def _report_intro(ev: Evaluation) -> list[str]:
    """Protocol paragraph, headline, label caveats and warnings."""
    out = [f"# Retrieval evaluation: {ev.dataset}", ""]
    out.append(f"Queries: the {ev.n_queries} tracks of split `{ev.split}`; candidates: all "
               f"{ev.n_tracks} ok tracks except the query. Cosine similarity, top-K with K in {ev.ks}. "
               f"95% CIs: percentile bootstrap over queries ({ev.n_boot} resamples, seed {ev.seed}). "
               "Chance = expected score of random recommendations from the same candidates; best possible = "
               "the score of a perfect ranking (less than 1 where a query has fewer than K same-genre candidates).")
    if ev.labels["artist"]:
        out.append("Every genre and tag figure is given twice: with all candidates, and with the query's artist's "
                   "tracks removed from the candidates (Pampalk's artist filter), so that a same-artist neighbour "
                   "cannot pass for a same-genre one. The headline and the conclusions use the artist-filtered "
                   "figures; the paired differences against the baseline are computed in both settings.")
    head = headline(ev)
    if head:
        out += ["", "## Headline", ""] + head
    if not ev.labels["artist"]:
        out.append("\nThis catalog has no artist labels, so artist hit-rate and the same-artist-excluded setting "
                   "are n/a.")
        if "gtzan" in str(ev.dataset).lower():
            out.append("GTZAN holds runs of consecutive clips by the same artist, and some repeated excerpts; "
                       "same-artist neighbours inflate genre precision for every embedding alike.")
    if ev.warnings:
        out.append("\nWarnings: " + "; ".join(ev.warnings))
    return out


def _report_tables(results: dict[str, Any], settings: list[str]) -> list[str]:
    """One metrics table per setting, each followed by the paired differences vs the baseline."""
    out: list[str] = []
    for s in settings:
        out += ["", f"## {SETTING_TITLES[s]}", "", to_markdown(metrics_table(results, s))]
        diffs = [(n, r[s].get("diff_vs_baseline", {})) for n, r in results["embeddings"].items() if n != "baseline"]
        if diffs and any(d for _, d in diffs):
            out += ["Paired difference vs baseline (mean [95% CI] over the same queries):", ""]
            rows = [{"embedding": n, **{m: Estimate(**v).fmt() for m, v in d.items()}} for n, d in diffs]
            out.append(to_markdown(pd.DataFrame(rows)))
    return out


def _hits_line(sub: pd.DataFrame, models: list[str], settings: list[str]) -> str:
    """'Genre hits (all candidates): a 3/5, b 2/5; (same-artist excluded): a 2/5, b 2/5'."""
    parts = []
    for s in settings:
        ss = sub[sub["setting"] == s]
        txt = ", ".join(f"{m} {int(ss[ss['model'] == m]['genre_hit'].sum())}/{len(ss[ss['model'] == m])}"
                        for m in models)
        parts.append(f"({SETTING_TITLES[s].lower()}): {txt}")
    return "Genre hits " + "; ".join(parts) + "\n"


def _report_handpicked(ev: Evaluation, tracks: pd.DataFrame) -> list[str]:
    """Each handpicked query's lists side by side (all candidates) and its hit counts in every setting."""
    qdf = ev.queries
    if not len(qdf):
        return []
    out = ["", "## Handpicked queries", "",
           "One query per genre (or first tag) of the split, different artists where known; "
           "✓ = same genre as the query. Lists with all candidates; hit counts in every setting. "
           "Full lists in `queries.csv` (column `setting`).", ""]
    models = list(dict.fromkeys(qdf["model"]))
    t = tracks.set_index("row", drop=False)
    for q in dict.fromkeys(qdf["query_row"]):
        out.append(f"**Query:** {_track_label(t.loc[q])} (`{t.loc[q, 'track_id']}`)\n")
        sub = qdf[qdf["query_row"] == q]
        shown = sub[sub["setting"] == "all"]
        rows = []
        for rank in sorted(shown["rank"].unique()):
            row = {"#": rank}
            for m in models:
                r = shown[(shown["model"] == m) & (shown["rank"] == rank)]
                if len(r):
                    r0 = r.iloc[0]
                    mark = " ✓" if r0["genre_hit"] else ""
                    tj = f" J={r0['tag_jaccard']:.2f}" if ev.labels["tags"] else ""
                    row[m] = f"{_track_label(t.loc[int(r0['rec_row'])])}{mark}{tj}"
            rows.append(row)
        out.append(to_markdown(pd.DataFrame(rows)))
        out.append(_hits_line(sub, models, ev.settings()))
    return out


def render_report(ev: Evaluation, tracks: pd.DataFrame) -> str:
    """The Markdown evaluation report: headline, tables per setting, handpicked queries, conclusions."""
    out = _report_intro(ev)
    out += _report_tables(ev.to_json(), ev.settings())
    out += _report_handpicked(ev, tracks)
    out += ["", "## Conclusions", ""]
    out += conclusions(ev, tracks)
    return "\n".join(out) + "\n"


def _genre_line(ev: Evaluation, tracks: pd.DataFrame, name: str, setting: str, metric: str) -> str | None:
    """Per query genre: where `name` gains and loses against the baseline (same queries only)."""
    sb, sm = ev.embeddings["baseline"].settings[setting], ev.embeddings[name].settings[setting]
    if not np.array_equal(sb.queries, sm.queries):
        return None
    gb = _per_genre({"m": sb.per_query[metric]}, sb.queries, tracks, "m")
    gm = _per_genre({"m": sm.per_query[metric]}, sm.queries, tracks, "m")
    delta = (gm - gb).sort_values()
    wins = [f"{g} (+{v:.2f})" for g, v in delta[delta > 0].sort_values(ascending=False).items()]
    losses = [f"{g} ({v:.2f})" for g, v in delta[delta < 0].items()]
    return (f"- Per query genre ({SETTING_TITLES[setting].lower()}), `{name}` gains on: {', '.join(wins) or 'none'}; "
            f"loses on: {', '.join(losses) or 'none'}.")


def _metric_conclusion(ev: Evaluation, tracks: pd.DataFrame, metric: str, setting: str) -> list[str]:
    """Best learned model (and best pretrained reference) vs the baseline on one metric."""
    base_sc = ev.embeddings["baseline"].settings[setting]
    if metric not in base_sc.estimates:
        return []
    base = base_sc.estimates[metric]
    chance = base_sc.chance.get(metric, float("nan"))
    lines = []
    chosen = ev.chosen_on_val.get("embedding")
    picks = []
    if chosen and metric in ev.embeddings[chosen].settings[setting].estimates:
        picks.append(("learned model chosen on the validation split",
                      (chosen, ev.embeddings[chosen].settings[setting].estimates[metric])))
    else:
        picks.append(("best learned model (picked on this figure)", _best(ev, metric, setting, False)))
    picks.append(("best pretrained reference", _best(ev, metric, setting, True)))
    for label, best in picks:
        if best is None:
            continue
        name, est = best
        beats = est.mean - base.mean > base.width
        verdict = ("beats the baseline by more than the baseline's CI width" if beats else
                   "does not beat the baseline by more than the baseline's CI width")
        lines.append(f"- **{metric}** ({SETTING_TITLES[setting].lower()}): {label} `{name}` {est.fmt()} vs baseline "
                     f"{base.fmt()} (chance {chance:.3f}); it {verdict} ({base.width:.3f}); "
                     f"{_diff_text(ev, name, setting, metric)}.")
        if ev.labels["genre"] and metric.startswith("genre_p"):
            g = _genre_line(ev, tracks, name, setting, metric)
            lines += [g] if g else []
    return lines


def conclusions(ev: Evaluation, tracks: pd.DataFrame) -> list[str]:
    """Plain-language findings computed from the numbers, in the primary (artist-filtered) setting:
    best learned model and best pretrained reference vs the baseline, per genre, cosine gap."""
    if "baseline" not in ev.embeddings or len(ev.embeddings) < 2:
        return ["Only one embedding was evaluated; nothing to compare."]
    kmax = max(ev.ks)
    primary = _primary_metric(ev)
    second = f"tag_jaccard@{kmax}" if primary.startswith("genre") else f"genre_p@{kmax}"
    others = [second] if ev.labels["tags"] and ev.labels["genre"] else []
    lines: list[str] = []
    for metric in [primary] + others:
        lines += _metric_conclusion(ev, tracks, metric, ev.primary_setting)
    if ev.primary_setting != "all":
        lines.append("- For comparison, with all candidates (same-artist neighbours allowed): "
                     + "; ".join(f"`{n}` {r.settings['all'].estimates[primary].fmt()}" for n, r in ev.embeddings.items()
                                 if primary in r.settings["all"].estimates) + ".")
    if ev.labels["genre"]:
        gaps = {n: r.genre_cosine["gap"] for n, r in ev.embeddings.items() if r.genre_cosine is not None}
        if gaps:
            txt = ", ".join(f"`{n}` {g:+.3f}" for n, g in sorted(gaps.items(), key=lambda x: -x[1]))
            lines.append(f"- Same-genre minus different-genre mean cosine (higher = genres separate better): {txt}.")
    return lines
