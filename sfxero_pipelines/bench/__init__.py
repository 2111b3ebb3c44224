"""`sfxero bench` (docs/architecture.md §9): each stage measured against the same work done the simplest way."""
