"""Music-embedding workbench library: datasets, audio, features, models, retrieval."""
