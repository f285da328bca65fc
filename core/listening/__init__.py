"""What listeners leave behind: notes, verdicts and blind votes, their export and statistics.

- `NotesStore` (notes): SQLite in WAL mode, one short transaction per write, safe for concurrent sessions;
  `read(table, dataset)` reads notes/verdicts/votes; `NotesBusy` after one bounded wait for a held lock
- `to_csv_bytes`, `safe_cell` (export): formula-safe CSV for spreadsheets
- `relevance_rates`, `blind_vote_summary`, `binomial_two_sided_p` (stats): per-model shares and sign tests
- `SessionPlan`, `SessionStore`, `assign`, `stratified_queries` (sessions): planned, resumable listening sessions
  with a per-listener query order and A/B sides, stored in the notes database
- `session_results`, `summary_markdown`, `fleiss_kappa`, `krippendorff_nominal` (results): relevance with bootstrap
  CIs, blind preferences with sign tests overall and per listener, agreement between listeners
- `fair_excerpt`, `integrated_loudness`, `TARGET_LUFS` (loudness): same-length excerpts matched to -23 LUFS
  (BS.1770), gains cached per track
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "NotesStore": "notes", "VERDICTS": "notes", "NotesBusy": "notes",
    "to_csv_bytes": "export", "safe_cell": "export", "safe_frame": "export",
    "relevance_rates": "stats", "blind_vote_summary": "stats", "binomial_two_sided_p": "stats",
    "SessionPlan": "sessions", "SessionStore": "sessions", "SessionError": "sessions", "assign": "sessions",
    "stratified_queries": "sessions", "session_results": "results", "summary_markdown": "results",
    "fleiss_kappa": "results", "krippendorff_nominal": "results", "fair_excerpt": "loudness",
    "integrated_loudness": "loudness", "TARGET_LUFS": "loudness",
})
