"""What listeners leave behind: notes, verdicts and blind votes, their export and statistics.

- `NotesStore` (notes): SQLite in WAL mode, one short transaction per write, safe for concurrent sessions;
  `read(table, dataset)` reads notes/verdicts/votes; `NotesBusy` after one bounded wait for a held lock
- `to_csv_bytes`, `safe_cell` (export): formula-safe CSV for spreadsheets
- `relevance_rates`, `blind_vote_summary`, `binomial_two_sided_p` (stats): per-model shares and sign tests
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "NotesStore": "notes", "VERDICTS": "notes", "NotesBusy": "notes",
    "to_csv_bytes": "export", "safe_cell": "export", "safe_frame": "export",
    "relevance_rates": "stats", "blind_vote_summary": "stats", "binomial_two_sided_p": "stats",
})
