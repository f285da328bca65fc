"""Text search: train a CLAP-style audio->text projection on precomputed embeddings and evaluate it
(`python -m train.clap --data artifacts/musiccaps_mini --audio-encoder baseline`).

A frozen audio encoder (any embedding under <ds>/embeddings/, e.g. baseline, an autoencoder,
pretrained_<name>) gives one vector per clip, a frozen text encoder one per caption (computed once,
resumable); only a linear projection (and the temperature) is trained, with the one training loop.
Writes <ds>/clap/{metrics.json,report.md,pairs_*.npz,models/<run>/audio.npy}, checkpoints, TensorBoard
curves (loss, temperature) under <ds>/runs/ and a row of <ds>/experiments.csv. --eval-data tests the
projection on every clip of another prepared dataset: <ds>/clap/eval_<other>.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.text.runs import ClapConfig

CONTRASTIVE = "contrastive"


def build_parser() -> argparse.ArgumentParser:
    """The command line, defaults from ClapConfig."""
    d = ClapConfig()
    t = d.train
    ap = argparse.ArgumentParser(prog="python -m train.clap", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("artifacts/demo"), help="prepared dataset folder")
    ap.add_argument("--audio-encoder", default=d.audio_encoder,
                    help="embedding name(s) under <ds>/embeddings, comma-separated, or 'all' (default %(default)s)")
    ap.add_argument("--text-encoder", default=d.text_encoder, help="minilm (default) or clip:/path/to/hf/folder")
    ap.add_argument("--head", default=d.head, choices=["linear", "mlp"], help="projection (mlp: comparison only)")
    ap.add_argument("--compare-mlp", action="store_true", help="also train an MLP head per encoder (comparison row)")
    ap.add_argument("--eval-data", type=Path, action="append", default=[],
                    help="another prepared dataset to evaluate the projection on (repeatable)")
    ap.add_argument("--captions", type=Path, default=None, help="CSV with track_id,caption (overrides the dataset's)")
    ap.add_argument("--epochs", type=int, default=t.max_epochs)
    ap.add_argument("--patience", type=int, default=t.patience, help="early stopping on val loss")
    ap.add_argument("--batch-size", type=int, default=t.batch_size)
    ap.add_argument("--lr", type=float, default=t.lr)
    ap.add_argument("--weight-decay", type=float, default=t.weight_decay)
    ap.add_argument("--dropout", type=float, default=d.dropout, help="dropout on the standardised audio vector")
    ap.add_argument("--fixed-temperature", action="store_true", help="do not learn the temperature")
    ap.add_argument("--max-minutes", type=float, default=None, help="training time cap per run")
    ap.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size, help="in-batch task size")
    ap.add_argument("--n-boot", type=int, default=d.n_boot, help="bootstrap resamples")
    ap.add_argument("--seed", type=int, default=t.seed)
    ap.add_argument("--precompute-only", action="store_true", help="build the pair tables, train nothing")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The parsed command line."""
    return build_parser().parse_args(argv)


def config_for(args: argparse.Namespace, encoder: str, head: str) -> ClapConfig:
    """The ClapConfig of one (encoder, head) from the flags."""
    d = ClapConfig()
    train = d.train
    for name, value in (("max_epochs", args.epochs), ("patience", args.patience), ("batch_size", args.batch_size),
                        ("lr", args.lr), ("weight_decay", args.weight_decay), ("seed", args.seed),
                        ("max_wall_s", None if args.max_minutes is None else 60 * args.max_minutes)):
        setattr(train, name, value)
    return ClapConfig(audio_encoder=encoder, text_encoder=args.text_encoder, head=head, dropout=args.dropout,
                      learn_temperature=not args.fixed_temperature, eval_batch_size=args.eval_batch_size,
                      n_boot=args.n_boot, captions_csv=args.captions, train=train)


def audio_encoders(ds_dir: Path, spec: str) -> list[str]:
    """The encoder names asked for ('all': every embedding that is not itself a text-search output)."""
    if spec.strip() != "all":
        return [s.strip() for s in spec.split(",") if s.strip()]
    from core.recommend.embeddings import list_embeddings, load_embedding

    return [n for n in list_embeddings(ds_dir) if load_embedding(ds_dir, n)[1].get("family") != CONTRASTIVE]


def preflight(ds_dir: Path, encoders: list[str], captions: Path | None, others: list[Path]) -> None:
    """Every check that can fail before anything is written: cache, captions, each audio embedding."""
    from core.audio.cache import FeatureCache
    from core.text.captions import load_captions
    from core.text.table import audio_embedding

    if not encoders:
        raise ValueError(f"no audio encoder given and no embeddings in {ds_dir / 'embeddings'}")
    for ds in [ds_dir, *others]:
        fc = FeatureCache.open(ds)
        load_captions(fc.tracks, captions if ds == ds_dir else None)
        if ds == ds_dir:
            for name in encoders:
                audio_embedding(ds, name, len(fc.tracks))


def run_all(args: argparse.Namespace, encoders: list[str]) -> list[str]:
    """Train/evaluate every (encoder, head); returns the summary lines."""
    from core.text.encoders import load_text_encoder
    from core.text.runs import run_clap
    from core.text.table import build_pair_table

    enc = load_text_encoder(args.text_encoder)
    heads = ["linear", "mlp"] if args.compare_mlp else [args.head]
    lines = []
    for name in encoders:
        if args.precompute_only:
            table = build_pair_table(args.data, name, enc, args.captions, not args.quiet)
            lines.append(f"{name}: {len(table)} captions of {len(table.clips())} clips ({table.info['precompute']})")
            continue
        for head in heads:
            res = run_clap(args.data, config_for(args, name, head), enc, progress=not args.quiet)
            lines.append(summary_line(res))
            lines += cross_evaluate(args, res, enc)
    return lines


def cross_evaluate(args: argparse.Namespace, res, enc) -> list[str]:
    """Evaluate one run on every --eval-data dataset; a dataset without this audio encoder's embedding is
    skipped with the message naming the command that makes it."""
    from core.text.runs import evaluate_elsewhere
    from core.text.table import AudioEncoderMissing

    lines = []
    for other in args.eval_data:
        try:
            path = evaluate_elsewhere(args.data, res.entry, _model(res), other, enc, args.n_boot, args.seed,
                                      not args.quiet)
        except AudioEncoderMissing as exc:
            lines.append(f"  cross-dataset {other.name} skipped: {exc}")
            continue
        lines.append(f"  cross-dataset -> {path}")
    return lines


def _model(res):
    """The trained projection of a run, reloaded from its best checkpoint."""
    from core.text.clap import load_projection

    return load_projection(res.fit.best_checkpoint)[0]


def summary_line(res) -> str:
    """One line per run: test-pool R@10 both ways against chance."""
    ev = res.evaluations.get("test") or res.evaluations.get("val")
    if ev is None:
        return f"{res.run}: trained, no split to evaluate"
    parts = [f"{res.run}: {ev.split} pool ({ev.n_clips} clips)"]
    for d, short in (("text_to_audio", "t->a"), ("audio_to_text", "a->t")):
        r1, r = ev.pool.model[d].recall[1], ev.pool.model[d].recall[10]
        parts.append(f"{short} R@1 {r1.fmt()} R@10 {r.fmt()} (chance {ev.pool.chance[d][1]:.3f} / "
                     f"{ev.pool.chance[d][10]:.3f})")
    return "; ".join(parts) + f"; {res.fit.epochs} epochs, {res.fit.wall_s:.1f} s"


def main(argv: list[str] | None = None) -> int:
    """Parse flags, check inputs, train and evaluate, print a summary."""
    args = parse_args(argv)
    from core.text.captions import CaptionError
    from core.text.encoders import TextEncoderError
    from core.text.table import AudioEncoderMissing

    try:
        encoders = audio_encoders(args.data, args.audio_encoder)
        preflight(args.data, encoders, args.captions, args.eval_data)
        lines = run_all(args, encoders)
    except (CaptionError, AudioEncoderMissing, TextEncoderError) as exc:
        print(f"error: {exc} (nothing written)" if not isinstance(exc, TextEncoderError) else f"error: {exc}",
              file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    if not args.precompute_only:
        print(f"wrote {args.data / 'clap' / 'metrics.json'} and {args.data / 'clap' / 'report.md'}")
    return 0


def demo_step(out: Path, quiet: bool) -> int:
    """`make demo` step: a projection of the demo corpus's baseline onto template captions (well under a minute)."""
    out = Path(out)
    if not (out / "embeddings" / "baseline.npy").exists():
        from core.audio.cache import FeatureCache
        from core.recommend.embeddings import write_baseline

        try:
            write_baseline(FeatureCache.open(out), out)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return main(["--data", str(out), "--audio-encoder", "baseline", "--n-boot", "200", "--max-minutes", "0.5",
                 "--epochs", "100", *(["--quiet"] if quiet else [])])


if __name__ == "__main__":
    raise SystemExit(main())
